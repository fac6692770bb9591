"""Faults on demand, by rate and seed, so the same scenario replays exactly."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

# kind -> the fault it injects
FAULT_KINDS = {
    "transcribe_start": "limit_exceeded",
    "transcribe_job": "fail",
    "bedrock_throttle": "throttle",
    "bedrock_malformed": "malformed",
    "lambda_crash": "crash",
    "event_lost": "lost",
}


@dataclass
class FaultPlan:
    """Rates per fault kind (0..1). Each kind draws from its own seeded stream, so one kind's
    rate never shifts another kind's draws."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 7
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
        # Reproducible fault schedules, not secrets: a seeded PRNG is the point.
        self._streams = {kind: random.Random(f"{self.seed}:{kind}") for kind in FAULT_KINDS}  # noqa: S311
        self._lock = threading.Lock()

    def draw(self, kind: str) -> str | None:
        """The fault to inject now for this kind, or None."""
        rate = self.rates.get(kind, 0.0)
        if rate <= 0:
            return None
        with self._lock:
            hit = self._streams[kind].random() < rate
            if hit:
                self.injected[kind] += 1
        return FAULT_KINDS[kind] if hit else None

    def bedrock(self, _service: str) -> str | None:
        return self.draw("bedrock_throttle") or self.draw("bedrock_malformed")

    def transcribe(self, kind: str) -> str | None:
        return self.draw(kind)


NO_FAULTS = FaultPlan()
