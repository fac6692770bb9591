"""What the review page reads and does, per deployment (variant), each through clinical.review as the
identity that `ReviewDesk.identity` returns: the caller's AWS identity for the local page, the signed-in
clinician (Cognito) on AWS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from clinical import review as reviews
from clinical.conversation import Segment
from clinical.errors import ContractViolation, DecidedNotSettled
from clinical.layout import transcript_key
from clinical.notes import Note
from clinical.revisions import Addition, Changes, statement_id
from clinical.stages import Stage, stage_of_review
from clinical.templates import ORDER_CATEGORIES, ORDERS
from clinical.transcription import read_transcript


class Place(Protocol):
    """A deployment the desk acts on: its bucket, its stack outputs, and clients to reach it."""

    @property
    def bucket(self) -> str: ...

    outputs: Mapping[str, str]

    def client(self, service: str): ...


# Who acts, from the deployment acted on and the request's headers (where an authenticating proxy puts the user).
Identity = Callable[[Place, Mapping[str, str]], str]
REFUSED = (reviews.ReviewRefused, ContractViolation)
# The note view's form fields, each named by a statement's id or a section's name.
EDIT_FIELD = "edit."  # edit.<id>: a statement's new text ("" removes it), sent only for the statements opened
OWN_FIELD = "own."  # own.<id>: the edited statement is the clinician's own (not checked against the recording)
ACCEPT_FIELD = "accept."  # accept.<id>: a flagged statement accepted as it is
ADD_FIELD = "add."  # add.<section>: statements the clinician adds, one per line
CATEGORY_FIELD = "category."  # category.medications_and_orders: the category of the orders added
VERSION_FIELD = "version"  # the version the clinician reviewed
# Settled or not, a decision stands: the page and the CLI say so rather than fail.
DECIDED = (DecidedNotSettled,)


def caller_identity(deployment: Place, _headers: Mapping[str, str]) -> str:
    """The caller's AWS identity, as STS reports it (as `scribe sign` records it)."""
    return deployment.client("sts").get_caller_identity()["Arn"]


@dataclass(frozen=True)
class Awaiting:
    """A review on the worklist (awaiting, or with --all any status), at the stage its record gives, as every
    view of the encounter names it (clinical.stages)."""

    variant: str
    record: reviews.ReviewRecord

    @property
    def stage(self) -> Stage:
        return stage_of_review(self.record.status)


@dataclass(frozen=True)
class NoteUnderReview:
    """A review, its note's latest version, the transcript's segments, and for a clinician's version the version
    they changed (the signed view shows their changes against it)."""

    variant: str
    record: reviews.ReviewRecord
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
        expired too), oldest first."""
        found = [
            Awaiting(variant, record)
            for variant, deployment in self.deployments.items()
            for record in reviews.reviews(deployment.client("s3"), deployment.bucket, variant=variant)
            if everything or stage_of_review(record.status) == Stage.AWAITING_REVIEW
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
             version: int | None = None, patient: str | None = None) -> reviews.SignedNote:  # fmt: skip
        return self._act(
            reviews.sign, variant, encounter_id, headers, changes=changes, version=version, patient=patient
        )

    def send_back(self, variant: str, encounter_id: str, reason: str, headers: Mapping[str, str],
                  version: int | None = None) -> reviews.ReviewRecord:  # fmt: skip
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
        raise reviews.ReviewRefused("the form's version is not a number: open the note again")
    return int(value)


def changes_from(form: Mapping[str, list[str]], note: Note) -> Changes:
    """The clinician's changes a form carries: new text of the statements opened (an opened but unchanged one is
    no edit), their own statements, flagged statements accepted, and statements added (one per line). A
    statement the note does not have is passed on, for the review to refuse: never signed without the change."""
    current = {item.id: item.text for _section, item in note.items()}
    edits, own, accepted, added = {}, [], [], []
    category = (form.get(CATEGORY_FIELD + ORDERS) or ["other"])[0]
    if category not in ORDER_CATEGORIES:
        raise reviews.ReviewRefused(f"an order's category is one of {', '.join(ORDER_CATEGORIES)}")
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
