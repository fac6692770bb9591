"""`make demo` runs the main job: every sample reaches a note in both variants, the fault scenario shows, and a
clinician signs one note with an edit (exported as FHIR), sends one back and leaves the rest to expire."""

import contextlib
import io
import shutil

import pytest

from experiments import PROJECT, demo
from tests.support.make import make_with


@pytest.fixture(scope="module")
def printed(cdk_out, tmp_path_factory) -> str:
    """What one demo run prints, its bad file's path as `make demo` prints it (under cdk.out)."""
    # The demo writes its bad file under the cdk.out it is given: a copy, not the session's shared one.
    own = shutil.copytree(cdk_out, tmp_path_factory.mktemp("demo") / "cdk.out")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert demo.main(["demo", str(own)]) == 0
    return output.getvalue().replace(str(own), "cdk.out")


def test_the_demo_takes_the_samples_to_notes_and_shows_the_fault_scenario(printed):
    lines = printed.splitlines()
    rows = [line for line in lines if " | " in line]  # the scenarios' tables
    for sample in ("ankle-sprain", "cough-visit", "diabetes-review"):
        [row] = [line for line in rows if line.strip().startswith(f"{sample} ")]
        assert row.count("note after") == 2, row
        assert row.count("execution RUNNING at AwaitReview") == 1, row  # the note written, waiting for review
    [rejected] = [line for line in rows if line.strip().startswith("visit notes")]
    assert rejected.count("rejected: UnsupportedAudioFormat") == 2
    assert "failed: TranscriptionJobFailed" in printed
    assert "ExecutionsFailed" in printed and "EncounterFailures" in printed
    assert "NO OUTCOME" not in printed
    assert not [line for line in lines if line.startswith("FAILED: ")]
    assert "DRAFT - AI-generated" in printed and "cdk deploy --all" in printed
    assert "$ scribe upload samples/ankle-sprain.wav samples/cough-visit.wav samples/diabetes-review.wav" in printed
    assert "not a format Transcribe Medical accepts" in printed, "scribe refused the bad file"
    assert (
        "answered by asking 2 service(s): stepfunctions, transcribe (one execution history, and the failed job's reason)"
        in printed
    )
    assert "answered by asking 3 service(s): s3, transcribe, sqs" in printed


def test_the_demo_signs_sends_back_and_lets_reviews_expire_in_both_variants(printed):
    for variant in ("choreography", "orchestration"):
        assert f"signed knee-followup ({variant}): version 2, by arn:aws:sts::" in printed
        assert f"sent back cough-visit ({variant}) by arn:aws:sts::" in printed
        assert f"{variant:13} ReviewsExpiredAlarm" in printed  # the expiries raised the alarm
    # Once the send-backs settle, the redraft awaits review by itself as version 2; the signed note no longer does.
    awaiting = [line.split() for line in printed.split("$ scribe review list\n", 1)[1].split("\n$ ", 1)[0].splitlines()]
    awaiting = {(words[0], words[1]): (words[2], words[-1]) for words in awaiting}
    for variant in ("choreography", "orchestration"):
        assert awaiting[("cough-visit", variant)] == ("AWAITING_REVIEW", "2")
        assert awaiting[("ankle-sprain", variant)] == ("AWAITING_REVIEW", "1")
        assert ("knee-followup", variant) not in awaiting
    listed = [line.split() for line in printed.split("$ scribe review list --all\n", 1)[1].splitlines()[:8]]
    states = {(words[0], words[1]): (words[2], words[-1]) for words in listed}
    for variant in ("choreography", "orchestration"):
        assert states[("knee-followup", variant)] == ("SIGNED", "2")
        assert states[("cough-visit", variant)] == ("AWAITING_REVIEW", "2")  # the redraft, as the next version
        assert states[("ankle-sprain", variant)] == ("REVIEW_EXPIRED", "1")
        assert states[("diabetes-review", variant)] == ("REVIEW_EXPIRED", "1")
    # The export is the signed note: the clinician's edit, marked as theirs, and no longer the model's words.
    export = printed.split("--variant orchestration | jq -r '.content[0].attachment.data' | base64 -d\n", 1)[1]
    assert "- On exam the left knee has mild tenderness along the inner joint line. (the clinician's)" in export
    assert "let me take a look" not in export.split("Signed by", 1)[0]
    assert "exports/fhir/knee-followup.json: written by the FHIR export on NoteSigned in both variants" in export


def test_docs_local_cloud_shows_the_demo_as_it_runs(printed):
    """docs/local-cloud.md's block is a real run: regenerate it from `make demo` when the demo's output changes."""
    text = (PROJECT / "docs" / "local-cloud.md").read_text()
    documented = text.split("```\nLocal cloud: ", 1)[1].split("\n```\n", 1)[0]
    assert printed == "Local cloud: " + documented + "\n"


def test_make_demo_exits_non_zero_when_a_step_is_broken(cdk_out, tmp_path):
    """The model grant taken away: the samples end in failure records, not notes; `make demo` names the
    broken step and exits non-zero (the Makefile runs its recipes with pipefail and hides no stderr)."""
    from experiments.mutations import mutated_assembly

    broken = tmp_path / "broken"
    mutated_assembly(cdk_out, broken, "invoke-the-model")
    done = make_with("demo", broken)
    assert done.returncode != 0, done.stdout[-2000:]
    assert "FAILED: choreography/ankle-sprain ended in 'failed: NoteModelRejected', not a note" in done.stdout
    assert "FAILED: no note awaits review" in done.stdout


def test_an_upload_without_an_outcome_is_not_credited_with_another_uploads_rejection(monkeypatch):
    from clinical.layout import rejected_upload_failure_key

    rejected = rejected_upload_failure_key("audio/visit 7.wav")
    monkeypatch.setattr(demo, "list_keys", lambda *_args: [rejected])
    monkeypatch.setattr(demo, "read_json", lambda *_args: {"error_type": "InvalidEncounterId"})
    assert demo.outcome(None, "choreography", "enc-9", 0.0).result == "NO OUTCOME"
    assert demo.outcome(None, "choreography", "enc-9", 0.0, "audio/enc-9.wav").result == "NO OUTCOME"
    assert (
        demo.outcome(None, "choreography", "visit 7", 0.0, "audio/visit 7.wav").result == "rejected: InvalidEncounterId"
    )
