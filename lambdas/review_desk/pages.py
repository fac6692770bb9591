"""The review page's HTML: the worklist and the note view, server-rendered with html.escape and a few lines of
inline script (no build step). Note and transcript text are PHI and untrusted model output: everything is
escaped, and the Content-Security-Policy allows only the page's own style and script, by their hashes (no inline
style or event attribute is written). Every form is made by `form`, which adds its session's token."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from html import escape

from clinical import review as reviews
from clinical.conversation import Segment
from clinical.policy import MAX_REDRAFTS
from review_desk.desk import EDIT_FIELD, Awaiting, NoteUnderReview

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2433; background: #f5f6f8; }
header { background: #1d3557; color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: baseline; }
header a { color: #fff; } main { padding: 16px 24px; } .account { margin-left: auto; }
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


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# The page's own STYLE and SCRIPT run by their hashes: an injected <style>, <script> or attribute does not.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_source_hash(STYLE)}; script-src {_source_hash(SCRIPT)}; img-src data:; "
    "form-action 'self'; base-uri 'self'; frame-ancestors 'none'"
)
# The hidden field of every form: the session's token, without which review_desk.app refuses the POST.
FORM_TOKEN_FIELD = "form-token"  # noqa: S105 (a field's name, not a secret)


def _page(title: str, body: str, base: str, account: str | None = None) -> str:
    """A whole page; its links are relative to `base`, the path the page is served under ("/" locally, the API
    stage's path on AWS). With `account` (a signed-in clinician's name, on AWS), the header names them and
    offers to sign out."""
    signed_in = (
        f"<span class=account>{escape(account)}</span><a id=sign-out href='logout'>Sign out</a>" if account else ""
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><base href='{escape(base)}'>"
        f"<title>{escape(title)}</title><link rel=icon href='data:,'><style>{STYLE}</style></head><body>"
        f"<header><strong>Clinical scribe: review</strong><a href='./'>Worklist</a>{signed_in}</header>"
        f"<main>{body}</main>"
        f"<script>{SCRIPT}</script></body></html>"
    )


def form(form_id: str, action: str, token: str, fields: str) -> str:
    """One of the page's forms: posted (urlencoded, the browser's default) to `action`, with the session's token."""
    return (
        f"<form id={form_id} method=post action='{action}'>"
        f"<input type=hidden name={FORM_TOKEN_FIELD} value='{escape(token)}'>{fields}</form>"
    )


def _moment(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _due(record: reviews.ReviewRecord, now: datetime) -> str:
    hours = (record.due_at - now).total_seconds() / 3600
    if hours < 0:
        return f"<span class=overdue>expired {_moment(record.due_at)}</span>"
    return f"{_moment(record.due_at)} <span class=cites>(in {hours:.0f} h)</span>"


# The note view's first path segment (a URL's, not the bucket's notes/ prefix).
NOTE_VIEW = "notes"


def note_path(variant: str, encounter_id: str) -> str:
    """The note view's path, relative to the page's base."""
    return f"{NOTE_VIEW}/{escape(variant)}/{escape(encounter_id)}"


def worklist_page(items: list[Awaiting], now: datetime, base: str = "/", account: str | None = None) -> str:
    rows = "".join(
        f"<tr class=awaiting data-encounter='{escape(item.record.encounter_id)}' data-variant='{escape(item.variant)}'>"
        f"<td><a href='{note_path(item.variant, item.record.encounter_id)}'>{escape(item.record.encounter_id)}</a></td>"
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
    return _page("Worklist", f"<h1>Awaiting review, oldest first</h1>{table}", base, account)


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


def note_page(view: NoteUnderReview, now: datetime, signer: str | None, refused: str | None = None,
              base: str = "/", account: str | None = None, token: str = "") -> str:  # fmt: skip
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
    path = note_path(view.variant, record.encounter_id)
    if awaiting:
        actions = (
            "<div class=actions>"
            + form("sign-form", f"{path}/sign", token, "<button id=sign-button class=sign type=submit>Sign</button>")
            + form(
                "send-back-form",
                f"{path}/send-back",
                token,
                f"<label>Reason <input name=reason size=40 maxlength={reviews.MAX_REASON_CHARS}></label> "
                "<button type=submit>Send back for a redraft</button>",
            )
            + f"</div><p class=cites>You sign as {escape(signer or '')}.</p>"
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
    return _page(f"{record.encounter_id} ({view.variant})", body, base, account)


def _redraft_line(record: reviews.ReviewRecord) -> str:
    """For a redraft: why the version before it was sent back, as the model was told."""
    latest = record.versions[-1]
    if latest.feedback is None:
        return ""
    return (
        f"<p class=cites id=redraft>Redraft {record.redrafts} of at most {MAX_REDRAFTS}, after: "
        f"{escape(latest.feedback)}</p>"
    )


def message_page(title: str, message: str, base: str = "/", account: str | None = None) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p class=refused role=alert>{escape(message)}</p>", base, account)
