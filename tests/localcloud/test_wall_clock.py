"""A local cloud that a person drives (`make localcloud`) keeps wall-clock time: what is due runs when its time
comes, by itself; `advance` skips ahead from the clock's present, which then keeps pace with real time again;
a bad advance is one line that changes nothing; and one local cloud runs at a time.

The served tests start `python -m localcloud.serve` with a short latency table and wait for it in real time,
every wait bounded (a failure says what it waited for). No other test of the suite waits on real time.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.service_model import LATENCIES_FILE
from scribe.cli import BadInput, duration_seconds
from scribe.target import Target
from tests.localcloud.conftest import STACKS, deploy_both, keys, read_json, upload_to_both

AUDIO = b"RIFF....WAVEfmt wall clock dictation"
PROJECT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT / "samples" / "cough-visit.wav"
# Seconds instead of a minute from upload to note: the pipeline's steps as they are, its slow services quick.
SHORT_LATENCIES = {
    "transcribe_job_fixed": 2,
    "transcribe_job_per_audio_second": 0.01,
    "s3_to_eventbridge": 0.2,
    "lambda_cold_start": 0.1,
    "bedrock_first_token": 0.1,
    "bedrock_output_tokens_per_second": 2000,
}
# Real seconds each wait may take before it fails (deploying with the CDK CLI on a loaded machine is the slowest).
STARTUP_SECONDS = 300
NOTE_SECONDS = 90
COMMAND_SECONDS = 180


def test_an_upload_reaches_its_note_when_the_operator_advances_the_clock(cdk_out):
    real_start = datetime.now(UTC)  # before the local cloud holds the clock
    with LocalCloud(cdk_out, time_mode="wall") as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        cloud.simulation.advance(300)
        sfn = cloud.client("stepfunctions")
        arn = cloud.outputs[STACKS[1]]["StateMachineArn"].replace(":stateMachine:", ":execution:") + ":enc-1"
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        notes = {stack: read_json(cloud, stack, "notes/enc-1.json") for stack in STACKS}
        assert all(keys(cloud, stack, "notes/") == ["notes/enc-1.json"] for stack in STACKS)
    assert sum(1 for event in history if event["type"].endswith("StateEntered")) == 9, "as in the demo"
    for note in notes.values():
        created = datetime.fromisoformat(note["provenance"]["created_at"])
        minutes_from_real = (created - real_start).total_seconds() / 60
        assert 0 < minutes_from_real < 30, f"the note's time is minutes, not hours, from the upload: {created}"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)])
def test_durations_read_as_an_operator_writes_them(text, seconds):
    assert duration_seconds(text) == seconds


# Only ASCII digits are numbers: float() would read an Arabic-Indic 2 (U+0662) or a fullwidth 5 as one.
@pytest.mark.parametrize("text", ["2 hours", "-5m", "h", "10", "3w", "\u0662h", "\uff155m"])
def test_a_duration_that_is_not_one_is_a_clear_error(text):
    with pytest.raises(BadInput, match="is not a duration: write it like 90s, 15m, 2h or 1h30m"):
        duration_seconds(text)


# ---- the served local cloud ---------------------------------------------------------------------------------
@dataclass
class Served:
    process: subprocess.Popen
    assembly: Path
    endpoint_file: Path
    log: Path
    env: dict[str, str]

    @property
    def endpoint(self) -> dict:
        return json.loads(self.endpoint_file.read_text())

    def clock(self) -> datetime:
        with urllib.request.urlopen(self.endpoint["control_url"] + "/clock", timeout=30) as response:  # noqa: S310
            return datetime.fromisoformat(json.loads(response.read())["now"])

    def target(self) -> Target:
        """The served cloud as `scribe --local` finds it (its stacks by their outputs)."""
        return Target(endpoint_url=self.endpoint["endpoint_url"], region="us-east-1", local=True)

    def s3(self):
        return self.target().client("s3")

    def buckets(self) -> dict[str, str]:
        """Each stack's encounter bucket."""
        return {d.stack_name: d.bucket for found in self.target().deployments().values() for d in found}

    def run(self, module: str, *args: str) -> subprocess.CompletedProcess:
        """`python -m MODULE ARGS` in its own process, as an operator types it beside the served cloud."""
        try:
            return subprocess.run(  # noqa: S603 (this interpreter, our own arguments)
                [sys.executable, "-m", module, *args],
                env=self.env,
                cwd=PROJECT,
                capture_output=True,
                text=True,
                timeout=COMMAND_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{module} {' '.join(args)}` did not end within {COMMAND_SECONDS} s\n{self.tail()}")

    def scribe(self, *args: str) -> subprocess.CompletedProcess:
        """`scribe --local ARGS`."""
        return self.run("scribe.cli", "--local", *args)

    def tail(self) -> str:
        lines = [line for line in self.log.read_text().splitlines() if "Warning" not in line]
        return "the local cloud's last lines:\n" + "\n".join(lines[-15:])


def within(seconds: float, done: Callable[[], bool], what: str, served: Served | None = None) -> None:
    """Wait in real time until `done()`, failing after `seconds` with what was awaited."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds:g} real seconds: {what}\n{served.tail() if served else ''}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def served(cdk_out, tmp_path_factory):
    """`python -m localcloud.serve` with the short latency table, its endpoint file in a directory of its own."""
    home = tmp_path_factory.mktemp("served")
    assembly = shutil.copytree(cdk_out, home / "cdk.out")  # the CDK CLI writes its asset cache into it
    table = json.loads(LATENCIES_FILE.read_text())
    for name, value in SHORT_LATENCIES.items():
        table[name]["value"] = value
    (home / "latencies.json").write_text(json.dumps(table))
    env = {
        **{name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"},
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SCRIBE_LOCAL_ENDPOINT_FILE": str(home / "state" / "endpoint.json"),
    }
    log = home / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, our own arguments)
            [sys.executable, "-m", "localcloud.serve", str(assembly), "--latencies", str(home / "latencies.json")],
            env=env,
            cwd=PROJECT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    cloud = Served(process, assembly, home / "state" / "endpoint.json", log, env)
    try:
        within(
            STARTUP_SECONDS,
            lambda: process.poll() is not None or "ready:" in log.read_text(),
            "the local cloud deployed and ready",
            cloud,
        )
        if process.poll() is not None:
            pytest.fail(f"python -m localcloud.serve ended with {process.returncode}\n{cloud.tail()}")
        yield cloud
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_an_upload_reaches_its_note_by_itself_as_real_time_passes(served):
    uploaded_at = datetime.now(UTC)
    done = served.scribe("upload", str(SAMPLE), "--encounter-id", "by-itself")
    assert done.returncode == 0, done.stderr
    s3, buckets = served.s3(), served.buckets()

    def noted(stack: str) -> bool:
        return s3.list_objects_v2(Bucket=buckets[stack], Prefix="notes/by-itself.json").get("KeyCount", 0) == 1

    for stack in STACKS:
        within(NOTE_SECONDS, lambda stack=stack: noted(stack), f"notes/by-itself.json in {stack}", served)
    for stack in STACKS:
        note = json.loads(s3.get_object(Bucket=buckets[stack], Key="notes/by-itself.json")["Body"].read())
        created = datetime.fromisoformat(note["provenance"]["created_at"])
        assert uploaded_at < created < datetime.now(UTC) + timedelta(seconds=5), "the cloud's time is real time"


def test_advance_goes_from_the_clock_s_present_then_the_clock_keeps_pace_from_there(served):
    start = served.clock()
    moments = []
    for duration in ("2h", "1m"):
        done = served.scribe("advance", duration)
        assert done.returncode == 0, done.stderr
        moments.append(served.clock())
    first, second = moments
    assert first >= start + timedelta(hours=2)
    assert first + timedelta(minutes=1) <= second < first + timedelta(minutes=2), "forward from the advanced moment"
    s3, bucket = served.s3(), served.buckets()[STACKS[0]]
    s3.put_object(Bucket=bucket, Key="audio/after-advances.wav", Body=SAMPLE.read_bytes())
    stamped = s3.head_object(Bucket=bucket, Key="audio/after-advances.wav")["LastModified"]
    assert stamped >= second.replace(microsecond=0), "an upload after the advances is stamped after them"
    time.sleep(2)
    assert second + timedelta(seconds=1.5) <= served.clock() < second + timedelta(minutes=1), "it keeps pace"


@pytest.mark.parametrize(
    ("duration", "says"),
    [
        ("-5m", "the clock only goes forward: '-5m' would move it back"),
        ("0s", "'0s' is no time"),
        ("soon", "'soon' is not a duration"),
        ("8d", "advance 8d: an advance must be more than 0 s and at most 7 days"),
    ],
)
def test_a_bad_advance_is_one_line_that_changes_nothing(served, duration, says):
    before = served.clock()
    done = served.scribe("advance", duration)
    after = served.clock()
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and says in done.stderr and "(nothing was changed)" in done.stderr, done.stderr
    assert after - before < timedelta(seconds=COMMAND_SECONDS), "the clock ticked on, it did not jump"


def test_a_second_local_cloud_refuses_in_one_line_naming_the_running_one(served):
    before = served.endpoint_file.read_text()
    done = served.run("localcloud.serve", str(served.assembly))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert (
        f"a local cloud is already running (pid {served.process.pid}, {served.endpoint['endpoint_url']}" in done.stderr
    )
    assert served.endpoint_file.read_text() == before
    assert served.process.poll() is None, "the running one runs on"


# ---- an operator's session: the served cloud, driven only by `scribe --local` and real time ------------------
def stages_in_every_view(served: Served, monkeypatch, encounter_id: str) -> dict[str, dict[str, str]]:
    """Per variant, the stage `scribe list`, `status`, `note`, `review list` and the page's worklist name."""
    from tests.localcloud.test_stages import views

    monkeypatch.setenv("AWS_ENDPOINT_URL", served.endpoint["endpoint_url"])  # the views, in this process
    return views(encounter_id)


def stage_of(served: Served, encounter_id: str) -> dict[str, str]:
    done = served.scribe("status", encounter_id, "--json")
    assert done.returncode == 0, done.stderr
    return {item["variant"]: item["stage"] for item in json.loads(done.stdout)}


def settle_at(served: Served, monkeypatch, encounter_id: str, stage: str, version: int | None = None) -> None:
    """Wait (real time, nobody advancing) until both variants are at `stage`; then every view says so."""
    within(NOTE_SECONDS, lambda: set(stage_of(served, encounter_id).values()) == {stage}, f"{encounter_id} {stage}")
    every_view = {"list", "status", "note", "review list", "worklist"}
    for variant, seen in stages_in_every_view(served, monkeypatch, encounter_id).items():
        assert seen == dict.fromkeys(every_view, stage), (encounter_id, variant, seen)
    if version is not None:
        for variant in ("choreography", "orchestration"):
            shown = served.scribe("note", encounter_id, "--variant", variant)
            assert shown.stdout.startswith(f"== {encounter_id} ({variant}, version {version}, {stage})"), shown.stdout


def test_an_operator_session_uploads_watches_signs_sends_back_and_exports(served, monkeypatch):
    for encounter_id in ("session-signed", "session-sent-back"):
        done = served.scribe("upload", str(SAMPLE), "--encounter-id", encounter_id)
        assert done.returncode == 0, done.stderr
    # The watch follows both variants to the review by itself: no advance, the cloud's clock runs.
    watched = served.scribe("status", "session-signed", "--watch", "--timeout", "5m")
    assert watched.returncode == 0, watched.stderr
    last = {line.split(":")[0]: line.split(": ", 1)[1] for line in watched.stdout.splitlines()}
    assert last == {
        f"session-signed ({variant})": "AWAITING_REVIEW" for variant in ("choreography", "orchestration")
    }, watched.stdout
    settle_at(served, monkeypatch, "session-signed", "AWAITING_REVIEW", version=1)
    settle_at(served, monkeypatch, "session-sent-back", "AWAITING_REVIEW", version=1)

    # Signed with an edit: the first subjective statement in the clinician's own words (a duration the recording
    # does not give, so it is theirs, not the recording's); any flagged one accepted.
    edit = "Cough for five days, worse at night, as the patient described it."
    for variant in ("choreography", "orchestration"):
        shown = served.scribe("note", "session-signed", "--variant", variant, "--json")
        note = json.loads(shown.stdout)
        first = note["sections"][0]["statements"][0]["id"]
        accepted = [f"--accept={flag['statement']}" for flag in note["flagged"] if flag["statement"] != first]
        done = served.scribe(
            "sign", "session-signed", "--variant", variant, "--edit", f"{first}={edit}", "--own", first, *accepted
        )
        assert done.returncode == 0, done.stderr
        assert not done.stdout.lstrip().startswith("{"), "no log line on stdout"
    settle_at(served, monkeypatch, "session-signed", "SIGNED", version=2)

    # Sent back: the redraft arrives by itself, as the next version, awaiting review again.
    for variant in ("choreography", "orchestration"):
        done = served.scribe("send-back", "session-sent-back", "--variant", variant, "--reason", "Add the follow-up.")
        assert done.returncode == 0, done.stderr
    settle_at(served, monkeypatch, "session-sent-back", "AWAITING_REVIEW", version=2)

    # The FHIR export (the default format) carries the clinician's edit.
    exported = served.scribe("export", "session-signed", "--variant", "orchestration")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["resourceType"] == "DocumentReference"
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
    assert edit in text

    # A mistyped id: one line, a suggestion, nothing changed.
    mistyped = served.scribe("status", "session-signd")
    assert (mistyped.returncode, mistyped.stdout) == (2, "")
    assert mistyped.stderr.count("\n") == 1 and "did you mean session-signed?" in mistyped.stderr, mistyped.stderr
    # A text file named .wav: refused before anything is written.
    fake = served.assembly.parent / "not-audio.wav"
    fake.write_text("this is a text file, not a recording\n")
    refused = served.scribe("upload", str(fake))
    assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
    assert refused.stderr.count("\n") == 1 and "(nothing was uploaded)" in refused.stderr, refused.stderr
    s3, buckets = served.s3(), served.buckets()
    assert all(s3.list_objects_v2(Bucket=b, Prefix="audio/not-audio").get("KeyCount") == 0 for b in buckets.values())
