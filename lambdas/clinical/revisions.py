"""A clinician's changes to a note before signing, and the version they make.

Statements are named by their ids (s3, o1, c2), never by a position another change could shift. A statement
can be edited, removed (its new text empty) or, when the unsupported-claim check flagged it, accepted as it
is; a statement can be added to any section, the empty ones and the medications and orders included. An
edited statement is checked against the segments it cites (clinical.claims): one they do not support is
refused, unless the clinician signs it as their own (an exam finding, a chart fact), which then cites nothing
and is never shown as the transcript's. A flagged statement left as it is blocks the signature until the
clinician accepts it. The revision names exactly the statements changed; pure, it reads nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from clinical.claims import Statement, check_cited
from clinical.conversation import Segment
from clinical.errors import ReviewRefused
from clinical.notes import STATEMENT_ID, Note, NoteOrder, NoteStatement
from clinical.templates import ORDERS, OrderCategory

# A statement is a sentence or a few: a clinician's text longer than this is refused, not cut.
MAX_STATEMENT_CHARS = 2000


class Addition(BaseModel):
    """A statement the clinician adds: to a section, or to the medications and orders (with its category)."""

    model_config = ConfigDict(frozen=True)

    section: str
    text: str
    category: OrderCategory = "other"


class Changes(BaseModel):
    """What a clinician changes in the version they reviewed: new text by statement id ("" removes it),
    statements added, edited statements signed as the clinician's own (not checked against the recording),
    and flagged statements accepted as they are."""

    model_config = ConfigDict(frozen=True)

    # {} and [] rather than default_factory: pydantic copies a mutable default for each instance (clinical.notes).
    edits: dict[str, str] = {}
    added: list[Addition] = []
    own: list[str] = []
    accepted: list[str] = []


@dataclass(frozen=True)
class Revision:
    """The version the changes make, and the ids of exactly the statements they changed, in the note's order."""

    note: Note
    edited: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.edited or self.removed or self.added or self.accepted)


def statement_id(text: str) -> str:
    """A statement id as typed, checked whole (ASCII digits only); ReviewRefused otherwise, without quoting it."""
    candidate = text.strip()
    if not STATEMENT_ID.fullmatch(candidate):
        raise ReviewRefused("a statement is named by its id: s, o or c and a number (s3, o1, c2), as the note shows")
    return candidate


def _text(value: str, what: str) -> str:
    text = value.strip()
    if len(text) > MAX_STATEMENT_CHARS:
        raise ReviewRefused(f"{what} has {len(text)} characters; a statement has at most {MAX_STATEMENT_CHARS}")
    return text


def revise(note: Note, changes: Changes, segments: Callable[[], Sequence[Segment]]) -> Revision:
    """The note with the clinician's changes, or ReviewRefused (naming the statement) for an id the note does
    not have, an edit its cited segments do not support (unless it is the clinician's own), a flagged statement
    left unaccepted, an addition to no section, or a note left without statements. `segments` gives the
    transcript's segments, read only when an edit is checked."""
    items = items_by_id(note)
    where = {item.id: section for section, item in note.items()}
    for named in (*changes.edits, *changes.own, *changes.accepted):
        if statement_id(named) not in where:
            raise ReviewRefused(f"the note has no statement {named}: it may have been removed or redrafted", named)
    for named in changes.own:
        if named not in changes.edits:
            raise ReviewRefused(f"statement {named} is marked as your own but not edited: edit it too", named)
    for named in changes.accepted:
        if named in changes.edits:
            raise ReviewRefused(f"statement {named} is both edited and accepted as it is: choose one", named)
        if note.flag_of(named) is None:
            raise ReviewRefused(f"statement {named} is not flagged: there is nothing to accept", named)
    replaced: dict[str, NoteStatement | NoteOrder | None] = {}
    for named, value in changes.edits.items():
        item = items[named]
        text = _text(value, f"the new text of {named}")
        if text == item.text:
            continue  # opened, not changed
        if not text:
            replaced[named] = None
            continue
        own = named in changes.own
        if not own:
            verdict = check_cited(Statement(where[named], text, tuple(item.evidence)), segments())
            if not verdict.supported:
                raise ReviewRefused(
                    f"the edited statement {named} is not supported by the segments it cites: {verdict.reason}. "
                    "Sign it as your own statement (not from the recording) to keep it",
                    named,
                )
        replaced[named] = _rewritten(item, text, [] if own else list(item.evidence))
    kept_flags = []
    for flag in note.flagged:
        if flag.statement in replaced:
            continue  # edited (and checked, or the clinician's own) or removed
        if flag.statement is not None and flag.statement not in changes.accepted:
            raise ReviewRefused(
                f"statement {flag.statement} is flagged: {flag.reason}. Edit it, remove it, or accept it as it is",
                flag.statement,
            )
        kept_flags.append(flag)
    accepted = set(changes.accepted)
    next_number = 1 + max((int(i[1:]) for i in items if i.startswith("c")), default=0)
    additions: dict[str, list[NoteStatement | NoteOrder]] = {}
    added = []
    names = {section.name for section in note.sections} | {ORDERS}
    for addition in changes.added:
        if addition.section not in names:
            raise ReviewRefused(
                f"the note has no section {addition.section[:40]!r}; its sections: {', '.join(sorted(names))}"
            )
        text = _text(addition.text, "an added statement")
        if not text:
            raise ReviewRefused("an added statement needs its text")
        new_id = f"c{next_number}"
        next_number += 1
        if addition.section == ORDERS:
            new: NoteStatement | NoteOrder = NoteOrder(
                id=new_id, category=addition.category, description=text, author="clinician"
            )
        else:
            new = NoteStatement(id=new_id, text=text, author="clinician")
        additions.setdefault(addition.section, []).append(new)
        added.append(new_id)

    def kept(item):
        if item.id in replaced:
            return replaced[item.id]
        return item.model_copy(update={"accepted": True}) if item.id in accepted else item

    sections = [
        section.model_copy(
            update={
                "statements": [s for s in map(kept, section.statements) if s is not None]
                + additions.get(section.name, [])
            }
        )
        for section in note.sections
    ]
    orders = [o for o in map(kept, note.medications_and_orders) if o is not None] + additions.get(ORDERS, [])
    if not orders and not any(section.statements for section in sections):
        raise ReviewRefused("a signed note needs at least one statement: send the note back instead")
    revised = note.model_copy(update={"sections": sections, "medications_and_orders": orders, "flagged": kept_flags})
    order = [item.id for _section, item in note.items()]
    return Revision(
        note=revised,
        edited=[i for i in order if i in replaced and replaced[i] is not None],
        removed=[i for i in order if i in replaced and replaced[i] is None],
        added=added,
        accepted=[i for i in order if i in accepted],
    )


def items_by_id(note: Note) -> dict[str, NoteStatement | NoteOrder]:
    return {item.id: item for _section, item in note.items()}


def _rewritten(item: NoteStatement | NoteOrder, text: str, evidence: list[int]) -> NoteStatement | NoteOrder:
    """The statement as the clinician wrote it: theirs, citing what it was checked against (nothing, if their own)."""
    field_name = "description" if isinstance(item, NoteOrder) else "text"
    return item.model_copy(update={field_name: text, "evidence": evidence, "author": "clinician", "accepted": False})
