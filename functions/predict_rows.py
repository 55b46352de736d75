"""HTTP predictor: JSON instances in, predictions out."""

from __future__ import annotations

import flask
import functions_framework

from shared.runtime import instance_config


@functions_framework.http
def predict_rows(request: flask.Request) -> flask.typing.ResponseReturnValue:
    config = instance_config("predict_rows")
    if request.method == "GET":
        return {"status": "ok", "model": {"name": config.model_name, "version": None}}
    if request.method != "POST":
        return {"error": f"method {request.method} is not allowed; use POST or GET"}, 405
    return {"error": f"no version of model {config.model_name!r} is being served yet"}, 503
