"""`scribe status --watch`: an encounter followed until it settles, each new stage said once.

It settles at a stage that waits for a person (AWAITING_REVIEW) or ends it (SIGNED, REVIEW_EXPIRED, FAILED:
clinical.stages.SETTLED). Between looks time passes: on AWS the CLI sleeps; on the local cloud it moves the
cloud's clock, which keeps still otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Sighting:
    """One variant's stage at one look (for FAILED, with its reason)."""

    variant: str
    stage: str
    settled: bool
    reason: str | None = None


class NotSettled(Exception):
    """The encounter did not settle within the looks allowed; holds the last stage seen per variant."""

    def __init__(self, last: dict[str, Sighting]) -> None:
        super().__init__(", ".join(f"{variant} {sighting.stage}" for variant, sighting in last.items()))
        self.last = last


def follow(look: Callable[[], list[Sighting]], pause: Callable[[], None], *, looks: int) -> Iterator[Sighting]:
    """Each variant's stage whenever it changes, until every variant's has settled; NotSettled after `looks` looks."""
    last: dict[str, Sighting] = {}
    for count in range(looks):
        if count:
            pause()
        seen = look()
        for sighting in seen:
            if last.get(sighting.variant) != sighting:
                last[sighting.variant] = sighting
                yield sighting
        if all(sighting.settled for sighting in seen):
            return
    raise NotSettled(last)
