"""The experiments: what this project runs on the local cloud to compare, demonstrate and measure the two variants.

`demo` (make demo) deploys both stacks and runs the samples and a fault scenario through them; `compare`
(scribe compare) runs a workload (workloads.json) under a fault profile (fault_profiles.json) through both
variants and checks the invariants (`invariants`, with the hostile-input table of `hostile`); `measure`
counts the AWS operations one encounter takes; `mutations` takes grants away from the synthesized
templates to show what each one is for. They sit on top of everything else: they drive the emulator
(localcloud), the operator CLI (scribe), the stack names (stacks.names) and the domain (clinical), and
nothing below imports them.
"""

import json
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT / "samples"  # the bundled dictations (WAV) and their reference transcripts
# moto's Step Functions interpreter logs every state that fails at ERROR; the experiments report failures themselves.
INTERPRETER_LOG = "moto.stepfunctions.parser.asl.component.eval_component"
# The clinicians of a run sign this share of the notes awaiting review (the same encounters in both variants,
# chosen by id) and leave the rest, whose review windows then end (experiments.compare; its report names the share).
SIGNED_SHARE = 0.7
FAULT_PROFILES = Path(__file__).resolve().parent / "fault_profiles.json"


def fault_profiles() -> dict[str, dict[str, float]]:
    """The fault profiles `--faults` names (fault_profiles.json), by name: each fault's rate."""
    return {name: rates for name, rates in json.loads(FAULT_PROFILES.read_text()).items() if not name.startswith("_")}


def upload_name(key: str) -> str:
    """What the harness calls an upload: its key less `audio/` and the extension, valid encounter id or not
    (clinical.layout.claimed_encounter_id gives None for an invalid one; the harness must still name it)."""
    return key.removeprefix("audio/").rpartition(".")[0]
