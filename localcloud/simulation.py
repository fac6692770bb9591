"""Virtual time for the local cloud: a discrete-event simulation in which one actor runs at a time.

Actors are the threads that do the cloud's work: each Step Functions execution (moto's interpreter
runs one on threads), each Lambda invocation, each scheduled run. Exactly one actor holds the baton
at a time; the driver (the thread that calls `run_until`) hands it out in a fixed order and takes it
back when the actor blocks (a Wait state, a retry backoff, a callback wait, a modelled latency) or
ends. When no actor can run and nothing is due, the clock jumps to the next scheduled event.

So handler CPU time costs no simulated time, a 15-minute callback timeout is 15 simulated minutes
however slow the machine is, and the same input gives the same history every time: the order in
which actors run depends only on the order of events, never on thread timing.

The process clock itself is held by time-machine: `time.time()`, `datetime.now()` and everything
built on them (moto's S3, SQS and Step Functions timestamps, the handlers' clocks) read simulated
time. `time.monotonic()` is left alone, so nothing real (sockets, locks) is affected.

Two modes share this clock. `skip` (tests, the demo, comparisons) jumps over idle time. `wall` (a
local cloud that a person drives) lets it run at wall-clock speed and skips only when asked.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import time_machine

from localcloud import moto_patches

# Monday 5 January 2026, 08:00 UTC: a clinic day, the same for every run (skip mode).
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# Simulated time a run may take before it is called stuck (a run that reaches it is an error).
DEFAULT_HORIZON_SECONDS = 7 * 24 * 3600.0
# Wall mode's longest real wait between looks at what is due: what an outside request starts without waking
# the driver (a message a queue receives) runs within it. Four looks a second keep an idle cloud idle.
WALL_SLICE_SECONDS = 0.25


class HorizonReached(RuntimeError):
    """The simulated horizon passed with work still pending: the message lists what and where."""


class Source(Protocol):
    """Something the driver runs by itself at scheduled times (Transcribe jobs, a queue's poller, a schedule)."""

    name: str

    def next_due(self) -> float | None:
        """Epoch seconds of its next event, or None."""

    def run_due(self, now: float) -> int:
        """Do what is due at `now`; returns how much happened."""

    def pending_work(self) -> list[str]:
        """What it still has to do (empty: it is quiet; periodic work never counts)."""


# What a spawned actor takes over from the actor that spawned it.
INHERITED_CONTEXT = ("role", "work")


@dataclass(eq=False)
class Work:
    """What a group of actors works for, shared by reference (an execution's threads: it is inherited when
    they spawn). While `waiting_for_person` names the wait it is in, its actors are not pending work: only
    a person can move it on, and until then the run is quiet (its timeout is still a timer that fires)."""

    name: str
    waiting_for_person: str = ""


@dataclass(eq=False)
class Actor:
    name: str
    number: int
    simulation: Simulation | None = None
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    finished: bool = False
    blocked_on: str = ""
    wait_generation: int = 0
    woken_by_event: bool = False
    # Per-invocation state swapped in and out around every switch (see `switching`).
    context: dict = field(default_factory=dict)
    joiners: list[Actor] = field(default_factory=list)
    # Where it is registered while it waits (an event's or another actor's list), to leave on a timeout.
    waiting_in: list | None = None


class Simulation:
    """The clock and the scheduler. `with Simulation() as sim:` installs it for the process."""

    def __init__(self, start: datetime | None = None, *, mode: str = "skip", seed: int = 7) -> None:
        if mode not in ("skip", "wall"):
            raise ValueError(f"unknown time mode {mode!r}; modes: skip, wall")
        self.mode = mode
        self.start = start or (DEFAULT_START if mode == "skip" else datetime.now(UTC))
        self.random = random.Random(f"simulation:{seed}")  # noqa: S311 (reproducible jitter, not a secret)
        self._lock = threading.RLock()
        self._ready: deque[Actor] = deque()
        self._timers: list[tuple[float, int, Actor, int]] = []
        self._sequence = itertools.count()
        self._numbers = itertools.count(1)
        self._alive: dict[int, Actor] = {}
        self._driver_go = threading.Semaphore(0)
        self._local = threading.local()
        self._driver: int | None = None
        self._running = False
        self._traveller = None
        self._travel = None
        self.sources: list[Source] = []
        # Hooks run on every switch into (restore) and out of (save) an actor: per-invocation state.
        self.switch_hooks: list[tuple[Callable[[Actor], None], Callable[[Actor], None]]] = []
        self.actor_runs = 0
        # Set when work arrives from any thread (an actor spawned or woken): a wall-mode wait ends at once.
        self._nudged = threading.Event()

    # ---- the clock -------------------------------------------------------------------------
    def __enter__(self) -> Simulation:
        global ACTIVE
        if ACTIVE is not None:
            raise RuntimeError("a simulation is already running in this process")
        self._travel = time_machine.travel(self.start, tick=self.mode == "wall")
        self._traveller = self._travel.start()
        self._driver = threading.get_ident()
        ACTIVE = self
        return self

    def __exit__(self, *exc) -> None:
        global ACTIVE
        ACTIVE = None
        self._travel.stop()

    def epoch(self) -> float:
        """Simulated epoch seconds (the same as `time.time()` while the simulation is installed)."""
        return time.time()

    def now(self) -> float:
        """Simulated seconds since the simulation started."""
        return time.time() - self.start.timestamp()

    def wall(self, simulated_seconds: float | None = None) -> datetime:
        """The simulated wall-clock time (now, or of a moment in seconds since the start)."""
        seconds = self.now() if simulated_seconds is None else simulated_seconds
        return self.start + timedelta(seconds=seconds)

    def at(self, moment: datetime) -> float:
        """Seconds since the start, of a simulated wall-clock moment (a record's timestamp)."""
        return moment.timestamp() - self.start.timestamp()

    def _move_to(self, epoch: float) -> None:
        if epoch > time.time():
            self._traveller.move_to(datetime.fromtimestamp(epoch, UTC))

    # ---- actors ----------------------------------------------------------------------------
    def current_actor(self) -> Actor | None:
        return getattr(self._local, "actor", None)

    @contextlib.contextmanager
    def acting_as(self, actor: Actor | None) -> Iterator[None]:
        """This thread works for `actor` (a server thread answering the actor's request)."""
        previous = self.current_actor()
        self._local.actor = actor
        try:
            yield
        finally:
            self._local.actor = previous

    def spawn(self, target: Callable[[], Any], name: str) -> Actor:
        """A new actor, ready to run after those already ready; callable from any thread."""
        actor = Actor(name=name, number=next(self._numbers), simulation=self)
        parent = self.current_actor()
        if parent is not None:  # a thread of an execution works for it (and calls AWS as its role)
            actor.context.update({key: parent.context[key] for key in INHERITED_CONTEXT if key in parent.context})

        def main() -> None:
            actor.go.acquire()
            self._local.actor = actor
            self._switch_in(actor)
            try:
                target()
            finally:
                self._switch_out(actor)
                with self._lock:
                    actor.finished = True
                    del self._alive[actor.number]
                    for joiner in list(actor.joiners):
                        self.wake(joiner)
                    actor.joiners.clear()
                self._driver_go.release()

        with self._lock:
            self._alive[actor.number] = actor
            self._ready.append(actor)
        threading.Thread(target=main, name=f"sim-{actor.number}-{name}", daemon=True).start()
        self._nudged.set()
        return actor

    def _switch_in(self, actor: Actor) -> None:
        for restore, _save in self.switch_hooks:
            restore(actor)

    def _switch_out(self, actor: Actor) -> None:
        for _restore, save in self.switch_hooks:
            save(actor)

    def _wake_locked(self, actor: Actor, *, by_event: bool) -> None:
        if actor.finished or not actor.blocked_on:
            return
        if actor.waiting_in is not None:
            with contextlib.suppress(ValueError):
                actor.waiting_in.remove(actor)
            actor.waiting_in = None
        actor.blocked_on = ""
        actor.wait_generation += 1  # its timer, if any, is stale now
        actor.woken_by_event = by_event
        self._ready.append(actor)
        self._nudged.set()

    def block(self, reason: str, timeout: float | None, register: Callable[[Actor], bool] | None = None) -> bool:
        """Block the current actor until woken (True) or until `timeout` simulated seconds pass (False).

        `register(actor)` runs under the scheduler's lock and returns True if the actor need not wait.
        From the driver, blocking runs the simulation instead.
        """
        actor = self.current_actor()
        if actor is None:
            return self._driver_block(reason, timeout, register)
        with self._lock:
            if register is not None and register(actor):
                return True
            actor.blocked_on = reason
            actor.woken_by_event = False
            if timeout is not None:
                heapq.heappush(
                    self._timers, (self.epoch() + max(timeout, 0.0), next(self._sequence), actor, actor.wait_generation)
                )
        self._switch_out(actor)
        self._driver_go.release()
        actor.go.acquire()
        self._local.actor = actor
        self._switch_in(actor)
        return actor.woken_by_event

    def _driver_block(self, reason: str, timeout: float | None, register) -> bool:
        marker = Actor(name="driver", number=0, simulation=self)
        if threading.get_ident() != self._driver or self._running:
            # Not an actor's work (a deployment's custom resource, an outside client's request), or the
            # driver's own clients within a step: no simulated time passes for them.
            with self._lock:
                return bool(register is not None and register(marker))
        marker.blocked_on = reason
        with self._lock:
            if register is not None and register(marker):
                return True
        deadline = None if timeout is None else self.now() + timeout
        self.run_until(lambda: marker.woken_by_event, until=deadline, quiet_ends=False)
        if marker.waiting_in is not None:
            with contextlib.suppress(ValueError):
                marker.waiting_in.remove(marker)
        return marker.woken_by_event

    def sleep(self, seconds: float) -> None:
        """Simulated sleep of the current actor (from the driver: the simulation runs meanwhile)."""
        if seconds <= 0:
            return
        self.block("sleep", seconds)

    def wake(self, actor: Actor) -> None:
        with self._lock:
            if actor.number == 0:
                actor.woken_by_event = True
                if actor.waiting_in is not None:
                    with contextlib.suppress(ValueError):
                        actor.waiting_in.remove(actor)
            else:
                self._wake_locked(actor, by_event=True)

    def join(self, actor: Actor, timeout: float | None) -> bool:
        return self.block(f"joins {actor.name}", timeout, waiting_in(actor.joiners, lambda: actor.finished))

    # ---- the driver ------------------------------------------------------------------------
    def _run_ready(self) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self._ready:
                    return ran
                actor = self._ready.popleft()
            actor.go.release()
            self._driver_go.acquire()
            ran += 1
            self.actor_runs += 1

    def _fire_timers(self) -> int:
        fired = 0
        with self._lock:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _due, _seq, actor, generation = heapq.heappop(self._timers)
                if generation == actor.wait_generation and actor.blocked_on:
                    self._wake_locked(actor, by_event=False)
                    fired += 1
        return fired

    def _run_sources(self) -> int:
        ran = 0
        for source in self.sources:
            due = source.next_due()
            # The clock read after the source said when it is due: in wall mode the clock ticks, and a source
            # whose work is due "now" answers with the clock's reading, which an earlier reading would precede.
            now = time.time()
            if due is not None and due <= now:
                ran += source.run_due(now)
        return ran

    def _next_due(self) -> float | None:
        with self._lock:
            while self._timers and (self._timers[0][3] != self._timers[0][2].wait_generation):
                heapq.heappop(self._timers)
            candidates = [self._timers[0][0]] if self._timers else []
        candidates += [due for source in self.sources if (due := source.next_due()) is not None]
        return min(candidates) if candidates else None

    def pending(self) -> list[str]:
        """What is still to happen: blocked or ready actors (not those of work that waits for a person) and
        the sources' own work."""
        with self._lock:
            actors = [
                f"{a.name} ({a.blocked_on or 'ready'})"
                for a in self._alive.values()
                if not (a.blocked_on and getattr(a.context.get("work"), "waiting_for_person", ""))
            ]
        return actors + [item for source in self.sources for item in source.pending_work()]

    def run_until(
        self,
        done: Callable[[], bool] | None = None,
        *,
        until: float | None = None,
        horizon: float = DEFAULT_HORIZON_SECONDS,
        quiet_ends: bool = True,
        progress: Callable[[], None] | None = None,
    ) -> float:
        """Run the simulation until `done()` holds, or (quiet_ends) nothing is pending, or the simulated
        moment `until` (seconds since the start) is reached. Returns the simulated seconds it took.

        Reaching `horizon` simulated seconds from now first is an error that lists what is pending.
        """
        if self._running:
            raise RuntimeError("the simulation is already running (run_until is not re-entrant)")
        started = self.now()
        # An advance longer than the horizon is bounded by its own end, not stuck at the horizon.
        limit = started + max(horizon, 0.0 if until is None else until - started)
        self._running = True
        shown_at = None
        try:
            while True:
                if self._run_ready() + self._fire_timers() + self._run_sources():
                    continue
                if progress is not None and (shown_at is None or self.now() - shown_at >= 60):
                    shown_at = self.now()  # a display: once a simulated minute is enough
                    progress()
                if done is not None and done():
                    break
                if quiet_ends and not self.pending():
                    break
                next_due = self._next_due()
                next_at = None if next_due is None else next_due - self.start.timestamp()
                if self.mode == "wall":
                    if until is not None and self.now() >= until:
                        break
                    self._idle_until(min(m for m in (next_at, until, self.now() + 60) if m is not None))
                    continue
                if until is not None and (next_at is None or next_at > until):
                    self._idle_until(until)
                    self._run_ready()
                    break
                if next_at is None:
                    if self.mode == "wall":
                        break
                    raise HorizonReached(self._stuck("nothing is scheduled, yet work is pending"))
                if next_at > limit:
                    raise HorizonReached(self._stuck(f"the simulated horizon of {horizon / 3600:g} h passed"))
                self._idle_until(max(next_at, self.now() + 0.001))  # always forward, even if a source lags
        finally:
            self._running = False
        return self.now() - started

    def nudge(self) -> None:
        """End a wall-mode wait now (an operator's request has arrived)."""
        self._nudged.set()

    def _idle_until(self, moment: float) -> None:
        """Let simulated time reach `moment` (seconds since the start): a jump, or in wall mode a real wait."""
        target = self.start.timestamp() + moment
        if self.mode == "wall":
            # A person drives this cloud: wait in real time, in slices short enough that what their requests
            # start (an upload's event, a message in a queue) is seen within a moment, long enough to stay idle.
            if time.time() < target and not self._ready:
                self._nudged.wait(min(target - time.time(), WALL_SLICE_SECONDS))
                self._nudged.clear()
        else:
            self._move_to(target)

    def _stuck(self, why: str) -> str:
        pending = self.pending()
        shown = "\n  ".join(pending[:20]) + (f"\n  ... and {len(pending) - 20} more" if len(pending) > 20 else "")
        return f"{why} at {self.wall().isoformat()}; still pending:\n  {shown}"

    def run_for(self, seconds: float, **kwargs) -> float:
        """Let `seconds` of simulated time pass, running everything due meanwhile."""
        return self.run_until(until=self.now() + seconds, quiet_ends=False, **kwargs)

    @contextlib.contextmanager
    def _skipping(self) -> Iterator[None]:
        """In wall mode, hold the clock and skip for a while, then let it run from where it got to."""
        if self.mode != "wall":
            yield
            return
        # The simulated present, read before the ticking travel stops (after it, the machine's clock reads).
        present = self.wall()
        self._travel.stop()
        self._travel = time_machine.travel(present, tick=False)
        self._traveller = self._travel.start()
        self.mode = "skip"
        try:
            yield
        finally:
            self.mode = "wall"
            moment = datetime.now(UTC)
            self._travel.stop()
            self._travel = time_machine.travel(moment, tick=True)
            self._traveller = self._travel.start()

    def advance(self, seconds: float) -> None:
        """Skip ahead from the simulated present (wall mode: an operator's `advance`), running everything due on
        the way. Time only goes forward: a zero, negative or endless advance is refused, changing nothing."""
        if not 0 < seconds < math.inf:
            raise ValueError(f"an advance moves the clock forward by some seconds, not {seconds!r}")
        with self._skipping():
            self.run_for(seconds)

    def skip_pending(self, done: Callable[[], bool] | None = None) -> None:
        """Wall mode's --time-skip: while work is pending and nothing can run, jump to its next event;
        once quiet, the clock keeps wall-clock time again (periodic sweeps are not skipped to)."""
        if self.pending():
            with self._skipping():
                self.run_until(done)


ACTIVE: Simulation | None = None


def waiting_in(waiters: list[Actor], done: Callable[[], bool]) -> Callable[[Actor], bool]:
    """A `block` registration: no wait if `done()`, else the actor joins `waiters` (and leaves it on a timeout)."""

    def register(actor: Actor) -> bool:
        if done():
            return True
        waiters.append(actor)
        actor.waiting_in = waiters
        return False

    return register


def active() -> Simulation:
    if ACTIVE is None:
        raise RuntimeError("no simulation is installed (use `with Simulation():`)")
    return ACTIVE


class SimEvent:
    """threading.Event on simulated time: `wait(timeout)` blocks the actor, not the thread's real time."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[Actor] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        for actor in list(self._waiters):
            actor.simulation.wake(actor)

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True

        active().block("waits for an event", timeout, waiting_in(self._waiters, lambda: self._flag))
        return self._flag


class SimThread:
    """threading.Thread as an actor: started in order, joined in simulated time."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None) -> None:
        self._target, self._args, self._kwargs = target, args, kwargs or {}
        self.name = name or "thread"
        self.daemon = daemon
        self._actor: Actor | None = None

    def start(self) -> None:
        self._actor = active().spawn(lambda: self._target(*self._args, **self._kwargs), self.name)

    @property
    def actor(self) -> Actor | None:
        return self._actor

    def join(self, timeout: float | None = None) -> None:
        if self._actor is not None:
            active().join(self._actor, timeout)

    def is_alive(self) -> bool:
        return self._actor is not None and not self._actor.finished


class SimulatedTime:
    """Stands in for the `time` module where code sleeps: sleeps are simulated, the rest is `time`."""

    @staticmethod
    def sleep(seconds: float) -> None:
        active().sleep(seconds)

    def __getattr__(self, name: str):
        return getattr(time, name)


ACTOR_HEADER = "X-Local-Cloud-Actor"


@contextlib.contextmanager
def actors_follow_requests() -> Iterator[None]:
    """With the moto server, an actor's AWS calls are answered on the server's threads: the request
    carries the actor's number and the thread that answers it works as that actor (its simulated
    sleeps, its invocation's environment). In-process, the actor's own thread answers anyway."""
    import botocore.endpoint
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    real_create_request = botocore.endpoint.Endpoint.create_request
    real_call = DomainDispatcherApplication.__call__

    def create_request(self, params, operation_model=None):
        request = real_create_request(self, params, operation_model)
        simulation = ACTIVE
        actor = simulation.current_actor() if simulation is not None else None
        if actor is not None:
            request.headers[ACTOR_HEADER] = str(actor.number)
        return request

    def call(self, environ, start_response):
        simulation = ACTIVE
        number = environ.get("HTTP_" + ACTOR_HEADER.upper().replace("-", "_"))
        actor = simulation._alive.get(int(number)) if simulation is not None and number else None
        if actor is None:
            return real_call(self, environ, start_response)
        with simulation.acting_as(actor):
            return real_call(self, environ, start_response)

    with (
        moto_patches.replace("botocore.endpoint.Endpoint.create_request", create_request),
        moto_patches.replace("moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__", call),
    ):
        yield


@contextlib.contextmanager
def http_dates_on_real_time() -> Iterator[None]:
    """The moto server's HTTP `Date` header keeps the real clock: AWS SDKs correct their clock skew from
    it (the CDK CLI's SDK, seeing a server months away, stalls), and it is transport, not cloud, time."""
    import email.utils

    def date_time_string(_handler, timestamp=None) -> str:
        hatch = time_machine.escape_hatch
        return email.utils.formatdate(hatch.time.time() if hatch.is_travelling() else time.time(), usegmt=True)

    with moto_patches.replace("http.server.BaseHTTPRequestHandler.date_time_string", date_time_string):
        yield
