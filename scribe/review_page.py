"""`scribe review --local`: the clinician's review page (review_desk) served on loopback by the standard
library's http.server against the local cloud (or any deployment the caller's AWS identity reaches), acting
as that identity. So it answers only what reaches it as its own page: the Host of its loopback address (a
DNS-rebound name gets nothing), bodies of at most MAX_REQUEST_BYTES, read within READ_TIMEOUT_SECONDS, each
request on a thread of its own so that one slow client holds up no other. A first visit gets a random session cookie
(HttpOnly, SameSite=Strict); every form carries a token made from it with this server's secret, and
review_desk.app accepts a POST only with its session's token and from the page's own origin. On AWS the same page
is served behind API Gateway and Cognito (edges.review_page)."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from review_desk.app import Request, Response, form_token, respond, shown_path
from review_desk.desk import ReviewDesk
from review_desk.pages import message_page
from review_desk.signin import cookies

log = logging.getLogger("scribe.review_page")
# A body's length in ASCII digits: int() takes '-1' (read until the client hangs up) and any script's digits.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,9}")
MAX_REQUEST_BYTES = 64 * 1024
READ_TIMEOUT_SECONDS = 5
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class ReviewServer(ThreadingHTTPServer):
    """The page's server: a thread per connection, a daemon one, so that stopping waits for no client."""

    daemon_threads = True

    def __init__(self, desk: ReviewDesk, port: int, host: str) -> None:
        super().__init__((host, port), ReviewPageHandler)
        self.desk = desk
        self.secret = secrets.token_bytes(32)  # the form tokens' key: this server's, for as long as it runs
        bound = self.server_address[1]
        self.session_cookie = f"review-session-{bound}"  # a cookie is the host's, whatever its port
        # A browser leaves the default port out of Host.
        self.hosts = frozenset(f"{name}:{bound}" for name in LOOPBACK_NAMES) | (
            frozenset(LOOPBACK_NAMES) if bound == 80 else frozenset()
        )


class ReviewPageHandler(BaseHTTPRequestHandler):
    server: ReviewServer
    timeout = READ_TIMEOUT_SECONDS  # a client that stops sending is cut off, and its thread ends

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        refused = self._misdirected() or self._unreadable()
        if refused is not None:
            self.close_connection = True  # whatever body it has is left unread
            self._send(refused)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            text = body.decode()
        except UnicodeDecodeError:
            self._send(_refused(HTTPStatus.BAD_REQUEST, "The form is not UTF-8."))
            return
        session = cookies(self.headers.get("Cookie")).get(self.server.session_cookie)
        # A first visit starts a session, and the page it gets already carries the session's token.
        started = secrets.token_urlsafe(32) if not session and self.command == "GET" else None
        response = respond(self.server.desk, self._request(text, session or started))
        if started:
            cookie = f"{self.server.session_cookie}={started}; Path=/; HttpOnly; SameSite=Strict"
            response = replace(response, headers={**response.headers, "Set-Cookie": cookie})
        self._send(response)

    def _request(self, body: str, session: str | None) -> Request:
        return Request(
            self.command,
            self.path,
            self.headers,
            body,
            origin=f"http://{self.headers['Host']}",
            form_token=form_token(self.server.secret, session) if session else "",
        )

    def _misdirected(self) -> Response | None:
        # Another site's page reaches this port under a name of its own (DNS rebinding): it gets no note.
        if self.headers.get("Host") not in self.server.hosts:
            return _refused(HTTPStatus.MISDIRECTED_REQUEST, "This page answers at its loopback address only.")
        return None

    def _unreadable(self) -> Response | None:
        length = self.headers.get("Content-Length") or "0"
        if not _CONTENT_LENGTH.fullmatch(length):
            return _refused(HTTPStatus.BAD_REQUEST, "The request's Content-Length is not a length.")
        if int(length) > MAX_REQUEST_BYTES:
            return _refused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"A form of this page is {MAX_REQUEST_BYTES} bytes at most."
            )
        return None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (an unserved method, a malformed request) as the page's answers, with
        its headers; never quoting the request."""
        self._send(_refused(HTTPStatus(code), "The review page does not serve this request."))

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

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Never the request line as typed: a path that is no page of the desk's is logged by its digest.
        path = shown_path(getattr(self, "path", ""), self.server.desk.deployments)
        log.info("%s %s %s", getattr(self, "command", "-"), path, code)

    def log_error(self, format: str, *args) -> None:
        # http.server's messages quote the request line it could not read: its status code only.
        log.warning("request refused: %s", args[0] if args and isinstance(args[0], int) else "-")


def _refused(status: HTTPStatus, reason: str) -> Response:
    """The one-line page of a request the server refuses before the desk sees it: nothing of a note."""
    return Response(status, message_page(status.phrase, reason))


def review_server(desk: ReviewDesk, port: int = 0, host: str = "127.0.0.1") -> ReviewServer:
    """The page's server on loopback (port 0: a free one)."""
    return ReviewServer(desk, port, host)
