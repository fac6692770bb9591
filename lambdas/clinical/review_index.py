"""The reviews' index: which reviews need choreography's sweep and when, and which await a clinician, found
by listing a few keys instead of reading every review record ever kept (decision 0016).

Two kinds of empty object under index/, each key carrying all it says (ids and moments, nothing a person
wrote), so a listing answers without a GET:

- a deadline, index/due/<when>/<encounter id>/<opened at>: the review needs the sweep at <when> (its reminder,
  the end of its window, a transition's follow-ups, a sent-back note overdue for its redraft). The sweep lists
  the deadlines up to now, oldest first, reads each one's record, does what the record says is due, and
  deletes the deadline. Written only for reviews a sweep keeps (choreography's; an execution keeps its own).
- an entry, index/awaiting/<opened at>/<encounter id>/<due at>/v<version>/f<flagged>: the review awaits a
  clinician. The worklist pages through the entries, oldest first, one listing per page.

The record decides (decision 0012); the index only points at it. An index object is written before the
record's write that makes it true, and deleted after the write that makes it false, so a crash between
leaves an index object too many (a deadline whose record has nothing due is deleted when swept; an entry
of a decided review is deleted when its transition settles, or when the sweep meets one of an earlier
opening), never one too few.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from clinical.layout import validate_encounter_id
from clinical.objects import LIST_LIMIT, key_moment, keys_under, moment_of_key
from clinical.prefixes import INDEX_PREFIX

DUE_PREFIX = f"{INDEX_PREFIX}due/"
AWAITING_PREFIX = f"{INDEX_PREFIX}awaiting/"
# Who keeps a review's time: choreography's sweep (through the index's deadlines), or orchestration's execution
# (its wait's timeout; no deadlines are indexed for it).
Keeper = Literal["sweep", "execution"]


def keeper_of(variant: str) -> Keeper:
    """The keeper of a variant's reviews: orchestration's executions wait for theirs, choreography's sweep keeps
    its through the index."""
    return "execution" if variant == "orchestration" else "sweep"


@dataclass(frozen=True)
class Deadline:
    """The review of `encounter_id`, as opened at `opened_at`, needs the sweep at `at`."""

    at: datetime
    encounter_id: str
    opened_at: datetime

    @property
    def key(self) -> str:
        return (
            f"{DUE_PREFIX}{key_moment(self.at)}/{validate_encounter_id(self.encounter_id)}/{key_moment(self.opened_at)}"
        )

    @classmethod
    def from_key(cls, key: str) -> Deadline | None:
        """The deadline a key names; None for any other key (a stray write under index/due/)."""
        parts = key.removeprefix(DUE_PREFIX).split("/")
        try:
            at, encounter_id, opened_at = parts
            return cls(moment_of_key(at), validate_encounter_id(encounter_id), moment_of_key(opened_at))
        except ValueError:
            return None


@dataclass(frozen=True)
class Entry:
    """A review awaiting a clinician, as the worklist shows it: when it opened and ends, the version to review,
    and how many of its statements the claim check flagged (None: not recorded)."""

    encounter_id: str
    opened_at: datetime
    due_at: datetime
    version: int
    flagged: int | None

    @property
    def key(self) -> str:
        flagged = "-" if self.flagged is None else str(self.flagged)
        return f"{self.prefix}{key_moment(self.due_at)}/v{self.version}/f{flagged}"

    @property
    def prefix(self) -> str:
        return opening_prefix(self.encounter_id, self.opened_at)

    @classmethod
    def from_key(cls, key: str) -> Entry | None:
        parts = key.removeprefix(AWAITING_PREFIX).split("/")
        try:
            opened_at, encounter_id, due_at, version, flagged = parts
            if not version.startswith("v") or not flagged.startswith("f"):
                return None
            return cls(
                encounter_id=validate_encounter_id(encounter_id),
                opened_at=moment_of_key(opened_at),
                due_at=moment_of_key(due_at),
                version=int(version[1:]),
                flagged=None if flagged == "f-" else int(flagged[1:]),
            )
        except ValueError:
            return None


def opening_prefix(encounter_id: str, opened_at: datetime) -> str:
    """Where the entry of one opening of a review is (whatever version and flags it shows)."""
    return f"{AWAITING_PREFIX}{key_moment(opened_at)}/{validate_encounter_id(encounter_id)}/"


def _mark(s3, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"")


def mark_due(s3, bucket: str, deadline: Deadline) -> None:
    _mark(s3, bucket, deadline.key)


def mark_awaiting(s3, bucket: str, entry: Entry) -> None:
    _mark(s3, bucket, entry.key)


def unmark(s3, bucket: str, key: str) -> None:
    s3.delete_object(Bucket=bucket, Key=key)


def unmark_opening(s3, bucket: str, encounter_id: str, opened_at: datetime, keep: str | None = None) -> None:
    """Delete the worklist entry of that opening of the review, if there is one (one listing, one delete), but
    `keep`, the entry of the review as it is now (an opening at the same moment as the one it replaced)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=opening_prefix(encounter_id, opened_at), MaxKeys=10)
    for item in listed.get("Contents", []):
        if item["Key"] != keep:
            unmark(s3, bucket, item["Key"])


def due(s3, bucket: str, now: datetime) -> Iterator[tuple[str, Deadline | None]]:
    """Every deadline up to `now`, oldest first, with its key (None: a key that names no deadline). The listing
    stops at the first deadline after `now`: a sweep reads what is due, not what is kept."""
    until = f"{DUE_PREFIX}{key_moment(now)}~"  # '~' sorts after the rest of any key at that moment
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=DUE_PREFIX, PaginationConfig={"PageSize": LIST_LIMIT}
    ):
        for item in page.get("Contents", []):
            if item["Key"] > until:
                return
            yield item["Key"], Deadline.from_key(item["Key"])


@dataclass(frozen=True)
class Page:
    """One page of the worklist: its entries, oldest first, and where the next page starts (None: the last)."""

    entries: list[Entry]
    after: str | None


def awaiting(s3, bucket: str, *, size: int, after: str | None = None) -> Page:
    """A page of the reviews awaiting a clinician: one listing of at most `size` entries, starting after the
    key `after` (a page's `after`)."""
    if after is not None and not after.startswith(AWAITING_PREFIX):
        raise ValueError("a worklist page starts after a key of index/awaiting/")
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix=AWAITING_PREFIX, MaxKeys=size, **({"StartAfter": after} if after else {})
    )
    items = listed.get("Contents", [])
    entries = [entry for item in items if (entry := Entry.from_key(item["Key"])) is not None]
    return Page(entries, items[-1]["Key"] if listed.get("IsTruncated") and items else None)


def count_awaiting(s3, bucket: str) -> int:
    """How many reviews await a clinician (the dashboard's backlog): one listing per 1,000 entries."""
    return sum(1 for key in keys_under(s3, bucket, AWAITING_PREFIX) if Entry.from_key(key) is not None)
