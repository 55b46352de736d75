"""HTTP predictor: JSON instances in, predictions out (see shared/serving/openapi.json)."""

from __future__ import annotations

import flask
import functions_framework

from shared.runtime import prediction_service
from shared.serving.request import HttpRequest, query_parameters
from shared.serving.service import request_id_from


@functions_framework.http
def predict_rows(request: flask.Request) -> flask.Response:
    service = prediction_service()
    environ = request.environ
    request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
    # One byte past the limit is enough to refuse the body, and no more is read.
    body = request.stream.read(service.limits.max_body_bytes + 1)
    query, repeated = query_parameters(environ.get("QUERY_STRING", ""))
    reply = service.handle(
        HttpRequest(
            request.method,
            request.path,
            environ.get("CONTENT_TYPE"),
            body,
            query,
            repeated,
            environ.get("HTTP_CONTENT_ENCODING"),
        ),
        request_id,
    )
    headers = {"X-Request-Id": request_id, **reply.headers}
    return flask.Response(
        reply.text, status=reply.status, headers=headers, content_type="application/json"
    )
