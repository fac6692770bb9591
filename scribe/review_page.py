"""The clinician's review page: the worklist of notes awaiting review in every deployment, oldest first, and a
note view beside its transcript, where clicking a statement highlights the segments it cites; sign, edit then
sign, or send back, one click each.

Server-rendered with the standard library (http.server, html.escape) and a few lines of inline script: no build
step. Every action goes through clinical.review exactly as `scribe sign` and `scribe send-back` do, as the
identity that `ReviewDesk.identity` returns: the caller's AWS identity here; behind a Cognito user pool it would
be the signed-in clinician's, read from the request. Note and transcript text are PHI and untrusted model
output: everything is escaped, and nothing but the method, path and status is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import ValidationError

from clinical import review as reviews
from clinical.conversation import Segment
from clinical.errors import ContractViolation
from clinical.layout import ENCOUNTER_ID_PATTERN, transcript_key
from clinical.notes import Note
from clinical.policy import MAX_REDRAFTS
from clinical.transcription import read_transcript
from scribe.target import Deployment

log = logging.getLogger("scribe.review_page")

# Who acts, from the deployment acted on and the request's headers (where an authenticating proxy puts the user).
Identity = Callable[[Deployment, Mapping[str, str]], str]
REFUSED = (reviews.ReviewRefused, ContractViolation)
# The page's own inline style and script, forms posted to itself, nothing loaded from anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'"
)
EDIT_FIELD = "edit."  # edit.<section>.<index>: a statement's new text, sent only for the statements opened


def caller_identity(deployment: Deployment, _headers: Mapping[str, str]) -> str:
    """The caller's AWS identity, as STS reports it (as `scribe sign` records it)."""
    return deployment.client("sts").get_caller_identity()["Arn"]


@dataclass(frozen=True)
class Awaiting:
    variant: str
    record: reviews.ReviewRecord


@dataclass(frozen=True)
class NoteUnderReview:
    variant: str
    record: reviews.ReviewRecord
    note: Note
    segments: tuple[Segment, ...]


class NotFound(Exception):
    """No such deployment or review (404)."""


@dataclass
class ReviewDesk:
    """What the page reads and does, per deployment (variant), each through clinical.review."""

    deployments: Mapping[str, Deployment]
    identity: Identity = caller_identity

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _deployment(self, variant: str) -> Deployment:
        if variant not in self.deployments:
            raise NotFound(f"no {variant} deployment is served here")
        return self.deployments[variant]

    def worklist(self) -> list[Awaiting]:
        """The notes awaiting review in every deployment, oldest first."""
        found = [
            Awaiting(variant, record)
            for variant, deployment in self.deployments.items()
            for record in reviews.reviews(deployment.client("s3"), deployment.bucket)
            if record.status == "AWAITING_REVIEW"
        ]
        return sorted(found, key=lambda item: item.record.opened_at)

    def note(self, variant: str, encounter_id: str) -> NoteUnderReview:
        """The review, its note's latest version, and the transcript's segments."""
        deployment = self._deployment(variant)
        s3 = deployment.client("s3")
        found = reviews.read_review(s3, deployment.bucket, encounter_id)
        if found is None:
            raise NotFound(f"encounter {encounter_id} has no review in {variant}")
        record = found[0]
        note = reviews.current_note(s3, deployment.bucket, record)
        segments = read_transcript(s3, deployment.bucket, transcript_key(encounter_id)).segments
        return NoteUnderReview(variant, record, note, segments)

    def signer(self, variant: str, headers: Mapping[str, str]) -> str:
        return self.identity(self._deployment(variant), headers)

    def sign(self, variant: str, encounter_id: str, edits: list[reviews.Edit], headers: Mapping[str, str],
             patient: str | None = None) -> reviews.SignedNote:  # fmt: skip
        deployment = self._deployment(variant)
        return reviews.sign(
            deployment.client("s3"),
            deployment.bucket,
            encounter_id,
            clinician=self.identity(deployment, headers),
            edits=edits,
            bus=deployment.outputs.get("DomainEventBusName"),
            stepfunctions=deployment.client("stepfunctions"),
            events=deployment.client("events"),
            patient=patient,
        )

    def send_back(
        self, variant: str, encounter_id: str, reason: str, headers: Mapping[str, str]
    ) -> reviews.ReviewRecord:
        deployment = self._deployment(variant)
        return reviews.send_back(
            deployment.client("s3"),
            deployment.bucket,
            encounter_id,
            clinician=self.identity(deployment, headers),
            reason=reason,
            bus=deployment.outputs.get("DomainEventBusName"),
            stepfunctions=deployment.client("stepfunctions"),
            events=deployment.client("events"),
        )


def edits_from(form: Mapping[str, list[str]], note: Note) -> list[reviews.Edit]:
    """The statements whose text the form changes (an opened but unchanged statement is no edit). A statement
    the note does not have is passed on, for clinical.review to refuse: never signed without the edit."""
    current = {f"{s.name}.{i}": t.text for s in note.sections for i, t in enumerate(s.statements)}
    edits = []
    for name, values in form.items():
        if not name.startswith(EDIT_FIELD):
            continue
        label = name.removeprefix(EDIT_FIELD)
        section, _, index = label.rpartition(".")
        if not index.isdigit():
            raise reviews.ReviewRefused(f"the form names no statement {label!r}")
        if values[0].strip() != current.get(label):
            edits.append(reviews.Edit(section=section, index=int(index), text=values[0]))
    return edits


# ---- rendering ------------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2433; background: #f5f6f8; }
header { background: #1d3557; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #fff; } main { padding: 16px 24px; }
.banner { background: #fff3cd; border: 1px solid #e0c36c; padding: 6px 12px; margin-bottom: 12px; }
.refused { background: #fde2e1; border: 1px solid #c0392b; color: #7b1d15; padding: 8px 12px; margin-bottom: 12px; }
.status { font-weight: 600; } .overdue { color: #b3261e; font-weight: 600; }
table { border-collapse: collapse; background: #fff; } td, th { padding: 6px 12px; border-bottom: 1px solid #dde; text-align: left; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; align-items: start; }
.panel { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 8px 16px; }
.transcript { position: sticky; top: 8px; max-height: 92vh; overflow: auto; }
h2 { font-size: 16px; margin: 14px 0 4px; } ul { padding-left: 0; list-style: none; margin: 0; }
.statement { padding: 5px 8px; margin: 3px 0; border-left: 4px solid transparent; cursor: pointer; border-radius: 3px; }
.statement:hover { background: #eef3fb; } .statement.selected { background: #dbe8fb; border-left-color: #2c6ecb; }
.statement.flagged { background: #fde2e1; border-left-color: #c0392b; }
.flag { color: #b3261e; font-weight: 600; font-size: 13px; display: block; }
.cites { color: #667; font-size: 12px; }
.edit-button { font-size: 12px; margin-left: 6px; padding: 0 6px; border: 1px solid #ccd; background: #fff;
  color: #2c6ecb; border-radius: 3px; }
textarea { width: 100%; box-sizing: border-box; font: inherit; margin-top: 4px; }
.segment { display: grid; grid-template-columns: 26px 76px 1fr; padding: 4px 8px; margin: 2px 0;
  border-radius: 3px; border-left: 4px solid transparent; }
.segment.highlighted { background: #fff1a8; border-left-color: #e0a800; }
.role { font-size: 12px; font-weight: 600; color: #445; padding-top: 2px; }
.number { color: #889; font-size: 12px; padding-top: 2px; }
.order-category { font-size: 12px; font-weight: 600; color: #445; margin-right: 6px; }
.actions { display: flex; gap: 16px; align-items: end; margin: 12px 0; flex-wrap: wrap; }
button { font: inherit; padding: 4px 12px; cursor: pointer; } .sign { background: #1d6f42; color: #fff; border: 0; }
"""

# Clicking a statement highlights the segments it cites; Edit opens the statement's text for the signature.
SCRIPT = """
document.querySelectorAll('.statement').forEach(function (statement) {
  statement.addEventListener('click', function (event) {
    if (event.target.closest('textarea, button')) { return; }
    document.querySelectorAll('.selected').forEach(function (e) { e.classList.remove('selected'); });
    document.querySelectorAll('.highlighted').forEach(function (e) { e.classList.remove('highlighted'); });
    statement.classList.add('selected');
    var cited = statement.dataset.evidence.split(' ').map(function (n) { return document.getElementById('segment-' + n); });
    cited.forEach(function (segment) { if (segment) { segment.classList.add('highlighted'); } });
    if (cited[0]) { cited[0].scrollIntoView({block: 'nearest'}); }
  });
});
document.querySelectorAll('.edit-button').forEach(function (button) {
  button.addEventListener('click', function () {
    var text = document.getElementById('edit-' + button.dataset.statement);
    text.disabled = false; text.hidden = false; text.focus();
    document.getElementById('sign-button').textContent = 'Sign with edits';
  });
});
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><link rel=icon href='data:,'><style>{STYLE}</style></head><body>"
        f"<header><strong>Clinical scribe: review</strong><a href='/'>Worklist</a></header><main>{body}</main>"
        f"<script>{SCRIPT}</script></body></html>"
    )


def _moment(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _due(record: reviews.ReviewRecord, now: datetime) -> str:
    hours = (record.due_at - now).total_seconds() / 3600
    if hours < 0:
        return f"<span class=overdue>expired {_moment(record.due_at)}</span>"
    return f"{_moment(record.due_at)} <span class=cites>(in {hours:.0f} h)</span>"


def _note_path(variant: str, encounter_id: str) -> str:
    return f"/notes/{escape(variant)}/{escape(encounter_id)}"


def worklist_page(items: list[Awaiting], now: datetime) -> str:
    rows = "".join(
        f"<tr class=awaiting data-encounter='{escape(item.record.encounter_id)}' data-variant='{escape(item.variant)}'>"
        f"<td><a href='{_note_path(item.variant, item.record.encounter_id)}'>{escape(item.record.encounter_id)}</a></td>"
        f"<td>{escape(item.variant)}</td><td>{_moment(item.record.opened_at)}</td>"
        f"<td class=due>{_due(item.record, now)}</td><td>{item.record.versions[-1].version}</td></tr>"
        for item in items
    )
    table = (
        "<table><thead><tr><th>encounter</th><th>variant</th><th>opened</th><th>due</th><th>version</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        if items
        else "<p>No notes awaiting review.</p>"
    )
    return _page("Worklist", f"<h1>Awaiting review, oldest first</h1>{table}")


def _segment(segment: Segment, roles: Mapping[str, str]) -> str:
    role = roles.get(segment.speaker, segment.speaker)
    return (
        f"<li class=segment id='segment-{segment.number}' data-segment='{segment.number}'>"
        f"<span class=number>{segment.number}</span><span class=role>{escape(role)}</span>"
        f"<span>{escape(segment.text)}</span></li>"
    )


def _statement(label: str, text: str, evidence: list[int], flag: str | None, editable: bool) -> str:
    slug = label.replace(".", "-")
    cited = " ".join(str(n) for n in evidence)
    editor = (
        f"<button type=button class=edit-button data-statement='{escape(slug)}'>Edit</button>"
        f"<textarea id='edit-{escape(slug)}' name='{EDIT_FIELD}{escape(label)}' form=sign-form rows=2 disabled hidden>"
        f"{escape(text)}</textarea>"
        if editable
        else ""
    )
    warning = f"<span class=flag>Not supported by its evidence: {escape(flag)}</span>" if flag is not None else ""
    return (
        f"<li class='statement{' flagged' if flag is not None else ''}' id='statement-{escape(slug)}' "
        f"data-statement='{escape(label)}' data-evidence='{cited}' tabindex=0>{warning}{escape(text)} "
        f"<span class=cites>[{escape(', '.join(str(n) for n in evidence))}]</span>{editor}</li>"
    )


def note_page(view: NoteUnderReview, now: datetime, signer: str | None, refused: str | None = None) -> str:
    record, note = view.record, view.note
    awaiting = record.status == "AWAITING_REVIEW" and not record.expired(now)
    flags = {(f.section, f.text): f.reason for f in note.flagged}
    sections = "".join(
        f"<h2>{escape(section.title)}</h2><ul>"
        + "".join(
            _statement(
                f"{section.name}.{index}",
                statement.text,
                statement.evidence,
                flags.get((section.name, statement.text)),
                awaiting,
            )
            for index, statement in enumerate(section.statements)
        )
        + ("" if section.statements else "<li class=cites>Not discussed.</li>")
        + "</ul>"
        for section in note.sections
    )
    orders = "".join(
        f"<li class=statement data-evidence='{' '.join(str(n) for n in order.evidence)}' tabindex=0>"
        f"<span class=order-category>{escape(order.category)}</span>{escape(order.description)} "
        f"<span class=cites>[{escape(', '.join(str(n) for n in order.evidence))}]</span></li>"
        for order in note.medications_and_orders
    )
    roles = {speaker.speaker_label: speaker.role.capitalize() for speaker in note.speakers}
    transcript = "".join(_segment(segment, roles) for segment in view.segments)
    path = _note_path(view.variant, record.encounter_id)
    if awaiting:
        actions = (
            f"<div class=actions><form id=sign-form method=post action='{path}/sign'>"
            "<button id=sign-button class=sign type=submit>Sign</button></form>"
            f"<form id=send-back-form method=post action='{path}/send-back'>"
            f"<label>Reason <input name=reason size=40 maxlength={reviews.MAX_REASON_CHARS}></label> "
            "<button type=submit>Send back for a redraft</button></form></div>"
            f"<p class=cites>You sign as {escape(signer or '')}.</p>"
        )
    else:
        actions = ""
    who = {
        "SIGNED": f" by {escape(record.signed_by or '')} at {_moment(record.signed_at)}" if record.signed_at else "",
        "SENT_BACK": f" by {escape(record.sent_back_by or '')}: {escape(record.reason or '')}",
    }.get(record.status, f", due {_due(record, now)}")
    body = (
        f"<h1>{escape(record.encounter_id)} <span class=cites>({escape(view.variant)})</span></h1>"
        + (f"<p class=refused role=alert>{escape(refused)} (nothing was changed)</p>" if refused else "")
        + f"<p><span class=status id=review-status>{escape(record.status)}</span>{who}; "
        f"version {record.versions[-1].version}, template {escape(note.template)}</p>"
        + _redraft_line(record)
        + f"<p class=banner>{escape(note.review_notice)}</p>{actions}"
        + "<div class=columns><section class=panel id=note>"
        + f"{sections}<h2>Medications and orders</h2><ul>{orders or '<li class=cites>None.</li>'}</ul></section>"
        + f"<section class='panel transcript' id=transcript><h2>Transcript</h2><ul>{transcript}</ul></section></div>"
    )
    return _page(f"{record.encounter_id} ({view.variant})", body)


def _redraft_line(record: reviews.ReviewRecord) -> str:
    """For a redraft: why the version before it was sent back, as the model was told."""
    latest = record.versions[-1]
    if latest.feedback is None:
        return ""
    return (
        f"<p class=cites id=redraft>Redraft {record.redrafts} of at most {MAX_REDRAFTS}, after: "
        f"{escape(latest.feedback)}</p>"
    )


def message_page(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p class=refused role=alert>{escape(message)}</p>")


# ---- serving -------------------------------------------------------------------------------------


def _route(path: str) -> tuple[str, str, str] | None:
    """/notes/<variant>/<encounter_id>[/<action>] as (variant, encounter_id, action); None for anything else."""
    parts = path.strip("/").split("/")
    if len(parts) not in (3, 4) or parts[0] != "notes" or not ENCOUNTER_ID_PATTERN.fullmatch(parts[2]):
        return None
    return parts[1], parts[2], parts[3] if len(parts) == 4 else ""


def handler_for(desk: ReviewDesk) -> type[BaseHTTPRequestHandler]:
    class ReviewPageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._safely(self._get)

        def do_POST(self) -> None:
            self._safely(self._post)

        def _safely(self, respond: Callable[[], None]) -> None:
            try:
                respond()
            except Exception as error:
                # The server's boundary: a one-line page and log line naming the error's type, never its text
                # (which may quote the note). Each response is sent last, so none has begun.
                log.error("review page request failed: %s", type(error).__name__)
                self._answer(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    message_page(
                        "The page failed", f"{type(error).__name__}: `scribe status` shows where the encounter is"
                    ),
                )

        def _get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._answer(HTTPStatus.OK, worklist_page(desk.worklist(), desk.now()))
                return
            route = _route(path)
            if route is None or route[2]:
                self._answer(HTTPStatus.NOT_FOUND, message_page("Not found", "no such page"))
                return
            self._show_note(route[0], route[1], HTTPStatus.OK)

        def _post(self) -> None:
            route = _route(self.path)
            if route is None or route[2] not in ("sign", "send-back"):
                self._answer(HTTPStatus.NOT_FOUND, message_page("Not found", "no such action"))
                return
            variant, encounter_id, action = route
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            try:
                if action == "sign":
                    edits = edits_from(form, desk.note(variant, encounter_id).note)
                    desk.sign(variant, encounter_id, edits, self.headers)
                else:
                    desk.send_back(variant, encounter_id, form.get("reason", [""])[0], self.headers)
            except REFUSED as error:
                self._show_note(variant, encounter_id, HTTPStatus.CONFLICT, refused=error.message)
                return
            except NotFound as error:
                self._answer(HTTPStatus.NOT_FOUND, message_page("Not found", str(error)))
                return
            # Redirect after post: a reload does not act twice.
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", _note_path(variant, encounter_id))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _show_note(self, variant: str, encounter_id: str, status: HTTPStatus, refused: str | None = None) -> None:
            try:
                view = desk.note(variant, encounter_id)
                signer = desk.signer(variant, self.headers) if view.record.status == "AWAITING_REVIEW" else None
            except NotFound as error:
                self._answer(HTTPStatus.NOT_FOUND, message_page("Not found", str(error)))
                return
            except reviews.ReviewRefused as error:
                self._answer(HTTPStatus.CONFLICT, message_page("Cannot show the note", error.message))
                return
            except (ValidationError, ValueError, ClientError) as error:
                # Never the error's text: pydantic's message quotes the note.
                self._answer(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    message_page(
                        "Cannot show the note", f"the stored note or transcript cannot be read ({type(error).__name__})"
                    ),
                )
                return
            self._answer(status, note_page(view, desk.now(), signer, refused))

        def _answer(self, status: HTTPStatus, page: str) -> None:
            data = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")  # PHI: no copy left in the browser's cache
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            log.info("%s", format % args)  # the request line and status: a path names an encounter id at most

    return ReviewPageHandler


def review_server(desk: ReviewDesk, port: int = 0, host: str = "127.0.0.1") -> HTTPServer:
    """The page's server on loopback (port 0: a free one). One request at a time, in the order they come."""
    return HTTPServer((host, port), handler_for(desk))
