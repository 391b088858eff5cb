"""A tiny forward HTTP proxy on 127.0.0.1 for the tests, recording what it forwards.

It plays a proxy with its own DNS in which every name is 127.0.0.1: ``GET http://name:port/x``
is forwarded to 127.0.0.1:port with the request's own headers (Host included), and
``CONNECT name:port`` opens a tunnel to 127.0.0.1:port. One request per connection: it answers
with ``Connection: close``, then hangs up. Nothing it does reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Forwarded:
    method: str
    target: str  #: the request-target as the client sent it: an absolute URL, or host:port
    host: str  #: the Host header ("" for CONNECT)


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


def _closing(head: bytes) -> bytes:
    """A response's head (and what came with it) with ``Connection: close`` in place of the
    upstream's own connection headers: without it a client may send its next request on this
    connection just as the proxy hangs up, and that request fails unanswered."""
    head, _, rest = head.partition(b"\r\n\r\n")
    status, *fields = head.split(b"\r\n")
    kept = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([status, *kept, b"Connection: close"]) + b"\r\n\r\n" + rest


_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection"}


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class Proxy:
    """A forward proxy on 127.0.0.1:<free port>; ``forwarded`` lists what it was asked."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.forwarded: list[Forwarded] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.listener.close()
        self._thread.join(10)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = _read_head(conn)
            if not head:
                return
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            host = next((v for k, v in headers.items() if k.lower() == "host"), "")
            with self._lock:
                self.forwarded.append(
                    Forwarded(method, target, "" if method == "CONNECT" else host)
                )
            if method == "CONNECT":
                port = int(target.rsplit(":", 1)[1])
                with socket.create_connection(("127.0.0.1", port)) as upstream:
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
                    back.start()
                    _pipe(conn, upstream)
                    back.join(30)
                return
            rest = target.split("://", 1)[1]
            authority, _, path = rest.partition("/")
            port = int(authority.rsplit(":", 1)[1]) if ":" in authority else 80
            request_lines = [f"{method} /{path} HTTP/1.1"]
            request_lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "connection"]
            request_lines.append("Connection: close")
            with socket.create_connection(("127.0.0.1", port)) as upstream:
                upstream.sendall(("\r\n".join(request_lines) + "\r\n\r\n").encode("latin-1"))
                answer = _read_head(upstream)
                if answer:  # it hangs up after this answer: it says so, as HTTP/1.1 requires
                    conn.sendall(_closing(answer))
                _pipe(upstream, conn)
