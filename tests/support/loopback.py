"""A stand-in for a service the functions reach over HTTP (a FHIR server, Cognito's token endpoint), or another web
site a browser visits: an HTTP server on 127.0.0.1 in a thread of its own, answering each request as the test says
and keeping what it got."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# What the service answers to a request: its status and body.
Answer = Callable[[Received], tuple[int, bytes]]


class LoopbackServer:
    def __init__(self, answer: Answer, content_type: str = "application/json") -> None:
        self.requests: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.requests.append(request)
                status, body = answer(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _respond

            def log_message(self, *args) -> None:
                pass

        self.http = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
