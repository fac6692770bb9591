"""scribe against the in-process local cloud with both variants deployed."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clinical.layout import digest_reference
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from scribe.cli import main
from tests.localcloud.conftest import STACKS, deploy_both, keys

AUDIO = b"RIFF....WAVEfmt cli test dictation"


@pytest.fixture
def cloud(cdk_out):
    with LocalCloud(cdk_out, faults=FaultPlan(seed=3)) as cloud:
        deploy_both(cloud, AUDIO)
        yield cloud


def scribe(*args: str, exit_code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result


def scribe_json(*args: str, exit_code: int = 0):
    output = scribe(*args, "--json", exit_code=exit_code).stdout
    try:
        return json.loads(output)
    except ValueError:
        raise AssertionError(output) from None


def dictation(tmp_path, name: str, body: bytes = AUDIO):
    path = tmp_path / name
    path.write_bytes(body)
    return str(path)


def by_variant(statuses: list[dict]) -> dict[str, dict]:
    return {status["variant"]: status for status in statuses}


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("visit notes.wav", AUDIO, "encounter id must be"),
        ("visit.txt", AUDIO, "not a format Transcribe Medical accepts"),
        ("visit.wav", b"", "the audio file is empty"),
        ("visit.wav", b"Patient reports a cough.\n", "by its header, the file is not wav audio, nor any format known"),
        ("visit.mp3", AUDIO, "by its header, the file is not mp3 audio but wav (audio/x-wav)"),
        ("visit.webm", b"%PDF-1.7 a scanned referral", "by its header, the file is not webm audio but pdf"),
    ],
)
def test_a_bad_file_is_rejected_before_anything_is_uploaded(cloud, tmp_path, name, body, reason):
    good = dictation(tmp_path, "good-one.wav")
    result = scribe("upload", good, dictation(tmp_path, name, body), exit_code=2)
    assert reason in result.output and "nothing was uploaded" in result.output
    assert len(result.output.strip().splitlines()) == 1, "one line"
    for stack in STACKS:
        assert keys(cloud, stack, "audio/") == [], "not even the good file"


def test_upload_uses_the_file_name_as_id_and_the_stacks_key(cloud, tmp_path):
    scribe("upload", dictation(tmp_path, "enc-1.wav"), "--variant", "both")
    s3 = cloud.client("s3")
    for stack in STACKS:
        head = s3.head_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key="audio/enc-1.wav")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == cloud.outputs[stack]["KmsKeyArn"]
    scribe("upload", dictation(tmp_path, "whatever.wav"), "--encounter-id", "enc-2", "--variant", "orchestration")
    assert keys(cloud, STACKS[1], "audio/") == ["audio/enc-1.wav", "audio/enc-2.wav"]
    assert head["Metadata"] == {"template": "soap"}, "the default template travels with the audio"


def test_upload_declares_a_wav_files_length_so_the_line_places_it_by_when_the_visit_began(cloud, tmp_path):
    sample = Path(__file__).resolve().parents[2] / "samples" / "cough-visit.wav"
    recording = dictation(tmp_path, "enc-5.wav", sample.read_bytes())
    scribe("upload", recording, "--variant", "choreography")
    head = cloud.client("s3").head_object(Bucket=cloud.outputs[STACKS[0]]["EncounterBucketName"], Key="audio/enc-5.wav")
    assert head["Metadata"] == {"template": "soap", "recording-seconds": "19"}, "19.0 s by its header"


def test_upload_carries_the_note_template_and_refuses_a_typo_before_sending(cloud, tmp_path):
    scribe("upload", dictation(tmp_path, "enc-3.wav"), "--template", "hp", "--variant", "choreography")
    head = cloud.client("s3").head_object(Bucket=cloud.outputs[STACKS[0]]["EncounterBucketName"], Key="audio/enc-3.wav")
    assert head["Metadata"] == {"template": "hp"}
    typo = scribe("upload", dictation(tmp_path, "enc-4.wav"), "--template", "soapp", exit_code=2)
    assert typo.output.strip().splitlines() == [
        f"Error: unknown note template {digest_reference('soapp')} (known: dap, hp, soap); did you mean soap? "
        "(nothing was uploaded)"
    ]
    assert all("audio/enc-4.wav" not in keys(cloud, stack, "audio/") for stack in STACKS)


def test_upload_refuses_an_encounter_id_in_use_and_never_replaces_audio(cloud, tmp_path):
    scribe("upload", dictation(tmp_path, "enc-9.wav"))
    again = scribe("upload", dictation(tmp_path, "enc-9.mp3", b"ID3 a re-recording"), exit_code=2)
    assert "encounter id enc-9 is in use in choreography (audio/enc-9.wav)" in again.output
    assert "--encounter-id enc-9-2" in again.output and "nothing was uploaded" in again.output
    for stack in STACKS:
        assert keys(cloud, stack, "audio/") == ["audio/enc-9.wav"]
    # Past the check (another client raced it), S3 itself refuses to replace the object: If-None-Match.
    from scribe import uploads
    from scribe.target import Target

    deployment = Target(region="us-east-1", local=True).deployment("choreography", None)
    planned = uploads.plan_uploads([tmp_path / "enc-9.mp3"], "enc-9")
    racing = uploads.PlannedUpload(planned[0].path, "enc-9", "audio/enc-9.wav")
    with pytest.raises(Exception, match="PreconditionFailed"):
        uploads.upload(deployment, racing)


def test_status_of_a_running_then_a_finished_encounter(cloud, tmp_path):
    cloud.transcribe.job_seconds = lambda _audio_seconds: 10**7  # the job stays in progress until we finish it
    scribe("upload", dictation(tmp_path, "enc-3.wav"))

    def waiting_for_the_transcript() -> bool:
        statuses = by_variant(scribe_json("status", "enc-3"))
        timeline = statuses["orchestration"]["timeline"]
        return all(s["stage"] == "TRANSCRIBING" for s in statuses.values()) and any(
            m["what"] == "entered WaitForTranscript" for m in timeline
        )

    cloud.run_until(waiting_for_the_transcript, horizon=600)
    statuses = by_variant(scribe_json("status", "enc-3"))
    assert {v: s["stage"] for v, s in statuses.items()} == {
        "choreography": "TRANSCRIBING",
        "orchestration": "TRANSCRIBING",
    }
    assert any(m["what"] == "entered WaitForTranscript" for m in statuses["orchestration"]["timeline"])
    for job in cloud.transcribe.pending.values():
        job.due_at = cloud.clock.epoch()
    cloud.run_until_quiet()
    statuses = by_variant(scribe_json("status", "enc-3"))
    assert {v: s["stage"] for v, s in statuses.items()} == {
        "choreography": "AWAITING_REVIEW",
        "orchestration": "AWAITING_REVIEW",
    }
    assert statuses["orchestration"]["services_asked"] == ["stepfunctions", "s3"], "the execution, the review record"
    assert statuses["choreography"]["services_asked"] == ["s3", "transcribe", "sqs"]
    text = scribe("status", "enc-3", "--variant", "choreography").output
    assert "pieced together from several services" in text and "): AWAITING_REVIEW" in text


def test_status_of_an_unknown_encounter_is_a_clear_not_found(cloud):
    result = scribe("status", "never-uploaded", exit_code=1)
    assert "never-uploaded (choreography): not found" in result.output
    assert "never-uploaded (orchestration): not found" in result.output
    assert "must be" in scribe("status", "bad id!", exit_code=2).output


def test_a_transient_failure_is_shown_then_redriven_to_a_note_in_each_variant(cloud, tmp_path):
    cloud.faults.rates["bedrock_throttle"] = 1.0
    scribe("upload", dictation(tmp_path, "enc-4.wav"))
    cloud.run_until_quiet()
    failed = by_variant(scribe_json("status", "enc-4"))
    assert {v: (s["stage"], s["failure"]["error_type"]) for v, s in failed.items()} == {
        "choreography": ("FAILED", "NoteModelThrottled"),
        "orchestration": ("FAILED", "NoteModelThrottled"),
    }
    assert failed["orchestration"]["failure"]["failed_step"] == "GenerateNote"
    assert any("NoteRequestsDlq" in e for e in failed["choreography"]["evidence"])
    assert failed["choreography"]["retries"] == failed["orchestration"]["retries"] == 4, "one policy: 5 tries"

    cloud.faults.rates.clear()  # Bedrock recovers
    output = scribe("redrive", "enc-4").output
    assert "choreography: 1 DLQ message(s) moved back (enc-4)" in output
    assert "orchestration: 1 execution(s) redriven (enc-4)" in output
    cloud.run_until_quiet()
    recovered = by_variant(scribe_json("status", "enc-4"))
    assert {v: s["stage"] for v, s in recovered.items()} == {
        "choreography": "AWAITING_REVIEW",
        "orchestration": "AWAITING_REVIEW",
    }
    assert any(m["what"] == "redriven" for m in recovered["orchestration"]["timeline"])
    history = [m["what"] for m in recovered["orchestration"]["timeline"]]
    assert history.count("entered StartTranscription") == 1, "the redrive resumed at the failed step"
    for stack in STACKS:
        assert keys(cloud, stack, "failures/") == []


def test_nothing_to_redrive_is_said_and_exits_non_zero(cloud, tmp_path):
    cloud.faults.rates["bedrock_malformed"] = 1.0
    scribe("upload", dictation(tmp_path, "enc-5.wav"), "--variant", "choreography")
    cloud.run_until_quiet()
    result = scribe("redrive", "enc-5", "--variant", "choreography", exit_code=1)
    assert "the failure was permanent" in result.output
    assert "give an ENCOUNTER_ID or --all" in scribe("redrive", exit_code=2).output


def test_note_list_and_their_json(cloud, tmp_path):
    scribe("upload", dictation(tmp_path, "enc-6.wav"), dictation(tmp_path, "enc-7.wav"))
    cloud.run_until_quiet()
    text = scribe("note", "enc-6", "--variant", "orchestration").output
    assert "DRAFT - AI-generated" in text and "ASSESSMENT" in text and "PROVENANCE" in text
    stored = scribe_json("note", "enc-6", "--variant", "choreography")
    assert stored["status"] == "draft" and stored["provenance"]["variant"] == "choreography"
    listed = scribe_json("list")
    assert sorted((item["encounter_id"], item["variant"], item["stage"]) for item in listed) == [
        ("enc-6", "choreography", "AWAITING_REVIEW"),
        ("enc-6", "orchestration", "AWAITING_REVIEW"),
        ("enc-7", "choreography", "AWAITING_REVIEW"),
        ("enc-7", "orchestration", "AWAITING_REVIEW"),
    ]
    assert scribe_json("list", "--state", "failed") == []
    assert "no note for encounter never-uploaded" in scribe("note", "never-uploaded", exit_code=1).output


def test_a_mistyped_id_gets_the_id_it_was_likely_meant_to_be_and_changes_nothing(cloud, tmp_path):
    scribe("upload", dictation(tmp_path, "visit-0042.wav"))
    cloud.run_until_quiet()
    before = {stack: keys(cloud, stack) for stack in STACKS}
    for command in (
        ["status", "visit-0024"],
        ["note", "visit-0024"],
        ["sign", "visit-0024", "--variant", "orchestration"],
        ["send-back", "visit-0024", "--variant", "choreography", "--reason", "Add the dose."],
        ["export", "visit-0024", "--variant", "choreography"],
        ["redrive", "visit-0024"],
    ):
        result = scribe(*command, exit_code=2)
        where = "orchestration" if "orchestration" in command else "choreography"
        assert result.output.splitlines() == [
            f"Error: no encounter visit-0024 in {where if '--variant' in command else 'choreography or orchestration'}:"
            " did you mean visit-0042? (nothing was changed)"
        ], command
    assert {stack: keys(cloud, stack) for stack in STACKS} == before
    # An id near none the deployments know is not found (exit 1), as before.
    assert "never-uploaded (choreography): not found" in scribe("status", "never-uploaded", exit_code=1).output


def test_a_failed_transcription_job_gives_its_reason_in_both_variants(cloud, tmp_path):
    cloud.faults.rates["transcribe_job"] = 1.0
    scribe("upload", dictation(tmp_path, "enc-2.wav"))
    cloud.run_until_quiet()
    failed = by_variant(scribe_json("status", "enc-2"))
    assert {v: s["stage"] for v, s in failed.items()} == {"choreography": "FAILED", "orchestration": "FAILED"}
    reasons = {v: s["failure"]["message"] for v, s in failed.items()}
    assert reasons["orchestration"] == reasons["choreography"], "the job's own reason, in both"
    assert (
        reasons["orchestration"].startswith("Transcribe Medical job failed: ")
        and "local fault" in reasons["orchestration"]
    )
    text = scribe("status", "enc-2", "--variant", "orchestration").output
    assert (
        f"failure: TranscriptionJobFailed at stage transcription, step TranscriptionJobFailed: {reasons['orchestration']}"
        in text
    )
    assert "(one execution history, and the failed job's reason)" in text
    listed = {(item["variant"], item["failure"]) for item in scribe_json("list")}
    assert listed == {(v, "FAILED: TranscriptionJobFailed at transcription") for v in failed}


def test_sign_and_send_back_speak_to_a_person_and_log_nothing_on_stdout(cloud, tmp_path, monkeypatch):
    """The domain's logger writes JSON lines to the process's stdout (Lambda's way to CloudWatch): not from scribe."""
    from clinical import observability

    process_stdout = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", process_stdout)
    scribe("upload", dictation(tmp_path, "enc-2.wav"))
    cloud.run_until_quiet()
    process_stdout.truncate(0)  # the handlers' own lines, as Lambda writes them
    sent = scribe("send-back", "enc-2", "--variant", "choreography", "--reason", "Add the dose.")
    signed = scribe("sign", "enc-2", "--variant", "orchestration")
    assert process_stdout.getvalue() == ""
    said = sent.stdout.splitlines() + signed.stdout.splitlines()
    assert len(said) == 3 and said[0].startswith("sent back enc-2 (choreography) by arn:aws:"), said
    assert said[1] == "the note is drafted again with the reason and awaits review once more: scribe status enc-2"
    assert said[2].startswith("signed enc-2 (orchestration): version 1, by arn:aws:"), said
    assert "{" not in sent.stderr + signed.stderr
    assert observability.logger.registered_handler.stream is process_stdout, "the handlers' stream, back after it"


def test_status_watch_follows_each_variant_until_it_settles_saying_each_stage_once(cloud, tmp_path, monkeypatch):
    from scribe import cli

    class InProcessClock:
        """The in-process cloud moves only when run: each wait lets 30 simulated seconds pass, as the served cloud's
        clock control moves its clock on."""

        waits = 0

        def now(self) -> float:
            return cloud.clock.now()

        def wait(self) -> None:
            self.waits += 1
            cloud.run_for(30)

    clock = InProcessClock()
    monkeypatch.setattr(cli, "_clock", lambda _target: clock)
    scribe("upload", dictation(tmp_path, "enc-5.wav"))
    watched = scribe("status", "enc-5", "--watch", "--timeout", "1h").output.splitlines()
    order = ["RECEIVED", "TRANSCRIBING", "DRAFTING", "AWAITING_REVIEW"]
    for variant in ("choreography", "orchestration"):
        said = [line.split(": ", 1)[1] for line in watched if line.startswith(f"enc-5 ({variant}): ")]
        assert said[0] == "RECEIVED" and said[-1] == "AWAITING_REVIEW", watched
        assert said == sorted(set(said), key=order.index), "each stage once, in order"
    assert 0 < clock.waits < 120
    settled = scribe("status", "enc-5", "--watch").output
    assert settled == "enc-5 (choreography): AWAITING_REVIEW\nenc-5 (orchestration): AWAITING_REVIEW\n"
    lines = scribe("status", "enc-5", "--watch", "--json").output.splitlines()
    assert [json.loads(line)["stage"] for line in lines] == ["AWAITING_REVIEW", "AWAITING_REVIEW"]

    cloud.transcribe.job_seconds = lambda _audio_seconds: 10**7  # a job that does not end within the watch
    scribe("upload", dictation(tmp_path, "enc-6.wav"))
    stuck = scribe("status", "enc-6", "--watch", "--timeout", "2m", exit_code=1)
    assert stuck.output.splitlines()[-1] == (
        "Error: enc-6 did not settle within 120 s: choreography TRANSCRIBING, orchestration TRANSCRIBING"
    )


def test_local_without_a_running_local_cloud_says_how_to_start_one(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr("scribe.target.LOCAL_ENDPOINT_FILE", tmp_path / "missing.json")
    assert "make localcloud" in scribe("--local", "list", exit_code=1).output


def test_scribe_refuses_exactly_the_advances_the_local_cloud_refuses():
    """localcloud.serve and scribe.cli each name the longest advance (neither imports the other): the same."""
    from localcloud import serve
    from scribe import cli

    assert serve.MAX_ADVANCE_SECONDS == cli.MAX_ADVANCE_SECONDS


def test_the_local_cloud_writes_its_endpoint_where_scribe_local_reads_it():
    """localcloud.serve and scribe.target each name the endpoint file (neither imports the other): the same
    path, by default and under SCRIBE_LOCAL_ENDPOINT_FILE."""
    from localcloud import serve
    from scribe import target

    assert serve.LOCAL_ENDPOINT_FILE == target.LOCAL_ENDPOINT_FILE
    both = subprocess.run(
        [
            sys.executable,
            "-c",
            "from localcloud.serve import LOCAL_ENDPOINT_FILE as a; from scribe.target import LOCAL_ENDPOINT_FILE as b;"
            " print(a); print(b)",
        ],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "SCRIBE_LOCAL_ENDPOINT_FILE": "/tmp/elsewhere/endpoint.json",  # noqa: S108 (never written)
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert both == ["/tmp/elsewhere/endpoint.json"] * 2  # noqa: S108


def test_scribe_local_finds_the_running_local_cloud_from_any_directory(tmp_path):
    """The endpoint file lives in the user's state directory: both modules name it, from any working directory, and
    `scribe --local` run elsewhere than the repository reads it (here it names an endpoint nothing listens on)."""
    state = tmp_path / "state"
    endpoint_file = state / "clinical-scribe-pipelines" / "endpoint.json"
    env = {k: v for k, v in os.environ.items() if k not in ("SCRIBE_LOCAL_ENDPOINT_FILE", "AWS_ENDPOINT_URL")}
    env |= {"PYTHONPATH": os.pathsep.join(sys.path), "XDG_STATE_HOME": str(state)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    both = "from localcloud.serve import LOCAL_ENDPOINT_FILE as a; from scribe.target import LOCAL_ENDPOINT_FILE as b"
    printed = subprocess.run(  # noqa: S603 (this interpreter, our own two lines)
        [sys.executable, "-c", f"{both}; print(a); print(b)"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert printed.stdout.split() == [str(endpoint_file)] * 2, printed.stderr
    endpoint_file.parent.mkdir(parents=True)
    endpoint_file.write_text(json.dumps({"endpoint_url": "http://localhost:9"}))
    listed = subprocess.run(
        [sys.executable, "-m", "scribe.cli", "--local", "list"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert (listed.returncode, listed.stderr.strip()) == (
        1,
        "Error: cannot reach http://localhost:9/: is the local cloud running?",
    )


def test_cost_prices_both_variants_and_rejects_an_unknown_model():
    estimate = scribe_json("cost", "--minutes", "3", "--encounters", "500")
    assert set(estimate["variants"]) == {"choreography", "orchestration"}
    for figures in estimate["variants"].values():
        transcribe = figures["lines"][0]
        assert transcribe["item"] == "Transcribe Medical"
        assert transcribe["usd_per_n"] == pytest.approx(3 * 0.075 * 500)
    assert "Transcribe is" in scribe("cost").output
    assert "no price for model" in scribe("cost", "--model", "unknown", exit_code=2).output


def test_the_measurement_counts_one_converse_call_and_nine_transitions_per_encounter(cdk_out):
    from experiments.measure import measure

    figures = measure(cdk_out, encounters=2)["per_encounter"]
    for variant in ("choreography", "orchestration"):
        assert figures[variant]["operations"]["bedrock-runtime:Converse"] == 1.0, variant
        assert figures[variant]["operations"]["transcribe:StartMedicalTranscriptionJob"] == 1.0, variant
    # ExecutionName and CheckInput (the input check before any key is built from it), BehindOthers (nobody waits
    # for a Transcribe slot), the transcript's three steps, then the review's: CheckReview reads the record,
    # ReviewOutcome routes it, AwaitReview waits.
    assert figures["orchestration"]["state_transitions"] == 9.0
    assert figures["choreography"]["lambda"]["choreography.write_note.handler"]["invocations"] == 1.0


def test_no_region_or_no_reachable_endpoint_is_a_clear_error_not_a_traceback(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert "no AWS region configured" in scribe("list", exit_code=1).output
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:9")
    assert "cannot reach http://localhost:9" in scribe("list", exit_code=1).output


def test_console_links_are_given_on_aws_only(cloud, tmp_path, monkeypatch):
    from scribe.encounters import status_of
    from scribe.target import Target

    scribe("upload", dictation(tmp_path, "enc-8.wav"), "--variant", "orchestration")
    cloud.run_until_quiet()
    on_aws = status_of(Target(region="us-east-1").deployment("orchestration"), "enc-8")
    assert on_aws.links["execution"].startswith("https://us-east-1.console.aws.amazon.com/states/home")
    assert "logsV2:log-groups/log-group/" in on_aws.links["execution logs"]
    assert status_of(Target(region="us-east-1", local=True).deployment("orchestration"), "enc-8").links == {}


def test_note_of_an_invalid_stored_note_is_a_clear_error_not_a_traceback(cloud):
    for stack in STACKS:
        cloud.client("s3").put_object(
            Bucket=cloud.outputs[stack]["EncounterBucketName"], Key="notes/enc-bad.json", Body=b'{"soap": "x"}'
        )
    result = scribe("note", "enc-bad", "--variant", "orchestration", exit_code=1)
    assert "the stored note for enc-bad (orchestration) does not match the note schema" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_region_in_aws_region_alone_is_used(monkeypatch):
    from scribe.target import Target

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert Target().client("s3").meta.region_name == "eu-west-1"


def test_a_clinician_reviews_edits_and_signs_in_both_variants_once(cloud, tmp_path):
    """Draft, review list, the note with its statements' ids, then a signature that removes one order, edits the
    other and adds the clinician's own finding: the signed note and its FHIR export are exactly that, the
    clinician's statements attributed; NoteSigned counts each change. A second signature, an edit that says what
    the transcript does not, and a statement named by no id are refused, changing nothing."""
    from tests.support.domain_events import contract_errors, received, subscribe

    events, sqs = cloud.client("events"), cloud.client("sqs")
    urls = {
        stack: subscribe(events, sqs, cloud.outputs[stack]["DomainEventBusName"], f"signed-{stack}") for stack in STACKS
    }
    scribe("upload", dictation(tmp_path, "enc-7.wav"))
    cloud.run_until_quiet()
    listed = scribe("review", "list").output
    assert listed.count("enc-7") == 2 and "AWAITING_REVIEW" in listed and "due " in listed
    for stack, variant in zip(STACKS, ("choreography", "orchestration"), strict=True):
        shown = scribe("note", "enc-7", "--variant", variant).output
        assert f"== enc-7 ({variant}, version 1, AWAITING_REVIEW)" in shown
        note = json.loads(scribe("note", "enc-7", "--variant", variant, "--json").output)
        [plan] = next(s for s in note["sections"] if s["name"] == "plan")["statements"]
        kept, removed = note["medications_and_orders"]
        assert f"  {plan['id']}  " in shown and f"  {kept['id']}  [medication]" in shown
        for bad, says in (
            (("--edit", f"{plan['id']}=Start warfarin 5 mg."), "the medication warfarin is not in its evidence"),
            (("--edit", "plan.0=Rest."), "a statement is named by its id"),
            (("--remove", "s\u0663"), "a statement is named by its id"),
        ):
            refused = scribe("sign", "enc-7", "--variant", variant, *bad, exit_code=2)
            assert says in refused.output and "Traceback" not in refused.output
        assert keys(cloud, stack, "signed/") == []
        signed = scribe(
            "sign", "enc-7", "--variant", variant, "--version", "1",
            "--remove", removed["id"],
            "--edit", f"{kept['id']}=Amoxicillin 1 gram three times daily",
            "--add", "objective=Oxygen saturation 95% on room air.",
            "--patient", "Patient/42",
        )  # fmt: skip
        assert f"signed enc-7 ({variant}): version 2, by arn:aws:" in signed.output
        again = scribe("sign", "enc-7", "--variant", variant, exit_code=2)
        assert "encounter enc-7 is SIGNED, not awaiting review (nothing was changed)" in again.output
        assert keys(cloud, stack, "signed/") == ["signed/enc-7.json"]
        status = json.loads(scribe("status", "enc-7", "--variant", variant, "--json").output)[0]
        assert status["review"]["status"] == "SIGNED" and status["review"]["version"] == 2
        kinds = {}
        for event in received(sqs, urls[stack]):
            assert contract_errors(event) == [], event["detail-type"]
            kinds[event["detail-type"]] = event["detail"]
        signed_event = kinds["NoteSigned"]
        assert (signed_event["edited_statements"], signed_event["removed_statements"]) == (1, 1)
        assert (signed_event["added_statements"], signed_event["note_version"]) == (1, 2)
        exported = json.loads(scribe("export", "enc-7", "--variant", variant, "--fhir").output)
        assert (exported["docStatus"], exported["subject"]["reference"]) == ("final", "Patient/42")
        text = base64.b64decode(exported["content"][0]["attachment"]["data"]).decode()
        orders = text.split("Medications and orders\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert orders == ["- [medication] Amoxicillin 1 gram three times daily (the clinician's)"]
        assert "- Oxygen saturation 95% on room air. (the clinician's own, not from the recording)" in text
        assert "Oxygen" not in json.dumps(kinds) and "Amoxicillin 1 gram" not in json.dumps(kinds)
    assert "no notes awaiting review" in scribe("review", "list").output
    unsigned = scribe("export", "never-uploaded", "--variant", "choreography", "--patient", "Patient/42", exit_code=1)
    assert "encounter never-uploaded has no signed note in choreography" in unsigned.output


def test_a_note_sent_back_from_the_terminal_is_drafted_again_and_the_page_says_why(cloud, tmp_path):
    """send-back, through each variant's own wiring (the bus for choreography, the task token for
    orchestration), ends with the note drafted again and awaiting review; the page names the reason; a reason
    over the limit is refused."""
    from review_desk.desk import ReviewDesk
    from review_desk.pages import note_page
    from scribe.target import Target

    scribe("upload", dictation(tmp_path, "enc-9.wav"))
    cloud.run_until_quiet()
    too_long = scribe("send-back", "enc-9", "--variant", "choreography", "--reason", "x" * 1001, exit_code=2)
    assert "a reason is at most 1000 characters (1001 given)" in too_long.output
    for variant in ("choreography", "orchestration"):
        sent = scribe("send-back", "enc-9", "--variant", variant, "--reason", "Add the follow-up visit.")
        assert f"sent back enc-9 ({variant}) by arn:aws:" in sent.output and "drafted again" in sent.output
    cloud.run_until_quiet()
    target = Target(region="us-east-1", local=True)
    desk = ReviewDesk({variant: target.deployment(variant) for variant in ("choreography", "orchestration")})
    for variant in ("choreography", "orchestration"):
        status = json.loads(scribe("status", "enc-9", "--variant", variant, "--json").output)[0]
        assert (status["review"]["status"], status["review"]["version"]) == ("AWAITING_REVIEW", 2)
        page = note_page(desk.note(variant, "enc-9"), desk.now(), signer="dr")
        assert "Redraft 1 of at most 2, after: Add the follow-up visit." in page
