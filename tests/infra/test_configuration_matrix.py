"""The configuration matrix (tests/support/configurations.py) covers every context key docs/reference.md
documents and every key the app reads; each configuration is a context synth accepts."""

from __future__ import annotations

from aws_cdk import App

from clinical.policy import flat_names
from stacks.app_factory import FEATURE_FLAGS
from stacks.config import PipelineConfig
from tests.support.configurations import MATRIX, REFERENCE, documented_keys, matrix_keys

READ_BY_THE_APP = (set(PipelineConfig.__dataclass_fields__) - {"policy"}) | set(flat_names())


def test_the_matrix_sets_every_key_the_reference_documents():
    documented = documented_keys(REFERENCE.read_text())
    assert len(documented) > 30  # the tables were found and read
    assert documented - matrix_keys() == set()


def test_the_reference_documents_every_key_the_app_reads_and_no_other():
    assert documented_keys(REFERENCE.read_text()) ^ READ_BY_THE_APP == set()


def test_a_key_documented_without_a_configuration_is_found():
    reference = REFERENCE.read_text().replace(
        "| `alarm_email` | none |", "| `pager_tries` (and the three others) | `1` | x |\n| `alarm_email` | none |"
    )
    assert documented_keys(reference) - matrix_keys() == {
        "pager_tries", "pager_interval_seconds", "pager_backoff_rate", "pager_max_delay_seconds"
    }  # fmt: skip


def test_the_configurations_are_distinct_and_each_but_the_first_differs_from_the_default():
    contexts = [tuple(sorted(c.context.items())) for c in MATRIX]
    assert len(set(contexts)) == len(contexts)
    assert len({c.name for c in MATRIX}) == len(MATRIX)
    assert MATRIX[0].context == {}
    for configuration in MATRIX[1:]:
        config = PipelineConfig.from_context(App(context={**FEATURE_FLAGS, **configuration.context}).node)
        assert config != PipelineConfig(), configuration.name
