"""HTTP predictor: JSON instances in, predictions out (see shared/serving/openapi.json)."""

from __future__ import annotations

import json

import flask
import functions_framework

from shared.runtime import prediction_service
from shared.serving.api import HttpRequest
from shared.serving.service import request_id_from


@functions_framework.http
def predict_rows(request: flask.Request) -> flask.Response:
    service = prediction_service()
    request_id = request_id_from(request.headers.get("X-Request-Id"))
    # One byte past the limit is enough to refuse the body, and no more is read.
    body = request.stream.read(service.limits.max_body_bytes + 1)
    reply = service.handle(
        HttpRequest(
            method=request.method,
            path=request.path,
            content_type=request.headers.get("Content-Type"),
            body=body,
            query=request.args.to_dict(),
        ),
        request_id,
    )
    return flask.Response(
        json.dumps(reply.body, allow_nan=False),
        status=reply.status,
        headers={"X-Request-Id": request_id, **reply.headers},
        mimetype="application/json",
    )
