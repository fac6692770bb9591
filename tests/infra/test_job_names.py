"""The Transcribe job names both deployed stacks build from an encounter id (tests/unit/test_layout.py has the rest
of the encounter contract; this part needs the stacks' names)."""

import re

from hypothesis import given
from hypothesis import strategies as st

from clinical.layout import ENCOUNTER_ID_PATTERN, encounter_id_from_job_name, transcription_job_name
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

# MedicalTranscriptionJobName, as the Transcribe API Reference constrains it: 1-200 of [0-9a-zA-Z._-].
TRANSCRIBE_JOB_NAME = re.compile(r"[0-9a-zA-Z._-]{1,200}")


@given(st.from_regex(ENCOUNTER_ID_PATTERN, fullmatch=True))
def test_every_valid_encounter_id_makes_a_job_name_transcribe_accepts_in_both_stacks(encounter_id):
    for stack in (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK):
        name = transcription_job_name(stack, encounter_id)
        assert TRANSCRIBE_JOB_NAME.fullmatch(name), name
        assert encounter_id_from_job_name(stack, name) == encounter_id
