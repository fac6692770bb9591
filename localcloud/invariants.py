"""The guarantees, checked by code over what a run left behind (a Snapshot), each PASS or FAIL.

1. every valid encounter ends in exactly one terminal record (a note or a failure record);
2. no encounter without one (silent loss = 0);
3. no second note for the same encounter (one version of notes/<id>.json);
4. every invalid upload has a failure record;
5. every permanent failure raised an alarm (the EncounterFailures metric counted each record and
   the alarm went to ALARM);
6. no transcript or note text in any captured log line or execution history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clinical.layout import claimed_encounter_id, failure_key, note_key, rejected_upload_failure_key


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


def check(snapshot: Snapshot) -> list[Verdict]:
    notes = {key for key, versions in snapshot.note_versions.items() if versions}
    both = {i for i in snapshot.valid_ids if note_key(i) in notes and failure_key(i) in snapshot.failure_keys}
    neither = {
        i for i in snapshot.valid_ids if note_key(i) not in notes and failure_key(i) not in snapshot.failure_keys
    }
    duplicated = {key for key, versions in snapshot.note_versions.items() if versions > 1}
    unrecorded_invalid = [
        key
        for key in snapshot.invalid_keys
        if rejected_upload_failure_key(key) not in snapshot.failure_keys
        and (claimed_encounter_id(key) is None or failure_key(claimed_encounter_id(key)) not in snapshot.failure_keys)
    ]
    records = len(snapshot.failure_keys)
    alarmed = records == 0 or (snapshot.failure_alarm_fired and snapshot.encounter_failures_counted >= records)
    leaks = [
        text[:30] + "..."
        for text in snapshot.phi_texts
        if len(text) >= 12 and (text in snapshot.logs or text in snapshot.histories)
    ]
    return [
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
            "every permanent failure raised an alarm",
            alarmed,
            f"{records} failure records, EncounterFailures counted {snapshot.encounter_failures_counted:g}, "
            f"alarm {'went to ALARM' if snapshot.failure_alarm_fired else 'never fired'}",
        ),
        Verdict(
            "no transcript or note text in logs or execution history",
            not leaks,
            f"{len(snapshot.logs.splitlines())} log lines and {len(snapshot.histories)} characters of history searched"
            + (f"; found: {_examples(leaks)}" if leaks else ""),
        ),
    ]
