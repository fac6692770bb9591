"""The review page's HTML: the worklist and the note view, server-rendered with html.escape and a few lines of
inline script (no build step). Note and transcript text are PHI and untrusted model output: everything is
escaped, and the Content-Security-Policy allows only the page's own style and script, by their hashes (no inline
style or event attribute is written). Every form is made by `form`, which adds its session's token."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from clinical.policy import MAX_REDRAFTS
from clinical.stages import Stage
from review_desk.desk import (
    ACCEPT_FIELD,
    ADD_FIELD,
    AFTER_FIELD,
    CATEGORY_FIELD,
    EDIT_FIELD,
    OWN_FIELD,
    VERSION_FIELD,
    NoteUnderReview,
    Refusal,
    Worklist,
)

if TYPE_CHECKING:
    from clinical.conversation import Segment
    from clinical.notes import NoteOrder, NoteStatement
    from clinical.review import NoteVersion, ReviewRecord

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
.statement:focus { outline: 2px solid #2c6ecb; } .sid { color: #889; font-size: 12px; margin-right: 4px; }
.author { font-size: 12px; font-weight: 600; margin-left: 6px; padding: 0 4px; border-radius: 3px; }
.author.clinician { background: #e3f1e8; color: #1d6f42; } .accepted { display: block; font-size: 13px; color: #445; }
.refused-statement { outline: 2px solid #c0392b; } del { color: #7b1d15; } ins { color: #1d6f42; text-decoration: none; }
.change { font-size: 12px; color: #7b1d15; } .banner.signed { background: #e3f1e8; border-color: #1d6f42; }
.adder summary { font-size: 13px; color: #2c6ecb; cursor: pointer; } label.own, label.accept { font-size: 13px; display: block; }
"""

# Clicking a statement (or Enter / Space on it) highlights the segments it cites; Edit opens its text.
SCRIPT = """
function select(statement) {
  document.querySelectorAll('.selected').forEach(function (e) { e.classList.remove('selected'); });
  document.querySelectorAll('.highlighted').forEach(function (e) { e.classList.remove('highlighted'); });
  statement.classList.add('selected');
  var cited = statement.dataset.evidence.split(' ').map(function (n) { return document.getElementById('segment-' + n); });
  cited.forEach(function (segment) { if (segment) { segment.classList.add('highlighted'); } });
  if (cited[0]) { cited[0].scrollIntoView({block: 'nearest'}); }
}
document.querySelectorAll('.statement').forEach(function (statement) {
  statement.addEventListener('click', function (event) {
    if (event.target.closest('textarea, button, input, label')) { return; }
    select(statement);
  });
  statement.addEventListener('keydown', function (event) {
    if (event.target !== statement || (event.key !== 'Enter' && event.key !== ' ')) { return; }
    event.preventDefault();
    select(statement);
  });
});
function changing() {
  var button = document.getElementById('sign-button');
  if (button) { button.textContent = 'Sign with changes'; }
}
document.querySelectorAll('.edit-button').forEach(function (button) {
  button.addEventListener('click', function () {
    var editor = document.getElementById('editor-' + button.dataset.statement);
    var text = document.getElementById('edit-' + button.dataset.statement);
    editor.hidden = false; text.disabled = false; text.focus();
    changing();
  });
});
document.querySelectorAll('#note input[type=checkbox], #note textarea:not([disabled])').forEach(function (field) {
  field.addEventListener('change', changing);
});
if (document.querySelector('.editor:not([hidden]), .adder[open], .refused-statement')) { changing(); }
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


def _moment(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"


def _due(due_at: datetime, now: datetime) -> str:
    hours = (due_at - now).total_seconds() / 3600
    if hours < 0:
        return f"<span class=overdue>expired {_moment(due_at)}</span>"
    return f"{_moment(due_at)} <span class=cites>(in {hours:.0f} h)</span>"


# The note view's first path segment (a URL's, not the bucket's notes/ prefix).
NOTE_VIEW = "notes"


def note_path(variant: str, encounter_id: str) -> str:
    """The note view's path, relative to the page's base."""
    return f"{NOTE_VIEW}/{escape(variant)}/{escape(encounter_id)}"


def worklist_page(worklist: Worklist, now: datetime, base: str = "/", account: str | None = None,
                  everything: bool = False) -> str:  # fmt: skip
    """A page of the worklist: the notes awaiting review, oldest first (`everything`: every review, by encounter
    id, with its stage), each with how many of its statements are flagged, and a link to the next page."""
    items = worklist.items
    rows = "".join(
        f"<tr class='review {escape(item.stage.lower())}' data-encounter='{escape(item.encounter_id)}'"
        f" data-variant='{escape(item.variant)}'>"
        f"<td><a href='{note_path(item.variant, item.encounter_id)}'>{escape(item.encounter_id)}</a></td>"
        f"<td>{escape(item.variant)}</td><td class=status>{escape(item.stage)}</td>"
        f"<td>{_moment(item.opened_at)}</td>"
        f"<td class=due>{_due(item.due_at, now) if item.stage == Stage.AWAITING_REVIEW else '-'}</td>"
        f"<td>{item.version}</td><td class=flagged>{_flagged(item.flagged)}</td></tr>"
        for item in items
    )
    query = [("all", "1")] if everything else []
    more = (
        f"<p><a id=next-page href='./?{escape(urlencode(query + [(AFTER_FIELD + v, k) for v, k in worklist.after.items()]))}'>"
        "Next page</a></p>"
        if worklist.after
        else ""
    )
    table = (
        "<table><thead><tr><th>encounter</th><th>variant</th><th>stage</th><th>opened</th><th>due</th>"
        f"<th>version</th><th>flagged</th></tr></thead><tbody>{rows}</tbody></table>"
        if items
        else f"<p>{'No reviews.' if everything else 'No notes awaiting review.'}</p>"
    )
    title, other = (
        ("Every review, by encounter", "<a id=show-awaiting href='./'>Awaiting review only</a>")
        if everything
        else ("Awaiting review, oldest first", "<a id=show-all href='./?all=1'>Signed, sent back and expired too</a>")
    )
    return _page("Worklist", f"<h1>{title}</h1><p>{other}</p>{table}{more}", base, account)


def _flagged(flagged: int | None) -> str:
    if flagged is None:
        return "-"
    return f"<span class=flag>{flagged} flagged</span>" if flagged else "0"


def _segment(segment: Segment, roles: Mapping[str, str]) -> str:
    role = roles.get(segment.speaker, segment.speaker)
    return (
        f"<li class=segment id='segment-{segment.number}' data-segment='{segment.number}'>"
        f"<span class=number>{segment.number}</span><span class=role>{escape(role)}</span>"
        f"<span>{escape(segment.text)}</span></li>"
    )


@dataclass(frozen=True)
class _Shown:
    """How the note view shows one statement: what the review may do with it, and what the clinician typed."""

    editable: bool
    typed: Mapping[str, list[str]]
    refused: str | None
    draft_text: str | None = None  # the signed view: the text it had in the version the clinician changed
    removed: bool = False


def _cites(evidence: list[int]) -> str:
    return f"<span class=cites>[{escape(', '.join(str(n) for n in evidence))}]</span>" if evidence else ""


def _statement(section: str, item: NoteStatement | NoteOrder, flag: str | None, shown: _Shown) -> str:
    """One statement (or order): its id, text and citations, who wrote it, its flag, and while the review is
    open its editor; a refused change is shown open with what was typed."""
    from clinical.notes import NoteOrder

    sid = escape(item.id)
    typed = shown.typed.get(f"{EDIT_FIELD}{item.id}")
    category = f"<span class=order-category>{escape(item.category)}</span>" if isinstance(item, NoteOrder) else ""
    author = (
        "<span class='author clinician'>clinician</span>"
        + ("" if item.evidence else "<span class=cites> their own statement, not from the recording</span>")
        if item.author == "clinician"
        else ""
    )
    warning = ""
    if flag is not None:
        accepted = item.accepted or bool(shown.typed.get(f"{ACCEPT_FIELD}{item.id}"))
        warning = f"<span class=flag>Not supported by its evidence: {escape(flag)}</span>"
        if item.accepted:
            warning += "<span class=accepted>Accepted as it is by the signer.</span>"
        elif shown.editable:
            warning += (
                f"<label class=accept><input type=checkbox form=sign-form name='{ACCEPT_FIELD}{sid}'"
                f"{' checked' if accepted else ''}> Accept as it is</label>"
            )
    text = escape(item.text)
    if shown.removed:
        text = f"<del>{text}</del> <span class=change>removed by the clinician</span>"
    elif shown.draft_text is not None and shown.draft_text != item.text:
        text = f"<del>{escape(shown.draft_text)}</del> <ins>{text}</ins>"
    editor = ""
    if shown.editable:
        opened = typed is not None
        own = bool(shown.typed.get(f"{OWN_FIELD}{item.id}"))
        editor = (
            f"<button type=button class=edit-button data-statement='{sid}' aria-controls='edit-{sid}'>Edit</button>"
            f"<span class=editor id='editor-{sid}'{'' if opened else ' hidden'}>"
            f"<textarea id='edit-{sid}' name='{EDIT_FIELD}{sid}' form=sign-form rows=2"
            f" aria-label='New text of {sid} (empty removes it)'{'' if opened else ' disabled'}>"
            f"{escape(typed[0] if opened else item.text)}</textarea>"
            f"<label class=own><input type=checkbox form=sign-form name='{OWN_FIELD}{sid}'{' checked' if own else ''}>"
            " My own statement (not from the recording)</label></span>"
        )
    refused = shown.refused == item.id
    return (
        f"<li class='statement{' flagged' if flag is not None and not item.accepted else ''}"
        f"{' refused-statement' if refused else ''}{' removed' if shown.removed else ''}' id='statement-{sid}'"
        f" data-statement='{sid}' data-evidence='{' '.join(str(n) for n in item.evidence)}' tabindex=0>"
        f"{warning}<span class=sid>{sid}</span> {category}{text} {_cites(item.evidence)}{author}{editor}</li>"
    )


def _adder(section: str, typed: Mapping[str, list[str]]) -> str:
    """Where the clinician adds statements to a section (one per line), the empty ones included."""
    from clinical.templates import ORDER_CATEGORIES, ORDERS

    name = f"{ADD_FIELD}{section}"
    value = (typed.get(name) or [""])[0]
    category = ""
    if section == ORDERS:
        chosen = (typed.get(f"{CATEGORY_FIELD}{ORDERS}") or ["medication"])[0]
        options = "".join(f"<option{' selected' if c == chosen else ''}>{escape(c)}</option>" for c in ORDER_CATEGORIES)
        category = f"<select form=sign-form name='{CATEGORY_FIELD}{ORDERS}' aria-label='Category'>{options}</select>"
    return (
        f"<details class=adder{' open' if value else ''}><summary>Add a statement</summary>{category}"
        f"<textarea form=sign-form name='{escape(name)}' rows=2 aria-label='Statements to add, one per line'>"
        f"{escape(value)}</textarea></details>"
    )


def note_page(view: NoteUnderReview, now: datetime, signer: str | None, refused: Refusal | None = None,
              base: str = "/", account: str | None = None, token: str = "") -> str:  # fmt: skip
    """The note beside its transcript. Awaiting review: every statement editable (its id names it), flagged
    ones to accept, statements to add to any section, sign or send back. Signed: who signed and when, and the
    clinician's changes against the version they reviewed."""
    from clinical.review import MAX_REASON_CHARS
    from clinical.templates import ORDERS

    record, note = view.record, view.note
    awaiting = record.status == "AWAITING_REVIEW" and not record.expired(now)
    typed = refused.form if refused else {}
    latest = record.versions[-1]
    draft_items = {item.id: (section, item) for section, item in view.draft.items()} if view.draft else {}
    kept = {item.id for _section, item in note.items()}
    removed = [(section, item) for item_id, (section, item) in draft_items.items() if item_id not in kept]

    def shown(item) -> _Shown:
        before = draft_items.get(item.id)
        return _Shown(
            editable=awaiting,
            typed=typed,
            refused=refused.statement if refused else None,
            draft_text=before[1].text if before and item.id in latest.edited else None,
        )

    def listed(section: str, items, title: str, empty: str) -> str:
        gone = [item for where, item in removed if where == section]
        rows = "".join(_statement(section, item, _flag_reason(note, item.id), shown(item)) for item in items) + "".join(
            _statement(section, item, None, _Shown(False, {}, None, removed=True)) for item in gone
        )
        return (
            f"<h2>{escape(title)}</h2><ul data-section='{escape(section)}'>{rows or f'<li class=cites>{empty}</li>'}</ul>"
            + (_adder(section, typed) if awaiting else "")
        )

    sections = "".join(listed(s.name, s.statements, s.title, "Not discussed.") for s in note.sections)
    orders = listed(ORDERS, note.medications_and_orders, "Medications and orders", "None.")
    roles = {speaker.speaker_label: speaker.role.capitalize() for speaker in note.speakers}
    transcript = "".join(_segment(segment, roles) for segment in view.segments)
    path = note_path(view.variant, record.encounter_id)
    version_field = f"<input type=hidden name={VERSION_FIELD} value='{record.version}'>"
    actions = ""
    if awaiting:
        actions = (
            "<div class=actions>"
            + form(
                "sign-form",
                f"{path}/sign",
                token,
                f"{version_field}<button id=sign-button class=sign type=submit>Sign</button>",
            )
            + form(
                "send-back-form",
                f"{path}/send-back",
                token,
                f"{version_field}<label>Reason <input name=reason size=40 maxlength={MAX_REASON_CHARS} required"
                f" value='{escape((typed.get('reason') or [''])[0])}'></label> "
                "<button type=submit>Send back for a redraft</button>",
            )
            + f"</div><p class=cites>You sign version {record.version} as {escape(signer or '')}. Edit a statement to "
            "change it (empty text removes it); what its cited segments do not say is refused unless you mark it as "
            f"your own. Sending back has the note drafted again with your reason ({_redrafts_left(record)}).</p>"
        )
    banner = (
        f"<p class='banner signed' id=signed-banner>Signed note, version {record.version}: signed by "
        f"{escape(record.signed_by or '')} at {_moment(record.signed_at)}"
        + (f" ({_changes(latest)})" if latest.based_on is not None else "")
        + "</p>"
        if record.status == "SIGNED" and record.signed_at
        else f"<p class=banner>{escape(note.review_notice)}</p>"
    )
    body = (
        f"<h1>{escape(record.encounter_id)} <span class=cites>({escape(view.variant)})</span></h1>"
        + (f"<p class=refused role=alert>{escape(refused.message)} (nothing was changed)</p>" if refused else "")
        + f"<p><span class=status id=review-status>{escape(record.status)}</span>{_where(record, now)}; "
        f"version {record.version}, template {escape(note.template)}</p>"
        + _redraft_line(record)
        + f"{banner}{actions}"
        + "<div class=columns><section class=panel id=note>"
        + f"{sections}{orders}</section>"
        + f"<section class='panel transcript' id=transcript><h2>Transcript</h2><ul>{transcript}</ul></section></div>"
    )
    return _page(f"{record.encounter_id} ({view.variant})", body, base, account)


def _flag_reason(note, statement_id: str) -> str | None:
    flag = note.flag_of(statement_id)
    return flag.reason if flag is not None else None


def _changes(version: NoteVersion) -> str:
    parts = [
        f"{len(ids)} {what}"
        for ids, what in (
            (version.edited, "edited"),
            (version.removed, "removed"),
            (version.added, "added"),
            (version.accepted, "accepted as flagged"),
        )
        if ids
    ]
    return f"the clinician's changes to version {version.based_on}: " + (", ".join(parts) or "none")


def _redrafts_left(record: ReviewRecord) -> str:
    left = MAX_REDRAFTS - record.redrafts
    return f"{left} redraft{'s' if left != 1 else ''} left" if left else "no redraft left: edit and sign"


def _where(record: ReviewRecord, now: datetime) -> str:
    """What the review's status means now, in a line."""
    if record.status == "SIGNED":
        return f" by {escape(record.signed_by or '')} at {_moment(record.signed_at)}" if record.signed_at else ""
    if record.status == "SENT_BACK":
        return (
            f" by {escape(record.sent_back_by or '')} at {_moment(record.sent_back_at)}: {escape(record.reason or '')}."
            f" <span id=next-step>The model is drafting it again with this reason (redraft {record.redrafts + 1} of at"
            f" most {MAX_REDRAFTS}); it comes back to the worklist as version {record.version + 1}.</span>"
        )
    if record.status == "REVIEW_EXPIRED":
        return f" at {_moment(record.expired_at)}: nobody signed it within its window; the draft stands, unsigned"
    return f", due {_due(record.due_at, now)}"


def _redraft_line(record: ReviewRecord) -> str:
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
