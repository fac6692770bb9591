"""`scribe review --local`: the clinician's review page (review_desk) served on loopback by the standard
library's http.server against the local cloud (or any deployment the caller's AWS identity reaches), acting
as that identity. On AWS the same page is served behind API Gateway and Cognito (edges.review_page)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from review_desk.app import Request, Response, respond
from review_desk.desk import Awaiting, NoteUnderReview, ReviewDesk, caller_identity, edits_from  # noqa: F401
from review_desk.pages import message_page, note_page, worklist_page  # noqa: F401

log = logging.getLogger("scribe.review_page")


def handler_for(desk: ReviewDesk) -> type[BaseHTTPRequestHandler]:
    class ReviewPageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(lambda: Request("GET", self.path, self.headers))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(lambda: Request("POST", self.path, self.headers, self.rfile.read(length).decode()))

        def _answer(self, request: Callable[[], Request]) -> None:
            self._send(respond(desk, request()))

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (an unserved method, a malformed request) as the page's answers, with
            its headers; never quoting the request."""
            status = HTTPStatus(code)
            self._send(Response(status, message_page(status.phrase, "The review page does not serve this request.")))

        def _send(self, response: Response) -> None:
            response = response.with_answer_headers()
            data = response.body.encode()
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            log.info("%s", format % args)  # the request line and status: a path names an encounter id at most

    return ReviewPageHandler


def review_server(desk: ReviewDesk, port: int = 0, host: str = "127.0.0.1") -> HTTPServer:
    """The page's server on loopback (port 0: a free one). One request at a time, in the order they come."""
    return HTTPServer((host, port), handler_for(desk))
