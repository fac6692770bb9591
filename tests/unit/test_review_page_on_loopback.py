"""The local review page (`scribe review --local`, scribe.review_page) over real HTTP on 127.0.0.1, against moto:
what it answers to a browser's requests and to everything else that can reach a loopback port (tests/browser
drives it in Chromium)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import boto3
import pytest

from choreography import write_note
from review_desk.desk import ReviewDesk
from scribe.review_page import MAX_REQUEST_BYTES, READ_TIMEOUT_SECONDS, review_server
from tests.support.events import object_created, sqs_event
from tests.support.forms import URLENCODED, form_token_in, multipart
from tests.unit.conftest import BUCKET, converse_answer

NOTE = "/notes/choreography/enc-0001"


@dataclass(frozen=True)
class MotoDeployment:
    """choreography's deployment as the local page reaches it: moto's clients, as the caller's AWS identity."""

    bucket: str = BUCKET
    outputs: Mapping[str, str] = field(default_factory=lambda: {"DomainEventBusName": "domain"})

    def client(self, service: str):
        return boto3.client(service)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class LocalPage:
    cloud: object
    port: int

    def ask(self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Answer:
        """One request on a connection of its own, with the Host header a browser sends unless `headers` has one."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{self.port}", **(headers or {})})
            answer = connection.getresponse()
            return Answer(answer.status, answer.headers, answer.read().decode())
        finally:
            connection.close()

    def post(self, path: str, body: str = "", *, content_type: str = URLENCODED, **headers: str | None) -> Answer:
        """A form's POST as a browser on the page sends it, but for `headers` (None: not sent)."""
        sent = {"Content-Type": content_type, "Origin": self.origin, **headers}
        return self.ask("POST", path, body=body.encode(), headers={k: v for k, v in sent.items() if v is not None})

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def visit(self) -> tuple[str, str]:
        """A first visit to the note view: the session cookie it sets (as `name=value`) and its forms' token."""
        page = self.ask("GET", NOTE)
        return page.headers["Set-Cookie"].split(";")[0], form_token_in(page.body)

    def awaiting_review(self) -> bool:
        return self.cloud.read_json("reviews/enc-0001.json")["status"] == "AWAITING_REVIEW" and not self.cloud.keys(
            "signed/"
        )


@pytest.fixture
def local_page(cloud, lambda_context) -> Iterator[LocalPage]:
    """enc-0001 drafted by choreography's writer and awaiting review, and the local page serving it."""
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    boto3.client("events").create_event_bus(Name="domain")
    server = review_server(ReviewDesk({"choreography": MotoDeployment()}))
    threading.Thread(target=server.serve_forever, name="review-page", daemon=True).start()
    yield LocalPage(cloud, server.server_address[1])
    server.shutdown()
    server.server_close()


def assert_answer_headers(answer: Answer) -> None:
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_every_answer_carries_the_pages_headers(local_page):
    """GIVEN the local page, WHEN it answers a page, a missing page and a method it does not serve, THEN each
    answer is never cached or sniffed, names no referrer to another origin and may not be framed."""
    page = local_page.ask("GET", NOTE)
    missing = local_page.ask("GET", "/nowhere")
    unserved = local_page.ask("PUT", NOTE)
    assert (page.status, missing.status, unserved.status) == (200, 404, 501)
    assert "enc-0001" not in unserved.body
    for answer in (page, missing, unserved):
        assert_answer_headers(answer)


def test_a_form_sent_other_than_urlencoded_is_refused_and_never_signs_without_its_edits(local_page):
    """GIVEN enc-0001 awaiting review, WHEN a multipart form signs it with an edit, THEN it is refused (415) with
    a one-line page, rather than read as a form of no fields and signed without the edit."""
    body, content_type = multipart({"edit.s5": "Start warfarin 5 mg."})
    refused = local_page.post(f"{NOTE}/sign", body, content_type=content_type)
    assert refused.status == 415 and "application/x-www-form-urlencoded only" in refused.body
    assert "Start warfarin" not in refused.body and local_page.awaiting_review()


def test_a_request_for_any_other_host_gets_nothing_of_the_desk(local_page):
    """GIVEN the page on 127.0.0.1:<port>, WHEN a request names another host (a DNS-rebound name: another site's
    page reaching this port), THEN it is refused (421) with a one-line page, no note and no action; the page's own
    loopback names are served."""
    for host in ("evil.example", f"evil.example:{local_page.port}", "127.0.0.1:1", ""):
        for method, path in (("GET", "/"), ("GET", NOTE)):
            refused = local_page.ask(method, path, headers={"Host": host})
            assert refused.status == 421 and "enc-0001" not in refused.body
        assert local_page.post(f"{NOTE}/sign", Host=host).status == 421
    assert local_page.awaiting_review()
    for host in (f"127.0.0.1:{local_page.port}", f"localhost:{local_page.port}", f"[::1]:{local_page.port}"):
        assert local_page.ask("GET", NOTE, headers={"Host": host}).status == 200


def test_one_slow_client_holds_up_no_other_and_is_cut_off(local_page):
    """GIVEN a client that sends half a request and stops, WHEN the browser asks for the note, THEN it is answered
    at once, and the slow client's connection is closed after the read timeout."""
    slow = socket.create_connection(("127.0.0.1", local_page.port))
    try:
        slow.sendall(b"POST /notes/choreography/enc-0001/sign HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert local_page.ask("GET", NOTE).status == 200
        assert time.monotonic() - started < 2
        slow.settimeout(READ_TIMEOUT_SECONDS + 5)
        assert slow.recv(1024) == b"", "the server closed the connection"
        assert time.monotonic() - started < READ_TIMEOUT_SECONDS + 5
    finally:
        slow.close()


def test_a_request_too_large_is_refused_unread(local_page):
    """A form of more than 64 KiB is refused (413) before its body is read, as a Content-Length that is no length
    is (400); neither acts."""
    oversized = local_page.post(f"{NOTE}/sign", "reason=" + "x" * MAX_REQUEST_BYTES)
    assert oversized.status == 413 and local_page.awaiting_review()
    for length in ("-1", "ten"):
        assert local_page.post(f"{NOTE}/sign", "", **{"Content-Length": length}).status == 400
    assert local_page.awaiting_review()


def test_a_first_visit_starts_a_session_whose_token_every_form_carries(local_page):
    """GIVEN a browser without the page's cookie, WHEN it opens the note, THEN it gets a random session cookie
    that scripts cannot read and other sites' requests do not carry, and both forms carry a token of that
    session; the next visit keeps the session, another browser gets another."""
    first = local_page.ask("GET", NOTE)
    cookie, *attributes = (part.strip() for part in first.headers["Set-Cookie"].split(";"))
    assert cookie.startswith(f"review-session-{local_page.port}=") and len(cookie.partition("=")[2]) >= 32
    assert set(attributes) == {"Path=/", "HttpOnly", "SameSite=Strict"}
    token = form_token_in(first.body)
    assert first.body.count(f"value='{token}'") == 2 and cookie.partition("=")[2] not in first.body
    again = local_page.ask("GET", NOTE, headers={"Cookie": cookie})
    assert again.headers["Set-Cookie"] is None and form_token_in(again.body) == token
    assert form_token_in(local_page.ask("GET", NOTE).body) != token


def test_a_form_from_another_origin_is_refused_even_with_the_session_and_its_token(local_page):
    """GIVEN the clinician's session and its token, WHEN a form comes from another origin (another port of this
    host: the same site, so the cookie goes along), from no origin, or a fetch another site starts, THEN it is
    refused (403) and nothing changes; the page's own form signs."""
    cookie, token = local_page.visit()
    body = f"form-token={token}"
    for headers in (
        {"Origin": f"http://127.0.0.1:{local_page.port + 1}"},
        {"Origin": f"http://localhost:{local_page.port}"},
        {"Origin": "null"},
        {"Origin": None},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        refused = local_page.post(f"{NOTE}/sign", body, Cookie=cookie, **headers)
        assert refused.status == 403 and "posted from this page only" in refused.body
    assert local_page.awaiting_review()
    signed = local_page.post(f"{NOTE}/sign", body, Cookie=cookie, **{"Sec-Fetch-Site": "same-origin"})
    assert (signed.status, signed.headers["Location"]) == (303, NOTE)
    assert_answer_headers(signed)
    assert local_page.cloud.keys("signed/") == ["signed/enc-0001.json"]


def test_a_form_without_its_sessions_token_is_refused(local_page):
    """A form of the page's origin is refused (403) without a session, without a token, or with a token that is
    not its session's (a guess, another session's); the session's own token sends the note back."""
    cookie, token = local_page.visit()
    other_cookie, other_token = local_page.visit()
    for cookie_sent, body in (
        (None, f"form-token={token}"),
        (cookie, "reason=x"),
        (cookie, "form-token=guessed&reason=x"),
        (cookie, f"form-token={other_token}&reason=x"),
        (other_cookie, f"form-token={token}&reason=x"),
        (cookie, "form-token=%E2%9C%93&reason=x"),
    ):
        refused = local_page.post(f"{NOTE}/send-back", body, Cookie=cookie_sent)
        assert refused.status == 403 and "not from your session" in refused.body
    assert local_page.awaiting_review()
    sent_back = local_page.post(f"{NOTE}/send-back", f"form-token={token}&reason=x", Cookie=cookie)
    assert sent_back.status == 303
    assert local_page.cloud.read_json("reviews/enc-0001.json")["status"] == "SENT_BACK"
