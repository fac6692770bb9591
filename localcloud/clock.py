"""Simulated time: the local cloud runs `factor` times faster than AWS and reports AWS-scale durations.

Handlers see it too: while a handler runs, `datetime.now()` in the project's Lambda modules is the
simulated wall clock (it started with the real one), so records carry simulated timestamps and a
duration check such as the watchdog's "stalled for 120 minutes" means 120 simulated minutes.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from unittest import mock

HANDLER_PACKAGES = ("clinical.", "choreography.", "orchestration.")


@dataclass
class SimulatedClock:
    factor: float = 0.001
    _started: float = field(default_factory=time.monotonic)
    _wall_started: float = field(default_factory=time.time)

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._started) / self.factor

    def wall(self, simulated_seconds: float | None = None) -> datetime:
        """The simulated wall-clock time (now, or of a simulated moment)."""
        seconds = self.now() if simulated_seconds is None else simulated_seconds
        return datetime.fromtimestamp(self._wall_started, UTC) + timedelta(seconds=seconds)

    def at(self, moment: datetime) -> float:
        """Simulated seconds since the clock started, of a simulated wall-clock moment (a record's timestamp)."""
        return moment.timestamp() - self._wall_started

    def datetime_class(self) -> type[datetime]:
        clock = self

        class SimulatedDatetime(datetime):
            @classmethod
            def now(cls, tz=None):
                moment = clock.wall()
                return moment.astimezone(tz) if tz else moment.astimezone().replace(tzinfo=None)

            @classmethod
            def utcnow(cls):
                return clock.wall().replace(tzinfo=None)

        return SimulatedDatetime

    @contextlib.contextmanager
    def stamping_s3_objects(self) -> Iterator[None]:
        """moto stamps S3 objects with `moto.s3.models.utcnow` (naive UTC): make it the simulated wall clock,
        so LastModified and the handlers' `datetime.now()` are on the same clock (the lost-upload sweep
        compares them)."""
        import moto.s3.models

        with mock.patch.object(moto.s3.models, "utcnow", lambda: self.wall().replace(tzinfo=None)):
            yield

    @contextlib.contextmanager
    def stamping_executions(self) -> Iterator[None]:
        """Step Functions start/stop dates and history timestamps on the simulated wall clock too."""
        import datetime as datetime_module
        import types

        import moto.stepfunctions.parser.backend.execution as execution_module
        import moto.stepfunctions.parser.models as parser_models
        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

        simulated = types.SimpleNamespace(datetime=self.datetime_class(), timezone=datetime_module.timezone)
        with (
            mock.patch.object(EventManager, "_get_current_timestamp", staticmethod(self.wall)),
            mock.patch.object(execution_module, "datetime", simulated),
            mock.patch.object(parser_models, "datetime", simulated),
        ):
            yield

    @contextlib.contextmanager
    def seen_by_handlers(self) -> Iterator[None]:
        """Within this block the project's handler modules read the simulated wall clock."""
        simulated = self.datetime_class()
        with contextlib.ExitStack() as patches:
            for name, module in list(sys.modules.items()):
                if name.startswith(HANDLER_PACKAGES) and getattr(module, "datetime", None) is datetime:
                    patches.enter_context(mock.patch.object(module, "datetime", simulated))
            yield
