"""What each handler module loads at cold start (docs/performance.md): a fresh interpreter imports it as Lambda does,
from the asset's sources with the deployed function's environment, and the modules its ordinary path does not need
stay unloaded. A module that a rare path uses (a failure record, a quarantine, a throttled start), or that only
another handler's path uses, is imported where that path begins. Nothing here is timed: `make bench` times the
cold paths; this keeps what they load from growing back unnoticed."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks.cold_start import LAMBDA_SOURCE, handler_modules, lambda_environment

# The note's and the review's modules: only the functions that draft notes or keep reviews load them.
NOTE_MODULES = ("clinical.notes", "clinical.drafting", "clinical.claims", "clinical.roles", "clinical.revisions")
REVIEW_MODULES = ("clinical.review", "clinical.review_record", "clinical.review_index")
# Rare paths: a failed delivery's record, an object or message set aside, a throttled start's waiting.
RARE_PATHS = ("clinical.failures", "clinical.quarantine", "clinical.throttling")
# Reading a transcript's output document: only the functions that draft notes do it.
TRANSCRIPTS = ("clinical.transcripts", "clinical.conversation")
# Powertools' batch utility imports every parser model (pydantic) for its type hints when pydantic is loaded before
# it: the handlers import the batch utility first, so that it never does.
POWERTOOLS_PARSER = "aws_lambda_powertools.utilities.parser"
# The deployment's settings and the pipeline's policy: a function that reads a setting or two does without them.
SETTINGS = ("clinical.settings", "clinical.policy")

NOT_LOADED = {
    "choreography.start_transcription": (*NOTE_MODULES, *REVIEW_MODULES, *RARE_PATHS, *TRANSCRIPTS, POWERTOOLS_PARSER),
    "choreography.watchdog": (*NOTE_MODULES, "clinical.quarantine", "clinical.throttling"),
    "choreography.write_note": ("clinical.revisions", "clinical.quarantine", "clinical.throttling", POWERTOOLS_PARSER),
    "orchestration.await_review": (*NOTE_MODULES, "clinical.review", "clinical.transcription", *RARE_PATHS, *SETTINGS),
    "orchestration.await_slot": (*NOTE_MODULES, *REVIEW_MODULES, *RARE_PATHS, *TRANSCRIPTS),
    "orchestration.await_transcript": (*NOTE_MODULES, *REVIEW_MODULES, *RARE_PATHS, *TRANSCRIPTS),
    "orchestration.generate_note": ("clinical.revisions", "clinical.quarantine", "clinical.throttling"),
    "orchestration.intake": (*NOTE_MODULES, *REVIEW_MODULES, *RARE_PATHS, *TRANSCRIPTS, POWERTOOLS_PARSER),
    "orchestration.record_failure": (
        *NOTE_MODULES,
        *REVIEW_MODULES,
        "clinical.quarantine",
        "clinical.throttling",
        "clinical.transcription",
        POWERTOOLS_PARSER,
    ),
    "orchestration.review_deadline": (*NOTE_MODULES, "clinical.transcription", *RARE_PATHS, *SETTINGS),
    "orchestration.transcript_ready": (*NOTE_MODULES, *REVIEW_MODULES, *RARE_PATHS, *TRANSCRIPTS, POWERTOOLS_PARSER),
    "orchestration.upload_sweep": (
        *NOTE_MODULES,
        *REVIEW_MODULES,
        *RARE_PATHS,
        "orchestration.failed_executions",
    ),
    "edges.fhir_export": (
        "clinical.drafting",
        "clinical.roles",
        "clinical.revisions",
        *REVIEW_MODULES,
        *RARE_PATHS,
        "clinical.fhir_endpoint",
        *SETTINGS,
        POWERTOOLS_PARSER,
    ),
    # The worklist, the page's ordinary request, builds no pydantic model: the note view's modules load with it.
    "edges.review_page": (*NOTE_MODULES, "clinical.review", "clinical.transcription", *RARE_PATHS, "pydantic"),
}


def loaded_by(module: str) -> set[str]:
    """Every module loaded once `module` is imported in a fresh interpreter, as on Lambda."""
    env = lambda_environment(os.environ, LAMBDA_SOURCE)
    script = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return set(json.loads(run.stdout.splitlines()[-1]))


def test_every_handler_has_its_list():
    assert sorted(NOT_LOADED) == sorted(handler_modules())


@pytest.mark.parametrize("module", sorted(NOT_LOADED))
def test_a_handler_loads_only_what_its_ordinary_path_needs(module):
    loaded = loaded_by(module)
    assert module in loaded
    assert sorted(name for name in NOT_LOADED[module] if name in loaded) == []
