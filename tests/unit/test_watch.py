"""`scribe status --watch` on a fake clock: each variant's stage said once as it changes, the watch ends when every
variant has settled, and gives up once its limit passed on the target's clock; on the local cloud that clock is the
served cloud's, moved on at each look through its clock control."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scribe import cli
from scribe.target import Target
from scribe.watch import NotSettled, Sighting, follow

SETTLED = {"AWAITING_REVIEW", "SIGNED", "REVIEW_EXPIRED", "FAILED"}


class FakeClock:
    def __init__(self, step: float = 30) -> None:
        self.seconds, self.step, self.waits = 0.0, step, 0

    def now(self) -> float:
        return self.seconds

    def wait(self) -> None:
        self.seconds += self.step
        self.waits += 1


def looks(*rounds: dict[str, str]):
    """A look per round: each variant's stage then."""
    remaining = list(rounds)
    return lambda: [Sighting(variant, stage, stage in SETTLED) for variant, stage in remaining.pop(0).items()]


def test_each_new_stage_once_until_every_variant_settles():
    clock = FakeClock()
    look = looks(
        {"choreography": "RECEIVED", "orchestration": "RECEIVED"},
        {"choreography": "TRANSCRIBING", "orchestration": "RECEIVED"},
        {"choreography": "TRANSCRIBING", "orchestration": "TRANSCRIBING"},
        {"choreography": "AWAITING_REVIEW", "orchestration": "DRAFTING"},
        {"choreography": "AWAITING_REVIEW", "orchestration": "AWAITING_REVIEW"},
        {"choreography": "SIGNED", "orchestration": "SIGNED"},  # never looked at: the watch ended
    )
    said = [(s.variant, s.stage) for s in follow(look, clock, limit=3600)]
    assert said == [
        ("choreography", "RECEIVED"),
        ("orchestration", "RECEIVED"),
        ("choreography", "TRANSCRIBING"),
        ("orchestration", "TRANSCRIBING"),
        ("choreography", "AWAITING_REVIEW"),
        ("orchestration", "DRAFTING"),
        ("orchestration", "AWAITING_REVIEW"),
    ]
    assert clock.waits == 4, "time passes between two looks, not after the last"


def test_a_settled_encounter_is_said_once_and_nothing_waits():
    clock = FakeClock()
    assert list(follow(looks({"orchestration": "FAILED"}), clock, limit=60)) == [
        Sighting("orchestration", "FAILED", True)
    ]
    assert clock.waits == 0


def test_it_gives_up_once_its_limit_passed_on_the_clock_naming_where_each_variant_was():
    said, clock = [], FakeClock(step=30)
    stuck = looks(*[{"choreography": "TRANSCRIBING", "orchestration": "RECEIVED"}] * 5)
    with pytest.raises(NotSettled, match=r"^choreography TRANSCRIBING, orchestration RECEIVED$"):
        said += follow(stuck, clock, limit=90)
    assert [s.stage for s in said] == ["TRANSCRIBING", "RECEIVED"]
    assert clock.waits == 3, "looks at 0, 30, 60 and 90 s"


def test_on_the_local_cloud_a_watch_reads_the_served_clock_and_lets_it_run(tmp_path, monkeypatch):
    """The served cloud's clock control (localcloud.serve): GET /clock reads it; the watch never POSTs /advance."""
    clock = {"now": datetime(2026, 1, 5, 8, 0, tzinfo=UTC)}
    asked = []

    class Control(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(("GET", self.path))
            self._answer({"now": clock["now"].isoformat(), "mode": "wall"})

        def do_POST(self) -> None:
            asked.append(("POST", self.path))
            clock["now"] += timedelta(seconds=float(self.path.split("=")[1]))
            self._answer({"now": clock["now"].isoformat(), "mode": "wall"})

        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = tmp_path / "endpoint.json"
    endpoint.write_text(json.dumps({"control_url": f"http://127.0.0.1:{server.server_address[1]}"}))
    monkeypatch.setattr("scribe.target.LOCAL_ENDPOINT_FILE", endpoint)
    slept = []
    monkeypatch.setattr(cli.time, "sleep", slept.append)
    try:
        local = cli._clock(Target(local=True))
        before = local.now()
        clock["now"] += timedelta(minutes=5)  # the served cloud's clock runs by itself (or an operator advanced it)
        local.wait()
        assert local.now() - before == 300, "the limit is measured on the cloud's clock"
    finally:
        server.shutdown()
    assert asked == [("GET", "/clock"), ("GET", "/clock")], "a watch never moves the clock: it runs by itself"
    assert slept == [cli.LOCAL_WATCH_SECONDS]
