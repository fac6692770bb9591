"""Faults on demand, by rate and seed, so the same scenario replays exactly.

Each decision is drawn from a stream seeded by (seed, fault kind, subject, how many times that
deployment asked about that subject), where the subject is what the fault is about: the
encounter id for Transcribe and for Bedrock (the request's requestMetadata), the work item a crashed
invocation carried (`work`), the object key for a lost event. So the decisions do not depend on thread
timing or batching, and both variants meet the same faults at the same try of the same work.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# kind -> the fault it injects
FAULT_KINDS = {
    "transcribe_start": "limit_exceeded",
    "transcribe_job": "fail",
    "bedrock_throttle": "throttle",
    "bedrock_malformed": "malformed",
    "bedrock_unsupported": "unsupported",
    "bedrock_miscited": "miscited",
    "lambda_crash": "crash",
    "event_lost": "lost",
}


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 7
    # Optional: a kind applies only to subjects containing this text (e.g. event_lost: "transcripts/").
    only: dict[str, str] = field(default_factory=dict)
    # Optional, for contract tests: a kind hits the first n occasions of each subject, and no other
    # (bedrock_throttle: 2 = the first two Converse calls of each transcript are throttled).
    first: dict[str, int] = field(default_factory=dict)
    # Optional: the work items one invocation carries, `work(handler, event) -> [subject, ...]` (an SQS batch
    # carries several). A crash is drawn per item, at that item's own try, and the invocation crashes if
    # any item draws one; so both variants meet the same crashes at the same tries of the same step for
    # the same encounter, however they batch. Without it (or for an event it names nothing in) the
    # subject is the function itself.
    work: Callable[[str, Any], list[str]] | None = field(default=None, compare=False)
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = (set(self.rates) | set(self.first)) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
        bad = {kind: rate for kind, rate in self.rates.items() if not 0 <= rate <= 1}
        if bad:
            raise ValueError(f"fault rates must be between 0 and 1: {bad}")
        self._asked: Counter = Counter()
        self._hit: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def draw(self, kind: str, subject: str = "", scope: str = "") -> str | None:
        """The fault to inject now for this kind and subject, or None.

        `scope` (the deployment asking) keeps separate counts, so the nth attempt at the same work
        gets the same answer in each variant.
        """
        rate = self.rates.get(kind, 0.0)
        if (rate <= 0 and kind not in self.first) or self.only.get(kind, "") not in subject:
            return None
        with self._lock:
            nth = self._asked[(kind, subject, scope)]
            self._asked[(kind, subject, scope)] += 1
            if kind in self.first:
                hit = nth < self.first[kind]
            else:
                # Reproducible fault schedules, not secrets: a seeded PRNG is the point.
                hit = random.Random(f"{self.seed}:{kind}:{subject}:{nth}").random() < rate  # noqa: S311
            if hit:
                self.injected[kind] += 1
                self._hit.add((kind, subject, scope))
        return FAULT_KINDS[kind] if hit else None

    def crash(self, function: str, handler: str, event: Any, scope: str = "") -> bool:
        """Whether this invocation of `function` (its name without CloudFormation's suffix) crashes."""
        subjects = (self.work(handler, event) if self.work else []) or [function]
        # Every item is asked, not only up to the first hit: each of them makes a try here.
        return any([self.draw("lambda_crash", subject, scope) is not None for subject in subjects])

    def attempts(self, kind: str) -> dict[tuple[str, str], int]:
        """(subject, scope) -> how many times the pipeline asked for it, for each subject this kind hit at
        least once: the tries a step made at work that met this fault (each service call, each invocation)."""
        with self._lock:
            return {(subject, scope): self._asked[(k, subject, scope)] for k, subject, scope in self._hit if k == kind}

    def asked(self, kind: str) -> dict[tuple[str, str], int]:
        """(subject, scope) -> how many times the pipeline asked for this kind, hit or not."""
        with self._lock:
            return {(subject, scope): n for (k, subject, scope), n in self._asked.items() if k == kind}

    def bedrock(self, subject: str, scope: str = "") -> str | None:
        return (
            self.draw("bedrock_throttle", subject, scope)
            or self.draw("bedrock_malformed", subject, scope)
            or self.draw("bedrock_miscited", subject, scope)
            or self.draw("bedrock_unsupported", subject, scope)
        )


NO_FAULTS = FaultPlan()
