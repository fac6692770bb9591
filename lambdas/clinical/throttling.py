"""Waiting for quota: what a step does when Transcribe Medical says its concurrent-job quota is full.

At the end of a clinic hundreds of uploads can arrive while the quota allows a hundred jobs. Every
upload must still get its job as soon as a slot frees (a slot left idle is time added to every
encounter behind it), and none may be failed merely for waiting. So a throttled start is tried again
after a short, jittered delay (at most a minute, so a freed slot waits little), for as long as
`quota_wait_minutes` from the first throttle; past that it is a permanent failure with a record.
Choreography waits in its queue (the message comes back delayed); orchestration in its Retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_DELAY_SECONDS = 10
MAX_DELAY_SECONDS = 60


@dataclass(frozen=True)
class Deferral:
    delay_seconds: int
    throttles: int
    throttled_since: datetime


def defer_throttled_start(
    encounter_id: str, throttles: int, throttled_since: datetime | None, now: datetime, wait_minutes: int
) -> Deferral | None:
    """When to try a throttled start again, or None once the encounter has waited `wait_minutes`.

    The jitter is drawn from the encounter and the attempt, so retries spread out but replay the same.
    """
    since = throttled_since or now
    if now - since >= timedelta(minutes=wait_minutes):
        return None
    ceiling = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2**throttles)
    draw = random.Random(f"{encounter_id}:{throttles}").uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
    return Deferral(delay_seconds=max(1, round(ceiling * draw)), throttles=throttles + 1, throttled_since=since)
