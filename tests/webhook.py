"""A webhook receiver on 127.0.0.1 for Apprise's ``json://`` posts (tests and bench-noise)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.server import LocalServer


class Webhook:
    """Collects every JSON body posted to it; ``fail`` makes it answer 500 instead."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = False
        self.refused = 0
        self._lock = threading.Lock()
        self.server = LocalServer()
        self.server.route("/hook", handler=self._receive)
        self.port = self.server.port
        self.target = f"json://127.0.0.1:{self.port}/hook"

    def _receive(self, request: BaseHTTPRequestHandler) -> None:
        size = int(request.headers.get("Content-Length", "0"))
        data = request.rfile.read(size)
        with self._lock:
            if self.fail:
                self.refused += 1
                status = 500
            else:
                self.posts.append(json.loads(data))
                status = 200
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def start(self) -> Webhook:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts)
