"""`make demo` runs the main job: every sample reaches a note in both variants, and the fault scenario shows."""

import contextlib
import io
import shutil

from experiments import demo
from tests.support.make import make_with


def test_the_demo_takes_the_samples_to_notes_and_shows_the_fault_scenario(cdk_out, tmp_path):
    # The demo writes its bad file under the cdk.out it is given: a copy, not the session's shared one.
    own = shutil.copytree(cdk_out, tmp_path / "cdk.out")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert demo.main(["demo", str(own)]) == 0
    lines = [line for line in printed.getvalue().splitlines() if not line.startswith('{"')]
    text = "\n".join(lines)
    for sample in ("ankle-sprain", "cough-visit", "diabetes-review"):
        [row] = [line for line in lines if line.strip().startswith(f"{sample} ")]
        assert row.count("note after") == 2, row
        assert row.count("execution RUNNING at AwaitReview") == 1, row  # the note written, waiting for review
    [rejected] = [line for line in lines if line.strip().startswith("visit notes")]
    assert rejected.count("rejected: UnsupportedAudioFormat") == 2
    assert "failed: TranscriptionJobFailed" in text
    assert "ExecutionsFailed" in text and "EncounterFailures" in text
    assert "NO OUTCOME" not in text
    assert "DRAFT - AI-generated" in text and "cdk deploy --all" in text
    assert "$ scribe upload samples/ankle-sprain.wav samples/cough-visit.wav samples/diabetes-review.wav" in text
    assert "the audio file" in text or "not a format Transcribe Medical accepts" in text, "scribe refused the bad file"
    assert (
        "answered by asking 2 service(s): stepfunctions, transcribe (one execution history, and the failed job's reason)"
        in text
    )
    assert "answered by asking 3 service(s): s3, transcribe, sqs" in text


def test_make_demo_exits_non_zero_when_a_step_is_broken(cdk_out, tmp_path):
    """The model grant taken away: the samples end in failure records, not notes; `make demo` names the
    broken step and exits non-zero (the Makefile runs its recipes with pipefail and hides no stderr)."""
    from experiments.mutations import mutated_assembly

    broken = tmp_path / "broken"
    mutated_assembly(cdk_out, broken, "invoke-the-model")
    done = make_with("demo", broken)
    assert done.returncode != 0, done.stdout[-2000:]
    assert "FAILED: choreography/ankle-sprain ended in 'failed: NoteModelRejected', not a note" in done.stdout
