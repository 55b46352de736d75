"""Serve a recording CloudEvent function on 127.0.0.1 for the duration of a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import functions_framework
from werkzeug.serving import make_server

from local_emulator.settings import HOST
from tests.integration import recorder

_SOURCE = str(Path(__file__).with_name("receiver_main.py"))


@contextmanager
def serve_recorder(fail_first: int = 0) -> Iterator[tuple[str, recorder.Recorder]]:
    recorder.CURRENT = recorder.Recorder(fail_first=fail_first)
    app = functions_framework.create_app("record_event", _SOURCE, "cloudevent")
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}/", recorder.CURRENT
    finally:
        server.shutdown()
        thread.join(timeout=10)
