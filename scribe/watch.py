"""`scribe status --watch`: an encounter followed until it settles, each new stage said once.

It settles at a stage that waits for a person (AWAITING_REVIEW) or ends it (SIGNED, REVIEW_EXPIRED, FAILED:
clinical.stages.SETTLED). Between looks time passes on the target's clock: on AWS the CLI sleeps; on the local
cloud it also moves the cloud's clock on, so the watch needs no clock that moves by itself. Its limit is measured
on that clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Sighting:
    """One variant's stage at one look (for FAILED, with its reason)."""

    variant: str
    stage: str
    settled: bool
    reason: str | None = None


class Clock(Protocol):
    """The target's time: its reading in seconds, and a look's worth of it passing."""

    def now(self) -> float: ...

    def wait(self) -> None: ...


class NotSettled(Exception):
    """The encounter did not settle within the limit; holds the last stage seen per variant."""

    def __init__(self, last: dict[str, Sighting]) -> None:
        super().__init__(", ".join(f"{variant} {sighting.stage}" for variant, sighting in last.items()))
        self.last = last


def follow(look: Callable[[], list[Sighting]], clock: Clock, *, limit: float) -> Iterator[Sighting]:
    """Each variant's stage whenever it changes, until every variant's has settled; NotSettled once `limit` seconds
    passed on the clock without it."""
    last: dict[str, Sighting] = {}
    started = clock.now()
    while True:
        seen = look()
        for sighting in seen:
            if last.get(sighting.variant) != sighting:
                last[sighting.variant] = sighting
                yield sighting
        if all(sighting.settled for sighting in seen):
            return
        if clock.now() - started >= limit:
            raise NotSettled(last)
        clock.wait()
