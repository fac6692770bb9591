"""The review page's requests and answers, whatever carries them: GET / (the worklist), GET
/notes/<variant>/<id> (the note view), POST .../sign and .../send-back (the actions, then a redirect to the
note, so a reload does not act twice). A POST that is not one of the page's own forms is refused with a
one-line page: from another origin (403), not urlencoded (415), or without its session's token (403). A refused
action shows the note again with its one line and what was typed; nothing but the method, the path
(`shown_path`) and status, and an error's type, is ever logged (a message may quote the note)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

from botocore.exceptions import ClientError

from clinical.errors import PipelineError, ReviewRefused
from clinical.layout import ENCOUNTER_ID_PATTERN, digest_reference
from review_desk.desk import AFTER_FIELD, DECIDED, REFUSED, NotFound, Refusal, ReviewDesk, changes_from, version_from
from review_desk.pages import (
    CONTENT_SECURITY_POLICY,
    FORM_TOKEN_FIELD,
    NOTE_VIEW,
    message_page,
    note_page,
    note_path,
    worklist_page,
)

log = logging.getLogger("review_desk")
ACTIONS = ("sign", "send-back")
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

# Never cached or sniffed (PHI), no referrer naming an encounter, and only the page's own style and script.
ANSWER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send the page's own forms with "Origin: null", which the Origin check refuses.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # under the page's base: "/", "/notes/<variant>/<id>", ...
    headers: Mapping[str, str]  # looked up case-insensitively (http.server's and Powertools' mappings are)
    body: str = ""
    base: str = "/"  # the path the page is served under ("/" locally; the API stage's on AWS)
    account: str | None = None  # the signed-in clinician's name (on AWS), shown with a way to sign out
    origin: str = ""  # the page's own origin (scheme://host[:port]), the only one its forms are posted from
    form_token: str = ""  # what this session's forms carry (form_token); "": no session, so no form is accepted


@dataclass(frozen=True)
class Response:
    status: HTTPStatus
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def with_answer_headers(self) -> Response:
        """The headers of every answer, a page, a redirect or a refusal alike; each transport sends its answers
        through here."""
        kind = {"Content-Type": "text/html; charset=utf-8"} if self.body else {}
        return Response(self.status, self.body, {**ANSWER_HEADERS, **kind, **self.headers})


def form_token(key: bytes, message: str) -> str:
    """The token every form of a session carries: HMAC-SHA256 of `message` under a key only the server holds (the
    local server's secret, of the session cookie; on AWS the session's access token, of the page's URL), so that
    no server stores it and another site's page cannot make it."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class FormRefused(Exception):
    """A POST that is not one of the page's own forms."""

    def __init__(self, status: HTTPStatus, check: str, reason: str) -> None:
        super().__init__(check)
        self.status, self.check, self.reason = status, check, reason


def route(path: str) -> tuple[str, str, str] | None:
    """/notes/<variant>/<encounter_id>[/<action>] as (variant, encounter_id, action); None for anything else."""
    parts = path.strip("/").split("/")
    if len(parts) not in (3, 4) or parts[0] != NOTE_VIEW or not ENCOUNTER_ID_PATTERN.fullmatch(parts[2]):
        return None
    return parts[1], parts[2], parts[3] if len(parts) == 4 else ""


def shown_path(path: str, variants: Collection[str], pages: Collection[str] = ("/",)) -> str:
    """A request's path as a log line gives it: one of `pages`, or a note (or its action) of a variant served,
    which names an encounter id at most; else its digest, as a path holds whatever was typed (decision 0006)."""
    found = route(path)
    if path in pages or (found is not None and found[0] in variants and found[2] in ("", *ACTIONS)):
        return path
    return digest_reference(path)


def respond(desk: ReviewDesk, request: Request) -> Response:
    """The answer to one request; an error becomes a one-line page naming its type, never its text."""
    try:
        answer = _get(desk, request) if request.method == "GET" else _post(desk, request)
    except Exception as error:
        log.error("review page request failed: %s", type(error).__name__)
        answer = Response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            message_page(
                "The page failed",
                f"{type(error).__name__}: `scribe status` shows where the encounter is",
                request.base,
                request.account,
            ),
        )
    return answer


def _get(desk: ReviewDesk, request: Request) -> Response:
    path, _, query = request.path.partition("?")
    if path == "/":
        asked = parse_qs(query)
        everything = asked.get("all") == ["1"]
        after = {
            name.removeprefix(AFTER_FIELD): values[-1] for name, values in asked.items() if name.startswith(AFTER_FIELD)
        }
        try:
            worklist = desk.page(everything, after)
        except NotFound as missing:
            return Response(
                HTTPStatus.NOT_FOUND, message_page("Not found", str(missing), request.base, request.account)
            )
        page = worklist_page(worklist, desk.now(), request.base, request.account, everything)
        return Response(HTTPStatus.OK, page)
    found = route(path)
    if found is None or found[2]:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", "no such page", request.base, request.account))
    return _show_note(desk, request, found[0], found[1], HTTPStatus.OK)


def _post(desk: ReviewDesk, request: Request) -> Response:
    found = route(request.path)
    if request.method != "POST" or found is None or found[2] not in ACTIONS:
        return Response(
            HTTPStatus.NOT_FOUND, message_page("Not found", "no such action", request.base, request.account)
        )
    try:
        form = _the_pages_form(request)
    except FormRefused as refusal:
        log.warning("review page refused a form: %s", refusal.check)
        return Response(refusal.status, message_page("Refused", refusal.reason, request.base, request.account))
    variant, encounter_id, action = found
    try:
        version = version_from(form)
        if action == "sign":
            changes = changes_from(form, desk.note(variant, encounter_id).note)
            desk.sign(variant, encounter_id, changes, request.headers, version=version)
        else:
            desk.send_back(variant, encounter_id, form.get("reason", [""])[0], request.headers, version=version)
    except REFUSED as error:
        refused = Refusal(error.message, getattr(error, "statement", None), form)
        return _show_note(desk, request, variant, encounter_id, HTTPStatus.CONFLICT, refused=refused)
    except DECIDED:
        pass  # the decision stands; the note view shows it, and the sweep finishes what follows
    except NotFound as error:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", str(error), request.base, request.account))
    # Redirect after post: a reload does not act twice.
    return Response(HTTPStatus.SEE_OTHER, headers={"Location": request.base + note_path(variant, encounter_id)})


def _the_pages_form(request: Request) -> dict[str, list[str]]:
    """The fields of a POST that is one of the page's own forms, its token taken out; FormRefused otherwise."""
    fetched_from = request.headers.get("Sec-Fetch-Site")
    # Browsers send Origin with every POST, and Sec-Fetch-Site where they know it: the page's forms are same-origin.
    if (
        not request.origin
        or request.headers.get("Origin") != request.origin
        or fetched_from not in (None, "same-origin")
    ):
        raise FormRefused(HTTPStatus.FORBIDDEN, "origin", "A form of this page is posted from this page only.")
    media_type = (request.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        # parse_qs reads any other body as no fields: a multipart signature would sign without its edits.
        raise FormRefused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "media type", f"A form of this page is sent as {FORM_MEDIA_TYPE} only."
        )
    form = parse_qs(request.body, keep_blank_values=True)
    sent = form.pop(FORM_TOKEN_FIELD, [""])[0]
    if not request.form_token or not hmac.compare_digest(sent.encode(), request.form_token.encode()):
        raise FormRefused(
            HTTPStatus.FORBIDDEN, "token", "This form is not from your session's page: reload the page and try again."
        )
    return form


def _show_note(desk: ReviewDesk, request: Request, variant: str, encounter_id: str, status: HTTPStatus,
               refused: Refusal | None = None) -> Response:  # fmt: skip
    try:
        view = desk.note(variant, encounter_id)
        signer = desk.signer(variant, request.headers) if view.record.status == "AWAITING_REVIEW" else None
    except NotFound as error:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", str(error), request.base, request.account))
    except ReviewRefused as error:
        return Response(
            HTTPStatus.CONFLICT, message_page("Cannot show the note", error.message, request.base, request.account)
        )
    except (ValueError, ClientError, PipelineError) as error:
        # Never the error's text: pydantic's message (its ValidationError is a ValueError) quotes the note.
        return Response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            message_page(
                "Cannot show the note",
                f"the stored note or transcript cannot be read ({type(error).__name__})",
                request.base,
                request.account,
            ),
        )
    page = note_page(view, desk.now(), signer, refused, request.base, request.account, token=request.form_token)
    return Response(status, page)
