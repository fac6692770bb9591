"""The review page's requests and answers, whatever carries them: GET / (the worklist), GET
/notes/<variant>/<id> (the note view), POST .../sign and .../send-back (the actions, then a redirect to the
note, so a reload does not act twice). A POST that is not one of the page's own forms (urlencoded) is refused
with a one-line page. A refused action shows the note again with its one line; nothing but the method, path and
status, and an error's type, is ever logged (a message may quote the note)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import ValidationError

from clinical import review as reviews
from clinical.layout import ENCOUNTER_ID_PATTERN
from review_desk.desk import REFUSED, NotFound, ReviewDesk, edits_from
from review_desk.pages import (
    CONTENT_SECURITY_POLICY,
    NOTE_VIEW,
    message_page,
    note_page,
    note_path,
    worklist_page,
)

log = logging.getLogger("review_desk")
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

# Never cached or sniffed (PHI), no referrer naming an encounter, and only the page's own style and script.
ANSWER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
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


def route(path: str) -> tuple[str, str, str] | None:
    """/notes/<variant>/<encounter_id>[/<action>] as (variant, encounter_id, action); None for anything else."""
    parts = path.strip("/").split("/")
    if len(parts) not in (3, 4) or parts[0] != NOTE_VIEW or not ENCOUNTER_ID_PATTERN.fullmatch(parts[2]):
        return None
    return parts[1], parts[2], parts[3] if len(parts) == 4 else ""


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
    path = request.path.split("?", 1)[0]
    if path == "/":
        return Response(HTTPStatus.OK, worklist_page(desk.worklist(), desk.now(), request.base, request.account))
    found = route(path)
    if found is None or found[2]:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", "no such page", request.base, request.account))
    return _show_note(desk, request, found[0], found[1], HTTPStatus.OK)


def _post(desk: ReviewDesk, request: Request) -> Response:
    refused = _not_the_pages_form(request) if request.method == "POST" else None
    if refused is not None:
        log.warning("review page refused a form: %s", refused.status.phrase)
        return refused
    found = route(request.path)
    if request.method != "POST" or found is None or found[2] not in ("sign", "send-back"):
        return Response(
            HTTPStatus.NOT_FOUND, message_page("Not found", "no such action", request.base, request.account)
        )
    variant, encounter_id, action = found
    form = parse_qs(request.body, keep_blank_values=True)
    try:
        if action == "sign":
            edits = edits_from(form, desk.note(variant, encounter_id).note)
            desk.sign(variant, encounter_id, edits, request.headers)
        else:
            desk.send_back(variant, encounter_id, form.get("reason", [""])[0], request.headers)
    except REFUSED as error:
        return _show_note(desk, request, variant, encounter_id, HTTPStatus.CONFLICT, refused=error.message)
    except NotFound as error:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", str(error), request.base, request.account))
    # Redirect after post: a reload does not act twice.
    return Response(HTTPStatus.SEE_OTHER, headers={"Location": request.base + note_path(variant, encounter_id)})


def _not_the_pages_form(request: Request) -> Response | None:
    """The refusal of a POST that is not one of the page's own forms, or None."""
    media_type = (request.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        # parse_qs reads any other body as no fields: a multipart signature would sign without its edits.
        return _refused(
            request, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"A form of this page is sent as {FORM_MEDIA_TYPE} only."
        )
    return None


def _refused(request: Request, status: HTTPStatus, reason: str) -> Response:
    return Response(status, message_page("Refused", reason, request.base, request.account))


def _show_note(desk: ReviewDesk, request: Request, variant: str, encounter_id: str, status: HTTPStatus,
               refused: str | None = None) -> Response:  # fmt: skip
    try:
        view = desk.note(variant, encounter_id)
        signer = desk.signer(variant, request.headers) if view.record.status == "AWAITING_REVIEW" else None
    except NotFound as error:
        return Response(HTTPStatus.NOT_FOUND, message_page("Not found", str(error), request.base, request.account))
    except reviews.ReviewRefused as error:
        return Response(
            HTTPStatus.CONFLICT, message_page("Cannot show the note", error.message, request.base, request.account)
        )
    except (ValidationError, ValueError, ClientError) as error:
        # Never the error's text: pydantic's message quotes the note.
        return Response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            message_page(
                "Cannot show the note",
                f"the stored note or transcript cannot be read ({type(error).__name__})",
                request.base,
                request.account,
            ),
        )
    return Response(status, note_page(view, desk.now(), signer, refused, request.base, request.account))
