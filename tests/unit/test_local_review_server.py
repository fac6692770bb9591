"""`scribe review --local`'s server (scribe.review_page): what it logs of a request, and a request body's length
read as a number of bytes in ASCII digits, or refused."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Iterator

import pytest

from clinical.layout import digest_reference
from review_desk.desk import ReviewDesk
from scribe.review_page import review_server


@pytest.fixture
def page() -> Iterator[int]:
    """The server on a free loopback port, serving a desk with one deployment and no notes."""
    server = review_server(ReviewDesk({"choreography": None}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def ask(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value.encode("latin-1"))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_path_that_is_no_page_is_logged_by_its_digest(page, caplog):
    """GIVEN paths typed into the address bar WHEN answered THEN the log names them by their digest only."""
    caplog.set_level(logging.INFO, logger="scribe.review_page")
    for path in ("/notes/choreography/Jane%20Roe", "/Jane-Roe?dob=1970", "/notes/choreography/enc-1/sign"):
        ask(page, "GET", path)
    logged = caplog.text
    assert digest_reference("/notes/choreography/Jane%20Roe") in logged and "Jane" not in logged
    assert "GET /notes/choreography/enc-1/sign 404" in logged, "a page's own path is shown"


@pytest.mark.parametrize("length", ["-1", "\u00b2", "12abc"])
def test_a_body_length_that_is_no_number_of_bytes_is_refused(page, length):
    """A negative length would have the one-request-at-a-time server wait for the connection to close; a
    superscript 2 would pass isdigit() and fail int()."""
    assert ask(page, "POST", "/notes/choreography/enc-1/sign", {"Content-Length": length}) == 400
