"""A tiny HTTP server on 127.0.0.1 for the tests: static files plus per-test routes.

``LocalServer.route(path, ...)`` sets what a path answers (status, headers, body, or a handler
function); every request is logged with its time and headers so tests can check what the
client sent (If-None-Match, User-Agent, the spacing of requests for Crawl-delay...).
"""

from __future__ import annotations

import mimetypes
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    at: float  #: time.monotonic() when it arrived
    peer: tuple[str, int] = ("", 0)  #: the client's address and port: one per connection


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: handler(request_handler) -> None writes the whole answer itself (for faults)
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:<free port> (or another loopback ``host``)."""

    def __init__(self, root: Path | None = None, host: str = "127.0.0.1") -> None:
        self.root = root
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_POST(self) -> None:  # a route's handler reads the body (tests.webhook)
                self.do_GET()

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        Request(
                            self.command,
                            self.path,
                            dict(self.headers.items()),
                            time.monotonic(),
                            (str(self.client_address[0]), int(self.client_address[1])),
                        )
                    )
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    route = server._static(self.path)
                if route.handler is not None:
                    route.handler(self)
                    return
                self.send_response(route.status)
                headers = {"Content-Length": str(len(route.body)), **route.headers}
                headers.setdefault("Content-Type", "text/html; charset=utf-8")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(route.body)

        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _static(self, path: str) -> Route:
        if self.root is None:
            return Route(404, b"not found")
        rel = path.split("?")[0].lstrip("/") or "index.html"
        target = (self.root / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file() or self.root.resolve() not in target.parents:
            return Route(404, b"<html><body>not found</body></html>")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("xml"):
            ctype += "; charset=utf-8"
        return Route(200, target.read_bytes(), {"Content-Type": ctype})

    def url(self, path: str = "/") -> str:
        return self.base + path

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        handler: Callable[[BaseHTTPRequestHandler], None] | None = None,
    ) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = Route(status, body, dict(headers or {}), handler)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def respond(body: bytes, *, length: bool = True) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route handler that answers 200 with HTML ``body``; without ``length``, no
    Content-Length: the end of the body is the connection closing."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        if length:
            request.send_header("Content-Length", str(len(body)))
        else:
            request.send_header("Connection", "close")
            request.close_connection = True
        request.end_headers()
        request.wfile.write(body)

    return handler


def once_then(first: bytes, then: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route handler: ``first`` for the next request, ``then`` for every one after it."""
    served: list[int] = []

    def handler(request: BaseHTTPRequestHandler) -> None:
        body = first if not served else then
        served.append(1)
        respond(body)(request)

    return handler


def topic_article(topic: str) -> bytes:
    """A small news article on ``topic``: a title, a heading and six sentences naming it."""
    text = " ".join(
        f"The {topic} committee met on Tuesday to talk about plan number {n} for the town, "
        f"and residents asked who would pay for the {topic} works and when they would end."
        for n in range(6)
    )
    return (
        f"<!doctype html><html><head><title>The {topic}</title></head><body><article>"
        f"<h1>The {topic}</h1><p>{text}</p></article></body></html>"
    ).encode()


def with_etag(
    body: bytes,
    etag: str,
    *,
    headers: Mapping[str, str] | None = None,
    not_modified_headers: Mapping[str, str] | None = None,
) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route handler that answers HTML ``body`` with ``etag``, and 304 to a request that
    already has it (If-None-Match); ``headers`` go with the 200, ``not_modified_headers``
    with the 304."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("If-None-Match") == etag:
            request.send_response(304)
            request.send_header("ETag", etag)
            for name, value in (not_modified_headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            return
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("ETag", etag)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler
