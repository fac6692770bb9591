"""Which encounters were settled lately: what the sweeps read instead of listing every note and failure record
ever kept (decision 0017).

A sweep asks "has this recent upload, or this recent Transcribe job, ended in a note or a failure record?" for
the uploads and jobs of its window only (a day). notes/ and failures/ are keyed by encounter id, not time, so
answering from them means listing all of them, one request per 1,000 records kept (a year's worth), on every
sweep. Instead, whoever writes a note or a failure record then puts an empty marker,
index/settled/<when>/<the record's key>, and a sweep lists the markers from its window's start onwards
(StartAfter): one request per 1,000 encounters settled in the window, however many are kept.

The record decides; the marker only points at it. It is written after the record, so a crash between leaves
a record without its marker, never a marker without its record. A sweep treats a missing marker as "look":
before it acts on an upload or a job as unsettled, it asks for the record itself (`settled`), so the marker
saves requests but never decides an outcome. A marker outlives a failure record removed later (a redrive removes
it before the retry, a note clears it): the retry settles that encounter again, with a marker of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clinical.objects import key_moment, keys_under, object_exists
from clinical.prefixes import SETTLED_PREFIX

# The writers' clocks and the sweep's may differ a little: a listing starts this much before the moment asked.
CLOCK_MARGIN = timedelta(minutes=5)


def marker_key(record_key: str, at: datetime) -> str:
    return f"{SETTLED_PREFIX}{key_moment(at)}/{record_key}"


def mark_settled(s3, bucket: str, record_key: str, at: datetime | None = None) -> None:
    """Say that `record_key` (a note's or a failure record's) was written at `at` (default: now)."""
    s3.put_object(Bucket=bucket, Key=marker_key(record_key, at or datetime.now(UTC)), Body=b"")


def settled_since(s3, bucket: str, since: datetime) -> set[str]:
    """The keys of the notes and failure records written since `since`, as their markers say (one request per
    1,000 markers from `since` on, less CLOCK_MARGIN; the markers before it are never read)."""
    start = f"{SETTLED_PREFIX}{key_moment(since - CLOCK_MARGIN)}"
    markers = keys_under(s3, bucket, SETTLED_PREFIX, start_after=start)
    return {record_key for key in markers if (record_key := key.removeprefix(SETTLED_PREFIX).partition("/")[2])}


def settled(s3, bucket: str, record_keys: tuple[str, ...]) -> bool:
    """Whether any of these records is there (the truth a missing marker defers to): one HEAD each, in order."""
    return any(object_exists(s3, bucket, key) for key in record_keys)
