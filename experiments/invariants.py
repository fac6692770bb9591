"""The guarantees, checked by code over what a run left behind (a Snapshot), each PASS or FAIL.

1. every valid encounter ends in exactly one terminal record (a note or a failure record);
2. no encounter without one (silent loss = 0);
3. no second note for the same encounter (one version of notes/<id>.json);
4. every invalid upload has a failure record;
5. every permanent failure raised an alarm, and was counted once: the EncounterFailures metric
   counted exactly the failure records written (each version of a failures/ object: a record later
   superseded by a note, or rewritten after a redrive, was a failure when it was written), the
   QuarantinedObjects metric exactly the quarantine records, and each alarm went to ALARM;
6. no transcript or note text in any captured log line or execution history.

Under the hostile profile (experiments/hostile.py mixed into the workload), two more:
7. each hostile input ends in exactly the records its case expects;
8. every upload ends in exactly one terminal record: no record for anything nobody uploaded, none twice.
With no revisions in this design, "no note changed without a revision record" is 3: every note has one
version (a re-upload under an id in use is refused with its own record, never a new note).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from clinical.layout import (
    FAILURES_PREFIX,
    claimed_encounter_id,
    failure_key,
    key_reference,
    note_key,
    rejected_upload_failure_key,
)

QUARANTINE_PREFIX = f"{FAILURES_PREFIX}_quarantine-"


@dataclass
class Snapshot:
    """What one variant's run left behind, as the checker sees it."""

    valid_ids: set[str]
    invalid_keys: list[str]
    note_versions: dict[str, int]  # notes/<id>.json -> number of versions
    failure_keys: set[str]
    encounter_failures_counted: float  # sum of the EncounterFailures metric the handlers emitted
    failure_alarm_fired: bool
    logs: str
    histories: str
    phi_texts: list[str] = field(default_factory=list)  # transcript and note text that must not leak
    quarantined_counted: float = 0.0  # sum of the QuarantinedObjects metric
    quarantine_alarm_fired: bool = False
    # Versions of failures/ objects written during the run (delete markers are not writes), by kind.
    failure_records_written: int = 0
    # Distinct (record key, upload) among those writes: each failed upload once, though a redrive's retry
    # that fails again writes its record again.
    failed_uploads: int = 0
    quarantine_records_written: int = 0
    # Under the hostile profile: each case's expected records, and every record in the bucket, in the
    # notation of experiments/hostile.py ("note:<id>", "failure:<id>:<type>", "rejected:<key>:<type>", ...).
    hostile_expected: dict[str, tuple[str, ...]] | None = None
    records: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    name: str
    passed: bool
    detail: str

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"


def _examples(items, limit: int = 3) -> str:
    items = sorted(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def invalid_upload_recorded(key: str, failure_keys: set[str]) -> bool:
    """Whether an upload that breaks the contract has its record: the rejected upload's, or its claimed id's."""
    claimed = claimed_encounter_id(key)
    return rejected_upload_failure_key(key) in failure_keys or (
        claimed is not None and failure_key(claimed) in failure_keys
    )


def check(snapshot: Snapshot) -> list[Verdict]:
    notes = {key for key, versions in snapshot.note_versions.items() if versions}
    both = {i for i in snapshot.valid_ids if note_key(i) in notes and failure_key(i) in snapshot.failure_keys}
    neither = {
        i for i in snapshot.valid_ids if note_key(i) not in notes and failure_key(i) not in snapshot.failure_keys
    }
    duplicated = {key for key, versions in snapshot.note_versions.items() if versions > 1}
    unrecorded_invalid = [
        key for key in snapshot.invalid_keys if not invalid_upload_recorded(key, snapshot.failure_keys)
    ]
    # A quarantine record is not an encounter's failure: it has its own metric and alarm.
    quarantined = len({key for key in snapshot.failure_keys if key.startswith(QUARANTINE_PREFIX)})
    records = len(snapshot.failure_keys) - quarantined
    written, quarantines_written = snapshot.failure_records_written, snapshot.quarantine_records_written
    alarmed = (
        written >= records
        and snapshot.encounter_failures_counted == snapshot.failed_uploads
        and (written == 0 or snapshot.failure_alarm_fired)
        and quarantines_written >= quarantined
        and snapshot.quarantined_counted == quarantines_written
        and (quarantines_written == 0 or snapshot.quarantine_alarm_fired)
    )
    leaks = [
        text[:30] + "..."
        for text in snapshot.phi_texts
        if len(text) >= 12 and (text in snapshot.logs or text in snapshot.histories)
    ]
    verdicts = [
        Verdict(
            "exactly one terminal record per valid encounter",
            not both and not neither,
            f"{len(snapshot.valid_ids) - len(both) - len(neither)}/{len(snapshot.valid_ids)}"
            + (f"; both a note and a record: {_examples(both)}" if both else ""),
        ),
        Verdict("no silent loss", not neither, f"{len(neither)} lost" + (f": {_examples(neither)}" if neither else "")),
        Verdict(
            "no second note for an encounter",
            not duplicated,
            f"{len(duplicated)} notes with several versions" + (f": {_examples(duplicated)}" if duplicated else ""),
        ),
        Verdict(
            "every invalid upload has a failure record",
            not unrecorded_invalid,
            f"{len(snapshot.invalid_keys) - len(unrecorded_invalid)}/{len(snapshot.invalid_keys)}",
        ),
        Verdict(
            "every permanent failure raised an alarm, counted once",
            alarmed,
            f"{records} failure records, {written} written for {snapshot.failed_uploads} failed uploads, "
            f"EncounterFailures counted "
            f"{snapshot.encounter_failures_counted:g}, alarm {'went to ALARM' if snapshot.failure_alarm_fired else 'never fired'}"
            + (
                f"; {quarantined} quarantine records, {quarantines_written} written, QuarantinedObjects counted "
                f"{snapshot.quarantined_counted:g}, alarm {'went to ALARM' if snapshot.quarantine_alarm_fired else 'never fired'}"
                if quarantines_written
                else ""
            ),
        ),
        Verdict(
            "no transcript or note text in logs or execution history",
            not leaks,
            f"{len(snapshot.logs.splitlines())} log lines and {len(snapshot.histories)} characters of history searched"
            + (f"; found: {_examples(leaks)}" if leaks else ""),
        ),
    ]
    if snapshot.hostile_expected is not None:
        verdicts += _hostile_verdicts(snapshot)
    return verdicts


def _hostile_verdicts(snapshot: Snapshot) -> list[Verdict]:
    found = Counter(snapshot.records)
    expected = Counter(record for records in snapshot.hostile_expected.values() for record in records)
    wrong = sorted(
        name for name, records in snapshot.hostile_expected.items() if any(found[r] < expected[r] for r in records)
    )
    # Every record beyond the hostile cases' must be the one record of one workload upload.
    per_upload, strays = Counter(), []
    for record in (found - expected).elements():
        upload = _workload_upload_of(record, snapshot)
        if upload is None:
            strays.append(record)
        else:
            per_upload[upload] += 1
    twice = [upload for upload, count in per_upload.items() if count > 1]
    uploads = set(snapshot.valid_ids) | set(snapshot.invalid_keys)
    unrecorded = uploads - set(per_upload)
    cases = len(snapshot.hostile_expected)
    return [
        Verdict(
            "each hostile input ends in exactly its records",
            not wrong,
            f"{cases - len(wrong)}/{cases} cases" + (f"; missing records: {_examples(wrong)}" if wrong else ""),
        ),
        Verdict(
            "every upload ends in exactly one terminal record, and nothing else has one",
            not (strays or twice or unrecorded),
            f"{len(snapshot.records)} records for {len(uploads)} workload uploads and {cases} hostile cases"
            + (f"; nobody's: {_examples(strays)}" if strays else "")
            + (f"; more than one: {_examples(twice)}" if twice else "")
            + (f"; none: {_examples(unrecorded)}" if unrecorded else ""),
        ),
    ]


def _workload_upload_of(record: str, snapshot: Snapshot) -> str | None:
    """The workload upload (a valid id or an invalid key) a record belongs to, or None."""
    kind, _, rest = record.partition(":")
    if kind == "note" and rest in snapshot.valid_ids:
        return rest
    if kind == "failure":
        encounter_id = rest.rpartition(":")[0]
        if encounter_id in snapshot.valid_ids:
            return encounter_id
        claimed = [key for key in snapshot.invalid_keys if claimed_encounter_id(key) == encounter_id]
        return claimed[0] if claimed else None
    if kind == "rejected":
        # A record names an upload whose key is no encounter's by the key's reference (its digest, unless the
        # key may be shown): matched by the same function that made it.
        reference = rest.rpartition(":")[0]
        return next((key for key in snapshot.invalid_keys if key_reference(key) == reference), None)
    return None
