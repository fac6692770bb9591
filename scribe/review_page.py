"""`scribe review --local`: the clinician's review page (review_desk) served on loopback by the standard
library's http.server against the local cloud (or any deployment the caller's AWS identity reaches), acting
as that identity. On AWS the same page is served behind API Gateway and Cognito (edges.review_page)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from review_desk.app import Request, respond, shown_path
from review_desk.desk import Awaiting, NoteUnderReview, ReviewDesk, caller_identity, edits_from  # noqa: F401
from review_desk.pages import note_page, worklist_page  # noqa: F401

log = logging.getLogger("scribe.review_page")
# A body's length in ASCII digits: int() takes '-1' (read until the client hangs up) and any script's digits.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,9}")


def handler_for(desk: ReviewDesk) -> type[BaseHTTPRequestHandler]:
    class ReviewPageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(lambda: Request("GET", self.path, self.headers))

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length") or "0"
            if not _CONTENT_LENGTH.fullmatch(length):
                self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length must be a number of bytes")
                return
            self._answer(lambda: Request("POST", self.path, self.headers, self.rfile.read(int(length)).decode()))

        def _answer(self, request: Callable[[], Request]) -> None:
            response = respond(desk, request())
            data = response.body.encode()
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Never the request line as typed: a path that is no page of the desk's is logged by its digest.
            log.info("%s %s %s", self.command, shown_path(getattr(self, "path", ""), desk.deployments), code)

        def log_error(self, format: str, *args) -> None:
            # http.server's messages quote the request line it could not read: its status code only.
            log.warning("request refused: %s", args[0] if args and isinstance(args[0], int) else "-")

    return ReviewPageHandler


def review_server(desk: ReviewDesk, port: int = 0, host: str = "127.0.0.1") -> HTTPServer:
    """The page's server on loopback (port 0: a free one). One request at a time, in the order they come."""
    return HTTPServer((host, port), handler_for(desk))
