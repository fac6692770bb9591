"""API Gateway (REST, Lambda proxy) -> the clinician's review page on AWS, for this deployment's notes, behind
the stack's Cognito user pool (review_desk.signin): /login and /callback sign in, /logout out; every other path needs a
signed-in member of the clinicians group, and each action is recorded as that clinician. The page and its
actions are review_desk's, exactly as `scribe review --local` serves them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source

from clinical import clients
from clinical.environment import require_env
from clinical.errors import content_free_errors
from clinical.observability import logger, tracer
from review_desk.app import Request, Response, form_token, respond, shown_path
from review_desk.desk import ReviewDesk
from review_desk.pages import message_page
from review_desk.signin import (
    SESSION_COOKIE,
    Clinician,
    NotAClinician,
    NotSignedIn,
    SignIn,
    callback,
    clinician,
    cookies,
    login,
    logout,
)

# The page's own paths besides the notes: the worklist and the sign-in's.
PAGES = ("/", "/login", "/logout", "/callback")


@dataclass(frozen=True)
class ThisDeployment:
    """The deployment the function belongs to, as the desk reaches it: with the function's own clients."""

    bucket: str
    outputs: dict[str, str] = field(default_factory=dict)

    def client(self, service: str):
        return {"s3": clients.s3, "stepfunctions": clients.stepfunctions, "events": clients.events}[service]()


def settings() -> SignIn:
    return SignIn(
        domain=require_env("COGNITO_DOMAIN"),
        user_pool_id=require_env("USER_POOL_ID"),
        client_id=require_env("USER_POOL_CLIENT_ID"),
        page_url=require_env("REVIEW_PAGE_URL"),
        group=os.environ.get("CLINICIANS_GROUP", "clinicians"),
    )


def page_origin(config: SignIn) -> str:
    parts = urlsplit(config.page_url)
    return f"{parts.scheme}://{parts.netloc}"


def desk_for(signed_in: Clinician) -> ReviewDesk:
    place = ThisDeployment(
        bucket=require_env("ENCOUNTER_BUCKET"), outputs={"DomainEventBusName": require_env("DOMAIN_EVENT_BUS")}
    )
    return ReviewDesk({require_env("PIPELINE_VARIANT"): place}, identity=lambda _place, _headers: signed_in.identity)


def proxy(response: Response, set_cookies: list[str] | None = None) -> dict:
    headers = dict(response.with_answer_headers().headers)
    multi = {"Set-Cookie": set_cookies} if set_cookies else {}
    if "Set-Cookie" in headers and not set_cookies:
        multi = {"Set-Cookie": [headers.pop("Set-Cookie")]}
    return {"statusCode": int(response.status), "headers": headers, "multiValueHeaders": multi, "body": response.body}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@content_free_errors  # an error outside the page's own handling reaches the trace and the log by its type only
@event_source(data_class=APIGatewayProxyEvent)
def handler(event: APIGatewayProxyEvent, context) -> dict:
    config = settings()
    base = f"/{event.request_context.stage}/"
    path = "/" + (event.path_parameters or {}).get("proxy", "") if event.resource != "/" else "/"
    jar = cookies(event.headers.get("cookie") or event.headers.get("Cookie"))
    logger.info(
        "review page request",
        extra={"method": event.http_method, "path": shown_path(path, (require_env("PIPELINE_VARIANT"),), PAGES)},
    )
    if path == "/login":
        return proxy(login(config))
    if path == "/logout":
        return proxy(logout(config, clients.cognito_idp(), jar))
    if path == "/callback":
        response, set_cookies = callback(config, dict(event.query_string_parameters or {}), jar)
        return proxy(response, set_cookies)
    try:
        signed_in = clinician(config, clients.cognito_idp(), jar)
    except NotSignedIn:
        return proxy(Response(HTTPStatus.SEE_OTHER, headers={"Location": f"{base}login"}))
    except NotAClinician:
        logger.warning("review page refused: not a clinician of this pool")
        refused = message_page("Not a clinician", "Only the clinicians group of this deployment reviews notes.", base)
        return proxy(Response(HTTPStatus.FORBIDDEN, refused))
    body = (event.decoded_body or "") if event.http_method == "POST" else ""
    request = Request(
        event.http_method,
        path,
        event.headers,
        body,
        base,
        account=signed_in.name,
        origin=page_origin(config),
        # Keyed by the session's access token, which only its HttpOnly cookie holds: no server state.
        form_token=form_token(jar[SESSION_COOKIE].encode(), config.page_url),
    )
    return proxy(respond(desk_for(signed_in), request))
