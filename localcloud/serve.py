"""`make localcloud`: a local cloud that stays up, for `scribe --local` and any AWS client.

Starts the moto server with this project's shims on a loopback port, deploys both stacks with the
real CDK CLI, registers the bundled samples' reference transcripts, writes the endpoint to
~/.local/state/clinical-scribe-pipelines/endpoint.json (where `scribe --local` finds it from any directory;
under $XDG_STATE_HOME when set, or SCRIBE_LOCAL_ENDPOINT_FILE) and runs the cloud until Ctrl-C.

A person drives this cloud, so its clock keeps wall-clock time (what `scribe --local status` shows
matches the real time of an upload) and skips ahead only when asked: `scribe --local advance 2h`,
or `--time-skip`, which skips whenever nothing is running (as the tests and the demo do).
Handler logs go to handlers.log beside the endpoint file.
Usage: python -m localcloud.serve [cdk.out] [--port N] [--time-skip] [--latencies FILE]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import queue
import resource
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from localcloud.assets import not_an_assembly
from localcloud.cdk_cli import deploy_all, free_port
from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import send_handler_output_to
from localcloud.service_model import load_latencies
from localcloud.simulation import DEFAULT_HORIZON_SECONDS

# Where `scribe --local` finds this cloud: scribe.target reads the same file (a test holds the two equal;
# the emulator does not import the operator CLI).
LOCAL_ENDPOINT_FILE = Path(
    os.environ.get("SCRIBE_LOCAL_ENDPOINT_FILE")
    or Path(os.environ.get("XDG_STATE_HOME") or "~/.local/state").expanduser()
    / "clinical-scribe-pipelines/endpoint.json"
)
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# The longest advance carried out (scribe.cli names the same limit: a test holds the two equal): the simulated
# week a run may take.
MAX_ADVANCE_SECONDS = int(DEFAULT_HORIZON_SECONDS)


class ClockControl:
    """A loopback endpoint for the operator's clock commands; the cloud's own loop carries them out."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.requests: queue.Queue = queue.Queue()
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlparse(self.path).path
                if path == "/clock":
                    self._answer(200, control.clock())
                elif path == "/process":  # what `python -m localcloud.idle_cpu` measures
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    self._answer(200, {"pid": os.getpid(), "cpu_seconds": usage.ru_utime + usage.ru_stime})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                url = urlparse(self.path)
                if url.path != "/advance":
                    self.send_error(404)
                    return
                try:
                    seconds = float(parse_qs(url.query)["seconds"][0])
                    if not 0 < seconds <= MAX_ADVANCE_SECONDS:
                        raise ValueError
                except (KeyError, ValueError):
                    self._answer(400, {"error": f"an advance is more than 0 and at most {MAX_ADVANCE_SECONDS} seconds"})
                    return
                done: queue.Queue = queue.Queue()
                control.requests.put((seconds, done))
                control.cloud.simulation.nudge()
                self._answer(200, done.get())

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clock(self) -> dict:
        simulation = self.cloud.simulation
        return {"now": simulation.wall().isoformat(), "mode": simulation.mode}

    def carry_out(self) -> None:
        """Carry out the waiting requests (on the cloud's own thread: it drives the simulation)."""
        while not self.requests.empty():
            seconds, done = self.requests.get()
            self.cloud.simulation.advance(seconds)
            done.put({**self.clock(), "advanced_seconds": seconds})

    def close(self) -> None:
        self.server.shutdown()


def running_one() -> str:
    """The local cloud that holds the lock, as its endpoint file names it (it may still be deploying)."""
    try:
        endpoint = json.loads(LOCAL_ENDPOINT_FILE.read_text())
    except (OSError, ValueError):
        return f"a local cloud is already running (still deploying; it will write {LOCAL_ENDPOINT_FILE})"
    return f"a local cloud is already running (pid {endpoint.get('pid')}, {endpoint.get('endpoint_url')})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.serve", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    parser.add_argument("--time-skip", action="store_true", help="skip over idle time, as the tests do")
    parser.add_argument(
        "--latencies", type=Path, default=None, help="a latency table in place of localcloud/model/latencies.json"
    )
    args = parser.parse_args(argv[1:])
    if problem := not_an_assembly(args.cdk_out):
        print(problem, file=sys.stderr)
        return 2
    LOCAL_ENDPOINT_FILE.parent.mkdir(parents=True, exist_ok=True)
    # One local cloud per user: the lock is held while it runs (and freed by the system when it ends, however).
    lock = LOCAL_ENDPOINT_FILE.with_suffix(".lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"{running_one()}: stop it (Ctrl-C where it runs) before starting another", file=sys.stderr)
        return 1
    port = args.port or free_port()
    # A TERM (a supervisor, `timeout`) stops it as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    logging.getLogger("moto").setLevel(logging.ERROR)
    handler_log = (LOCAL_ENDPOINT_FILE.parent / "handlers.log").open("a")
    latencies = load_latencies(args.latencies) if args.latencies else None
    with LocalCloud(args.cdk_out, port=port, time_mode="wall", latencies=latencies) as cloud:
        send_handler_output_to(handler_log)
        print(f"local cloud on {cloud.endpoint_url}: deploying with the CDK CLI ...", flush=True)
        for stack in deploy_all(cloud):
            print(f"  {stack}: bucket {cloud.outputs[stack]['EncounterBucketName']}", flush=True)
        from clinical import observability  # loaded by the deploy (as Lambda's init would)

        observability.logger.registered_handler.setStream(handler_log)
        for sample in sorted(SAMPLES.glob("*.wav")):
            cloud.transcribe.register(sample.read_bytes(), sample.with_suffix(".txt").read_text().strip())
        control = ClockControl(cloud)
        LOCAL_ENDPOINT_FILE.write_text(
            json.dumps(
                {"endpoint_url": cloud.endpoint_url, "port": port, "control_url": control.url, "pid": os.getpid()}
            )
        )
        mode = "skips idle time" if args.time_skip else "keeps wall-clock time (`scribe --local advance 2h` skips)"
        print(f"ready: `scribe --local ...` (or AWS_ENDPOINT_URL={cloud.endpoint_url}); the clock {mode}", flush=True)
        print(f"handler logs: {handler_log.name}; Ctrl-C stops it", flush=True)
        try:
            while True:
                cloud.simulation.run_until(
                    lambda: not control.requests.empty(), quiet_ends=False, until=cloud.simulation.now() + 1
                )
                control.carry_out()
                if args.time_skip:
                    cloud.simulation.skip_pending(lambda: not control.requests.empty())
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            control.close()
            LOCAL_ENDPOINT_FILE.unlink(missing_ok=True)
            handler_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
