"""Simulated time: the local cloud runs `factor` times faster than AWS and reports AWS-scale durations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class SimulatedClock:
    factor: float = 0.001
    _started: float = field(default_factory=time.monotonic)
    _wall_started: float = field(default_factory=time.time)

    def at(self, moment: datetime) -> float:
        """Simulated seconds since the clock started, of a wall-clock moment (a timestamp in a record)."""
        return (moment.timestamp() - self._wall_started) / self.factor

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._started) / self.factor

    def real_seconds(self, simulated_seconds: float) -> float:
        return simulated_seconds * self.factor
