"""The empty HTTP function of `bench/online.py`: served by functions-framework on gunicorn exactly
as the predictor is, it measures what the framework alone costs per request (its ceiling).

It reads the body, as the predictor does, so a large request costs it the same transfer."""

from __future__ import annotations

import flask
import functions_framework


@functions_framework.http
def empty(request: flask.Request) -> flask.Response:
    request.get_data()
    return flask.Response('{"ok": true}', status=200, mimetype="application/json")
