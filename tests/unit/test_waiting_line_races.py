"""clinical.waiting_line under what people and crashes do at once (hypothesis stateful): uploads join in any order,
jobs end (their end delivered twice), sweeps run, two wakers reach for the same head, a waker crashes between
taking a waiter and waking it, a woken start is refused and stands in line again. Whatever the interleaving:
the line is in order of the visits' beginnings, a job's end wakes at most one waiter however often it is
delivered, nobody is woken twice for one wait, and a waiter lost to a crash is out of the line, so the
lost-upload sweep (which counts the line's members as taken in) sees it as an upload nobody holds and asks again.

`make test` runs a bounded, seeded number of examples; `make soak` many more (HYPOTHESIS_PROFILE=soak).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from moto import mock_aws

from clinical import waiting_line
from clinical.layout import AudioUpload
from clinical.waiting_line import Place, join, waiters, waiting_ids, wake_for_ended_job, wake_head, wake_on_sweep

settings.register_profile(
    "line-races", max_examples=40, stateful_step_count=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "soak", max_examples=1000, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "line-races")
TABLE = "line"
NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
QUOTA_WAIT = timedelta(hours=10)  # longer than any wait here: a sweep wakes the head only


class Crashed(Exception):
    """The waker's process died after the conditional delete, before the wake reached its waiter."""


class LineRaces(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        self.dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keys = [(waiting_line.PARTITION_KEY, "HASH"), (waiting_line.SORT_KEY, "RANGE")]
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )
        self.uploads: dict[str, AudioUpload] = {}
        self.line: dict[str, str] = {}  # encounter id -> its place's key, as the model has it
        self.woken: list[str] = []  # every wake delivered, in order
        self.holding: set[str] = set()  # woken and not in line again: one wake per wait
        self.lost: set[str] = set()  # taken by a waker that crashed before waking them
        self.ended: set[str] = set()  # jobs whose end has been delivered at least once

    def teardown(self) -> None:
        self.mock.stop()

    def _wake(self, crash: bool):
        def wake(waiter) -> bool:
            if crash:
                raise Crashed
            self.woken.append(waiter.place.encounter_id)
            return True

        return wake

    def _head(self) -> str | None:
        return min(self.line, key=self.line.__getitem__) if self.line else None

    def _woke(self, encounter_id: str) -> None:
        assert encounter_id not in self.holding, f"{encounter_id} woken twice for one wait"
        del self.line[encounter_id]
        self.holding.add(encounter_id)

    @rule(minutes_ago=st.integers(0, 120), recording=st.integers(0, 60))
    def an_upload_stands_in_line(self, minutes_ago, recording):
        encounter_id = f"enc-{len(self.uploads):02d}"
        upload = AudioUpload(
            key=f"audio/{encounter_id}.wav", encounter_id=encounter_id, media_format="wav",
            uploaded_at=NOW - timedelta(minutes=minutes_ago), recording_seconds=recording * 60,
        )  # fmt: skip
        self.uploads[encounter_id] = upload
        join(self.dynamodb, TABLE, upload, f"wake {encounter_id}", NOW)
        self.line[encounter_id] = Place.of_upload(upload).key

    @precondition(lambda self: self.holding)
    @rule(data=st.data())
    def a_woken_start_is_refused_and_stands_in_line_again(self, data):
        encounter_id = data.draw(st.sampled_from(sorted(self.holding)))
        join(self.dynamodb, TABLE, self.uploads[encounter_id], f"wake {encounter_id} again", NOW)
        self.holding.discard(encounter_id)
        self.line[encounter_id] = Place.of_upload(self.uploads[encounter_id]).key

    @rule(job=st.integers(0, 5), crash=st.booleans())
    def a_job_ends(self, job, crash):
        """Its end may be delivered again (a retried event): only the first wakes anyone."""
        job_id, head = f"job-{job}", self._head()
        try:
            woken = wake_for_ended_job(self.dynamodb, TABLE, job_id, self._wake(crash), NOW)
        except Crashed:
            assert job_id not in self.ended and head is not None
            del self.line[head]
            self.lost.add(head)
            self.ended.add(job_id)
            return
        if job_id in self.ended or head is None:
            assert woken is None
        else:
            assert woken is not None and woken.place.encounter_id == head, "the head, and only the head"
            self._woke(head)
        self.ended.add(job_id)

    @rule()
    def a_sweep_runs(self):
        head = self._head()
        woken = wake_on_sweep(self.dynamodb, TABLE, self._wake(False), now=NOW, quota_wait=QUOTA_WAIT)
        assert [w.place.encounter_id for w in woken] == ([head] if head else [])
        if head:
            self._woke(head)

    @precondition(lambda self: self.line)
    @rule()
    def two_wakers_reach_for_the_same_head(self):
        """Both read the line; one takes and wakes the head, the other's take of it finds it gone and it wakes the
        next instead."""
        first, second = sorted(self.line, key=self.line.__getitem__)[:2] + [None] * (2 - min(len(self.line), 2))
        stale = next(waiters(self.dynamodb, TABLE))
        assert wake_head(self.dynamodb, TABLE, self._wake(False)).place.encounter_id == first
        self._woke(first)
        assert waiting_line._take_and_wake(self.dynamodb, TABLE, stale, self._wake(False), None) is None
        woken = wake_head(self.dynamodb, TABLE, self._wake(False))
        assert (woken.place.encounter_id if woken else None) == second
        if second:
            self._woke(second)

    @invariant()
    def the_line_is_the_models_in_order_of_the_visits_beginnings(self):
        listed = [waiter.place.encounter_id for waiter in waiters(self.dynamodb, TABLE)]
        assert listed == sorted(self.line, key=self.line.__getitem__)

    @invariant()
    def a_waiter_lost_to_a_crash_is_nobodys_so_the_lost_upload_sweep_asks_again(self):
        assert not (waiting_ids(self.dynamodb, TABLE) & self.lost)
        assert not (self.lost & set(self.line)) and not (self.lost & self.holding)

    @invariant()
    def every_upload_is_in_line_woken_or_lost_and_in_one_of_them(self):
        assert len(self.line) + len(self.holding) + len(self.lost) == len(self.uploads)


LineRaces.TestCase.settings = settings.get_profile(PROFILE)
TestLineRaces = LineRaces.TestCase
