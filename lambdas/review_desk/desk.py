"""What the review page reads and does, per deployment (variant), each through clinical.review as the
identity that `ReviewDesk.identity` returns: the caller's AWS identity for the local page, the signed-in
clinician (Cognito) on AWS.

The worklist reads the reviews' index only: the review's, the note's and the transcript's modules are imported
by the note view and the actions, so that the page's function does not compile them at a cold start whose
request is the worklist (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from clinical import review_index as index
from clinical.errors import ContractViolation, DecidedNotSettled, ReviewRefused
from clinical.layout import transcript_key
from clinical.stages import Stage, stage_of_review

if TYPE_CHECKING:
    from clinical.conversation import Segment
    from clinical.notes import Note, SignedNote
    from clinical.review import ReviewRecord
    from clinical.revisions import Changes


class Place(Protocol):
    """A deployment the desk acts on: its bucket, its stack outputs, and clients to reach it."""

    @property
    def bucket(self) -> str: ...

    outputs: Mapping[str, str]

    def client(self, service: str): ...


# Who acts, from the deployment acted on and the request's headers (where an authenticating proxy puts the user).
Identity = Callable[[Place, Mapping[str, str]], str]
REFUSED = (ReviewRefused, ContractViolation)
# The note view's form fields, each named by a statement's id or a section's name.
EDIT_FIELD = "edit."  # edit.<id>: a statement's new text ("" removes it), sent only for the statements opened
OWN_FIELD = "own."  # own.<id>: the edited statement is the clinician's own (not checked against the recording)
ACCEPT_FIELD = "accept."  # accept.<id>: a flagged statement accepted as it is
ADD_FIELD = "add."  # add.<section>: statements the clinician adds, one per line
CATEGORY_FIELD = "category."  # category.medications_and_orders: the category of the orders added
VERSION_FIELD = "version"  # the version the clinician reviewed
AFTER_FIELD = "after."  # after.<variant>: where the worklist's next page starts in that deployment
# Settled or not, a decision stands: the page and the CLI say so rather than fail.
DECIDED = (DecidedNotSettled,)


def caller_identity(deployment: Place, _headers: Mapping[str, str]) -> str:
    """The caller's AWS identity, as STS reports it (as `scribe sign` records it)."""
    return deployment.client("sts").get_caller_identity()["Arn"]


@dataclass(frozen=True)
class Awaiting:
    """A review on the worklist (awaiting, or with --all any status), at the stage its record gives, as every
    view of the encounter names it (clinical.stages): what the worklist shows of it, from the reviews' index
    (awaiting) or from its record (every review)."""

    variant: str
    encounter_id: str
    status: str
    opened_at: datetime
    due_at: datetime
    version: int
    flagged: int | None

    @property
    def stage(self) -> Stage:
        return stage_of_review(self.status)

    def shown(self) -> dict:
        """As `scribe review list --json` shows it."""
        return {
            "encounter_id": self.encounter_id,
            "variant": self.variant,
            "status": self.status,
            "stage": str(self.stage),
            "opened_at": self.opened_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "version": self.version,
            "flagged": self.flagged,
        }

    @classmethod
    def of_record(cls, variant: str, record: ReviewRecord) -> Awaiting:
        return cls(variant, record.encounter_id, record.status, record.opened_at, record.due_at, record.version,
                   record.versions[-1].flagged)  # fmt: skip

    @classmethod
    def of_entry(cls, variant: str, entry: index.Entry) -> Awaiting:
        return cls(
            variant, entry.encounter_id, "AWAITING_REVIEW", entry.opened_at, entry.due_at, entry.version, entry.flagged
        )


# A worklist page: this many notes awaiting review, one listing of the index per deployment; of every review,
# this many records (each read: a listing and a GET per record).
WORKLIST_PAGE = 50
EVERY_REVIEW_PAGE = 8


@dataclass(frozen=True)
class Worklist:
    """One page of the worklist, and where the next page starts in each deployment (empty: this is the last)."""

    items: list[Awaiting]
    after: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NoteUnderReview:
    """A review, its note's latest version, the transcript's segments, and for a clinician's version the version
    they changed (the signed view shows their changes against it)."""

    variant: str
    record: ReviewRecord
    note: Note
    segments: tuple[Segment, ...]
    draft: Note | None = None


@dataclass(frozen=True)
class Refusal:
    """A refused action, shown on the note view it came from: its one line, the statement it is about, and
    everything the clinician typed, kept."""

    message: str
    statement: str | None = None
    form: Mapping[str, list[str]] = field(default_factory=dict)


class NotFound(Exception):
    """No such deployment or review (404)."""


@dataclass
class ReviewDesk:
    """What the page reads and does, per deployment (variant), each through clinical.review."""

    deployments: Mapping[str, Place]
    identity: Identity = caller_identity

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _deployment(self, variant: str) -> Place:
        if variant not in self.deployments:
            raise NotFound(f"no {variant} deployment is served here")
        return self.deployments[variant]

    def worklist(self, everything: bool = False) -> list[Awaiting]:
        """The notes awaiting review in every deployment (`everything`: every review, signed, sent back and
        expired too), oldest first: every page (the CLI's list)."""
        if everything:
            from clinical import review as reviews

            found = [
                Awaiting.of_record(variant, record)
                for variant, deployment in self.deployments.items()
                for record in reviews.reviews(deployment.client("s3"), deployment.bucket, variant=variant)
            ]
            return sorted(found, key=lambda item: item.opened_at)
        items: list[Awaiting] = []
        after: dict[str, str] | None = {}
        while after is not None:
            page = self.page(after=after, size=index.LIST_LIMIT)
            items += page.items
            after = page.after or None
        return items

    def page(self, everything: bool = False, after: Mapping[str, str] | None = None,
             size: int | None = None) -> Worklist:  # fmt: skip
        """One page of the worklist, starting after `after` (each deployment's key, from the page before): of the
        notes awaiting review, oldest first, one listing of the reviews' index per deployment; of every review
        (`everything`), by encounter id, a listing and a read of each record shown."""
        after, size = dict(after or {}), size or (EVERY_REVIEW_PAGE if everything else WORKLIST_PAGE)
        if everything:
            from clinical import review as reviews
        if unknown := sorted(set(after) - set(self.deployments)):
            raise NotFound(f"no {unknown[0]} deployment is served here")
        listed: list[tuple[Awaiting, str]] = []
        truncated: set[str] = set()
        for variant, deployment in self.deployments.items():
            s3, start = deployment.client("s3"), after.get(variant)
            try:
                if everything:
                    found = reviews.review_page(s3, deployment.bucket, size=size, after=start, variant=variant)
                    listed += [(Awaiting.of_record(variant, record), key) for record, key in found.records]
                else:
                    found = index.awaiting(s3, deployment.bucket, size=size, after=start)
                    listed += [(Awaiting.of_entry(variant, entry), entry.key) for entry in found.entries]
            except ValueError as refused:
                raise NotFound(str(refused)) from None
            if found.after is not None:
                truncated.add(variant)
        by_order = (lambda pair: (pair[0].variant, pair[1])) if everything else (lambda pair: pair[1])
        listed.sort(key=by_order)
        shown = listed[:size]
        for item, key in shown:
            after[item.variant] = key
        more = len(listed) > len(shown) or bool(truncated)
        return Worklist([item for item, _ in shown], after if more else {})

    def note(self, variant: str, encounter_id: str) -> NoteUnderReview:
        """The review, its note's latest version, and the transcript's segments."""
        from clinical import review as reviews
        from clinical.transcripts import read_transcript

        deployment = self._deployment(variant)
        s3 = deployment.client("s3")
        found = reviews.read_review(s3, deployment.bucket, encounter_id)
        if found is None:
            raise NotFound(f"encounter {encounter_id} has no review in {variant}")
        record = found[0]
        note = reviews.note_of(s3, deployment.bucket, record)
        latest, draft = record.versions[-1], None
        if latest.based_on is not None:
            changed = next(v for v in record.versions if v.version == latest.based_on)
            draft = reviews.note_of(s3, deployment.bucket, record, changed)
        segments = read_transcript(s3, deployment.bucket, transcript_key(encounter_id)).segments
        return NoteUnderReview(variant, record, note, segments, draft)

    def signer(self, variant: str, headers: Mapping[str, str]) -> str:
        return self.identity(self._deployment(variant), headers)

    def sign(self, variant: str, encounter_id: str, changes: Changes, headers: Mapping[str, str],
             version: int | None = None, patient: str | None = None) -> SignedNote:  # fmt: skip
        from clinical import review as reviews

        return self._act(
            reviews.sign, variant, encounter_id, headers, changes=changes, version=version, patient=patient
        )

    def send_back(self, variant: str, encounter_id: str, reason: str, headers: Mapping[str, str],
                  version: int | None = None) -> ReviewRecord:  # fmt: skip
        from clinical import review as reviews

        return self._act(reviews.send_back, variant, encounter_id, headers, reason=reason, version=version)

    def _act(self, action: Callable, variant: str, encounter_id: str, headers: Mapping[str, str], **details):
        """A clinical.review action on the deployment, as the identity the request names, with the
        deployment's clients: its bucket, its domain bus, and its waiting execution's token."""
        deployment = self._deployment(variant)
        return action(
            deployment.client("s3"),
            deployment.bucket,
            encounter_id,
            clinician=self.identity(deployment, headers),
            bus=deployment.outputs.get("DomainEventBusName"),
            stepfunctions=deployment.client("stepfunctions"),
            events=deployment.client("events"),
            **details,
        )


def version_from(form: Mapping[str, list[str]]) -> int | None:
    """The version the form was made from (ASCII digits only), None when the form does not say."""
    value = (form.get(VERSION_FIELD) or [""])[0].strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ReviewRefused("the form's version is not a number: open the note again")
    return int(value)


def changes_from(form: Mapping[str, list[str]], note: Note) -> Changes:
    """The clinician's changes a form carries: new text of the statements opened (an opened but unchanged one is
    no edit), their own statements, flagged statements accepted, and statements added (one per line). A
    statement the note does not have is passed on, for the review to refuse: never signed without the change."""
    from clinical.revisions import Addition, Changes, statement_id
    from clinical.templates import ORDER_CATEGORIES, ORDERS

    current = {item.id: item.text for _section, item in note.items()}
    edits, own, accepted, added = {}, [], [], []
    category = (form.get(CATEGORY_FIELD + ORDERS) or ["other"])[0]
    if category not in ORDER_CATEGORIES:
        raise ReviewRefused(f"an order's category is one of {', '.join(ORDER_CATEGORIES)}")
    for name, values in form.items():
        if name.startswith(EDIT_FIELD):
            named = statement_id(name.removeprefix(EDIT_FIELD))
            if values[0].strip() != current.get(named):
                edits[named] = values[0]
        elif name.startswith(OWN_FIELD):
            own.append(statement_id(name.removeprefix(OWN_FIELD)))
        elif name.startswith(ACCEPT_FIELD):
            accepted.append(statement_id(name.removeprefix(ACCEPT_FIELD)))
        elif name.startswith(ADD_FIELD):
            section = name.removeprefix(ADD_FIELD)
            added += [
                Addition(section=section, text=line, category=category if section == ORDERS else "other")
                for line in values[0].splitlines()
                if line.strip()
            ]
    # A box ticked for a statement left unedited says nothing to sign: only edited statements are the clinician's.
    return Changes(edits=edits, added=added, own=[i for i in own if i in edits], accepted=accepted)


# ---- rendering ------------------------------------------------------------------------------------
