"""The review page on AWS (edges.review_page): API Gateway's proxy events, Cognito's managed login with PKCE
(its token endpoint played by a server on 127.0.0.1), the session checked by Cognito (moto's user pool), the
clinicians group required, and every action recorded as the signed-in clinician."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.lambda_launcher import LambdaContext
from aws_xray_sdk.core.models.traceid import TraceId
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from choreography import write_note
from clinical import clients, domain_events
from clinical.layout import digest_reference
from edges import review_page
from review_desk.pages import CONTENT_SECURITY_POLICY as CSP
from review_desk.signin import LOGIN_COOKIE, SESSION_COOKIE
from tests.support.events import object_created, sqs_event
from tests.support.forms import URLENCODED, form_token_in, multipart
from tests.support.loopback import LoopbackServer, Received
from tests.unit.conftest import BUCKET, converse_answer

PASSWORD = "Correct-horse-9-battery"  # noqa: S105 (a test user's, in moto)
PAGE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/review/"
ORIGIN = "https://abc123.execute-api.us-east-1.amazonaws.com"
NOTE = "/notes/choreography/enc-0001"


class TokenEndpoint(LoopbackServer):
    """Cognito's /oauth2/token: gives `token` for the code "good-code" when the verifier matches the challenge."""

    def __init__(self) -> None:
        self.token, self.challenge = "", ""
        super().__init__(self._answer)

    @property
    def asked(self) -> list[dict]:
        return [parse_qs(request.body.decode()) for request in self.requests]

    def _answer(self, request: Received) -> tuple[int, bytes]:
        form = parse_qs(request.body.decode())
        verifier = form.get("code_verifier", [""])[0]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        good = form.get("code") == ["good-code"] and challenge == self.challenge
        answer = json.dumps({"access_token": self.token, "expires_in": 3600} if good else {"error": "x"})
        return (200 if good else 400), answer.encode()


@pytest.fixture
def aws_page(cloud, lambda_context, monkeypatch):
    """enc-0001 drafted and awaiting review; a user pool with dr.lee (a clinician) and mx.roe (not one)."""
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    events = boto3.client("events")
    events.create_event_bus(Name="domain")
    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="clinicians")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="page",
                                             ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]  # fmt: skip
    cognito.create_group(UserPoolId=pool, GroupName="clinicians")

    def sign_in(user: str) -> str:
        return cognito.admin_initiate_auth(
            UserPoolId=pool, ClientId=client["ClientId"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]["AccessToken"]  # fmt: skip

    tokens = {}
    for user, clinician in (("dr.lee", True), ("mx.roe", False)):
        cognito.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
        if clinician:
            cognito.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName="clinicians")
        tokens[user] = sign_in(user)
    endpoint = TokenEndpoint()
    for name, value in {
        "COGNITO_DOMAIN": endpoint.url,
        "USER_POOL_ID": pool,
        "USER_POOL_CLIENT_ID": client["ClientId"],
        "REVIEW_PAGE_URL": PAGE_URL,
        "DOMAIN_EVENT_BUS": "domain",
        domain_events.BUS_ENVIRONMENT: "domain",
    }.items():
        monkeypatch.setenv(name, value)
    cloud.tokens, cloud.endpoint, cloud.pool, cloud.sign_in = tokens, endpoint, pool, sign_in
    cloud.call = lambda *args, **kwargs: review_page.handler(proxy_event(*args, **kwargs), lambda_context)
    yield cloud
    endpoint.close()


def proxy_event(method: str, path: str, *, cookie: str = "", query: dict | None = None, body: str = "",
                origin: str | None = None, content_type: str = URLENCODED,
                headers: dict[str, str] | None = None) -> dict:  # fmt: skip
    """API Gateway's REST proxy event for a path under the stage (a POST's body typed as `content_type`)."""
    inner = path.strip("/")
    headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
    if origin:
        headers["Origin"] = origin
    if method == "POST":
        headers["Content-Type"] = content_type
    return {
        "resource": "/{proxy+}" if inner else "/",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "pathParameters": {"proxy": inner} if inner else None,
        "requestContext": {"stage": "review", "httpMethod": method, "path": f"/review{path}"},
        "body": body or None,
        "isBase64Encoded": False,
    }


def session(token: str) -> str:
    return f"{SESSION_COOKIE}={token}"


def token_of(aws_page, cookie: str) -> str:
    """The token the note view's forms carry for the session of `cookie`."""
    return form_token_in(aws_page.call("GET", NOTE, cookie=cookie)["body"])


def test_signing_in_with_pkce_sets_an_httponly_session_for_the_clinician(aws_page):
    unsigned = aws_page.call("GET", "/")
    assert (unsigned["statusCode"], unsigned["headers"]["Location"]) == (303, "/review/login")
    started = aws_page.call("GET", "/login")
    authorize = urlsplit(started["headers"]["Location"])
    asked = parse_qs(authorize.query)
    assert authorize.path == "/oauth2/authorize" and asked["code_challenge_method"] == ["S256"]
    assert asked["redirect_uri"] == [PAGE_URL + "callback"] and "aws.cognito.signin.user.admin" in asked["scope"][0]
    [login_cookie] = started["multiValueHeaders"]["Set-Cookie"]
    assert login_cookie.startswith(f"{LOGIN_COOKIE}=") and "HttpOnly" in login_cookie and "Secure" in login_cookie
    aws_page.endpoint.challenge, aws_page.endpoint.token = asked["code_challenge"][0], aws_page.tokens["dr.lee"]
    cookie = login_cookie.split(";")[0]
    back = aws_page.call("GET", "/callback", cookie=cookie, query={"code": "good-code", "state": asked["state"][0]})
    assert (back["statusCode"], back["headers"]["Location"]) == (303, PAGE_URL)
    session_cookie, cleared = back["multiValueHeaders"]["Set-Cookie"]
    assert session_cookie.startswith(f"{SESSION_COOKIE}={aws_page.tokens['dr.lee']};")
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Max-Age=0" in cleared
    worklist = aws_page.call("GET", "/", cookie=session_cookie.split(";")[0])
    assert (
        worklist["statusCode"] == 200
        and "enc-0001" in worklist["body"]
        and "<base href='/review/'>" in worklist["body"]
    )
    assert worklist["headers"]["Cache-Control"] == "no-store"


def test_a_sign_in_that_does_not_come_back_as_it_left_is_refused(aws_page):
    started = aws_page.call("GET", "/login")
    cookie = started["multiValueHeaders"]["Set-Cookie"][0].split(";")[0]
    for query in ({"code": "good-code", "state": "forged"}, {"state": "x"}):
        refused = aws_page.call("GET", "/callback", cookie=cookie, query=query)
        assert refused["statusCode"] == 400 and "did not come back as it left" in refused["body"]
    assert aws_page.endpoint.asked == [] and "Set-Cookie" not in refused["multiValueHeaders"]


def test_a_clinician_signs_as_themselves_and_the_note_records_the_pools_user(aws_page):
    cookie = session(aws_page.tokens["dr.lee"])
    note = aws_page.call("GET", "/notes/choreography/enc-0001", cookie=cookie)
    assert (
        note["statusCode"] == 200
        and "You sign version 1 as https://cognito-idp.us-east-1.amazonaws.com/" in note["body"]
    )
    body = f"form-token={form_token_in(note['body'])}"
    signed = aws_page.call("POST", f"{NOTE}/sign", cookie=cookie, origin=ORIGIN, body=body)
    assert (signed["statusCode"], signed["headers"]["Location"]) == (303, "/review/notes/choreography/enc-0001")
    record = aws_page.read_json("signed/enc-0001.json")
    sub = boto3.client("cognito-idp").admin_get_user(UserPoolId=aws_page.pool, Username="dr.lee")["UserAttributes"]
    [sub] = [a["Value"] for a in sub if a["Name"] == "sub"]
    assert record["signed_by"] == f"https://cognito-idp.us-east-1.amazonaws.com/{aws_page.pool}|{sub}"


@pytest.mark.parametrize(("who", "status"), [("mx.roe", 403), ("forged", 303), ("none", 303)])
def test_only_a_clinician_of_this_pool_gets_the_page(aws_page, who, status):
    cookie = {"mx.roe": session(aws_page.tokens["mx.roe"]), "forged": session("a.b.c"), "none": ""}[who]
    for method, path in (("GET", "/"), ("POST", "/notes/choreography/enc-0001/sign")):
        answer = aws_page.call(method, path, cookie=cookie)
        assert answer["statusCode"] == status
        assert "enc-0001" not in answer["body"]
    assert aws_page.keys("signed/") == []


def test_a_token_of_another_app_client_is_not_a_session(aws_page, monkeypatch):
    monkeypatch.setenv("USER_POOL_CLIENT_ID", "another-client")
    assert aws_page.call("GET", "/", cookie=session(aws_page.tokens["dr.lee"]))["statusCode"] == 403


def test_a_path_that_is_no_page_of_the_deployments_is_logged_by_its_digest(aws_page, structured_logs):
    """GIVEN requests for paths typed into the address bar (a patient's name, another variant) and for a note
    WHEN answered THEN the log line names the note by its path and the others by their digest only."""
    typed = ("/notes/choreography/Jane Roe", "/notes/Jane-Roe/enc-0001", "/Jane Roe")
    for path in (*typed, "/notes/choreography/enc-0001", "/login"):
        aws_page.call("GET", path)
    logs = structured_logs.getvalue()
    assert '"path":"/notes/choreography/enc-0001"' in logs and '"path":"/login"' in logs
    assert all(f'"path":"{digest_reference(path)}"' in logs for path in typed)
    assert "Jane" not in logs


def test_a_form_posted_from_another_origin_or_none_is_refused_even_with_a_session_and_its_token(aws_page):
    """Browsers send Origin with every POST: a form without one, or from another origin or site, is refused."""
    cookie = session(aws_page.tokens["dr.lee"])
    body = f"form-token={token_of(aws_page, cookie)}"
    for origin, headers in (
        ("https://evil.example", {}),
        (None, {}),
        (ORIGIN, {"Sec-Fetch-Site": "cross-site"}),
        ("null", {}),
    ):
        forged = aws_page.call("POST", f"{NOTE}/sign", cookie=cookie, body=body, origin=origin, headers=headers)
        assert forged["statusCode"] == 403 and "posted from this page only" in forged["body"]
    assert aws_page.keys("signed/") == []
    same = aws_page.call("POST", f"{NOTE}/sign", cookie=cookie, body=body, origin=ORIGIN)
    assert same["statusCode"] == 303 and aws_page.keys("signed/") == ["signed/enc-0001.json"]


def test_a_form_without_its_sessions_token_is_refused(aws_page):
    """Each session's forms carry a token made from its access token: a form without it, with another, or with
    another session's (the same clinician signed in twice) is refused, and the session's own is accepted."""
    cookie = session(aws_page.tokens["dr.lee"])
    token = token_of(aws_page, cookie)
    assert token_of(aws_page, cookie) == token and token not in cookie
    again = session(aws_page.sign_in("dr.lee"))
    assert token_of(aws_page, again) != token
    for body in ("", "form-token=", "form-token=guessed", f"form-token={token_of(aws_page, again)}"):
        refused = aws_page.call("POST", f"{NOTE}/send-back", cookie=cookie, origin=ORIGIN, body=body + "&reason=x")
        assert refused["statusCode"] == 403 and "not from your session" in refused["body"]
    assert aws_page.read_json("reviews/enc-0001.json")["status"] == "AWAITING_REVIEW"
    sent_back = aws_page.call(
        "POST", f"{NOTE}/send-back", cookie=cookie, origin=ORIGIN, body=f"form-token={token}&reason=x"
    )
    assert sent_back["statusCode"] == 303 and aws_page.read_json("reviews/enc-0001.json")["status"] == "SENT_BACK"


def test_the_page_names_the_clinician_and_signing_out_ends_both_sessions(aws_page):
    page = aws_page.call("GET", "/", cookie=session(aws_page.tokens["dr.lee"]))
    assert "<span class=account>dr.lee</span><a id=sign-out href='logout'>Sign out</a>" in page["body"]
    out = aws_page.call("GET", "/logout", cookie=session(aws_page.tokens["dr.lee"]))
    where = urlsplit(out["headers"]["Location"])
    assert where.path == "/logout" and parse_qs(where.query)["logout_uri"] == [PAGE_URL]
    [cleared] = out["multiValueHeaders"]["Set-Cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=;") and "Max-Age=0" in cleared


class KeptDocuments:
    """An X-Ray emitter that keeps each document it would send to the daemon."""

    def __init__(self) -> None:
        self.documents: list[str] = []

    def send_entity(self, entity) -> None:
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address: str | None) -> None:
        """Nothing is sent anywhere."""


@pytest.fixture
def traced(monkeypatch):
    """The page function as Lambda's active tracing runs it: the SDK on, the recorder in its Lambda context (the
    trace header from the environment, sampled), each subsegment streamed as it ends, to an emitter that keeps it."""
    kept = KeptDocuments()
    monkeypatch.setattr(xray_recorder, "emitter", kept)
    monkeypatch.setattr(xray_recorder, "context", LambdaContext())
    monkeypatch.setattr(xray_recorder, "streaming_threshold", 0)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TraceId().to_id()};Parent=53995c3f42cd8ad8;Sampled=1")
    enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    yield kept.documents
    global_sdk_config.set_sdk_enabled(enabled)


def test_the_note_page_sends_no_note_or_transcript_text_to_x_ray(aws_page, traced):
    note = aws_page.call("GET", "/notes/choreography/enc-0001", cookie=session(aws_page.tokens["dr.lee"]))
    statement, segment = "Crackles at the right lung base.", "Lungs have crackles at the right base."
    assert note["statusCode"] == 200 and statement in note["body"] and segment in note["body"]
    assert any('"name": "## handler"' in document for document in traced), "the handler's subsegment was sent"
    sent = "\n".join(json.dumps(json.loads(document), ensure_ascii=False) for document in traced)
    assert statement not in sent and segment not in sent


def test_every_answer_carries_the_pages_headers(aws_page):
    """A page, the redirects of signing in and out, and each refusal: never cached or sniffed, no referrer to
    another origin, no framing, only the page's own style and script."""
    clinician, other = session(aws_page.tokens["dr.lee"]), session(aws_page.tokens["mx.roe"])
    started = aws_page.call("GET", "/login")
    answers = [
        aws_page.call("GET", "/", cookie=clinician),
        aws_page.call("GET", "/nowhere", cookie=clinician),
        aws_page.call("GET", "/"),
        started,
        aws_page.call("GET", "/callback", cookie=started["multiValueHeaders"]["Set-Cookie"][0].split(";")[0]),
        aws_page.call("GET", "/", cookie=other),
        aws_page.call("GET", "/logout", cookie=clinician),
    ]
    assert [answer["statusCode"] for answer in answers] == [200, 404, 303, 303, 400, 403, 303]
    for answer in answers:
        headers = answer["headers"]
        assert (headers["Cache-Control"], headers["X-Content-Type-Options"]) == ("no-store", "nosniff")
        assert headers["Referrer-Policy"] == "same-origin" and headers["Content-Security-Policy"] == CSP


def test_a_form_sent_other_than_urlencoded_is_refused_and_never_signs_without_its_edits(aws_page):
    """A multipart form's fields are not read as urlencoded ones: its signature is refused (415), not made
    without the edit it carries."""
    cookie = session(aws_page.tokens["dr.lee"])
    body, content_type = multipart({"edit.s5": "Start warfarin 5 mg.", "form-token": token_of(aws_page, cookie)})
    refused = aws_page.call("POST", f"{NOTE}/sign", cookie=cookie, body=body, origin=ORIGIN, content_type=content_type)
    assert refused["statusCode"] == 415 and "application/x-www-form-urlencoded only" in refused["body"]
    assert "Start warfarin" not in refused["body"] and aws_page.keys("signed/") == []


def test_signing_out_revokes_the_sessions_tokens_at_cognito(aws_page):
    """GIVEN dr.lee signed in, WHEN they sign out, THEN Cognito no longer accepts the access token (GlobalSignOut),
    so a copy of the cookie is no session either; signing out again, with a token Cognito already refuses,
    still clears the cookie and ends Cognito's session."""
    token = aws_page.tokens["dr.lee"]
    out = aws_page.call("GET", "/logout", cookie=session(token))
    assert out["statusCode"] == 303 and urlsplit(out["headers"]["Location"]).path == "/logout"
    with pytest.raises(ClientError, match="NotAuthorizedException"):
        boto3.client("cognito-idp").get_user(AccessToken=token)
    replayed = aws_page.call("GET", "/", cookie=session(token))
    assert (replayed["statusCode"], replayed["headers"]["Location"]) == (303, "/review/login")
    for cookie in (session(token), session("a.b.c"), ""):
        again = aws_page.call("GET", "/logout", cookie=cookie)
        assert again["statusCode"] == 303 and again["multiValueHeaders"]["Set-Cookie"][0].startswith(
            f"{SESSION_COOKIE}=;"
        )


def test_a_sign_out_cognito_fails_keeps_the_cookie_to_sign_out_again(aws_page, monkeypatch):
    """When Cognito cannot revoke the tokens (throttled, unreachable), the page says so (502) and keeps the cookie,
    so that signing out again revokes them; it never claims a sign-out that did not happen."""
    cognito = boto3.client("cognito-idp")
    stub = Stubber(cognito)
    stub.add_client_error("global_sign_out", service_error_code="TooManyRequestsException", http_status_code=429)
    stub.activate()
    monkeypatch.setattr(clients, "cognito_idp", lambda: cognito)
    failed = aws_page.call("GET", "/logout", cookie=session(aws_page.tokens["dr.lee"]))
    assert failed["statusCode"] == 502 and "TooManyRequestsException" in failed["body"]
    assert "Set-Cookie" not in failed["multiValueHeaders"] and "Location" not in failed["headers"]
    stub.assert_no_pending_responses()


def test_an_error_outside_the_pages_own_handling_leaves_the_function_by_its_type_only(aws_page, monkeypatch):
    """What respond() does not catch (a failure before the page is reached) reaches the trace and the log as
    UnexpectedError naming its type, never its message, which may quote what it choked on."""
    from clinical.errors import UnexpectedError

    def failing():
        raise ValueError("Jane Roe's note could not be read")

    monkeypatch.setattr(review_page, "settings", failing)
    with pytest.raises(UnexpectedError) as failed:
        aws_page.call("GET", "/")
    assert str(failed.value) == "unexpected ValueError" and failed.value.__context__ is None
