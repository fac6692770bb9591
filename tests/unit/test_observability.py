"""The handlers' Metrics: an invocation that publishes no metric does not warn; Powertools' other warnings do."""

import json
import subprocess
import sys

from benchmarks.cold_start import lambda_environment

PROBE = """
from clinical.observability import metrics

@metrics.log_metrics
def handler(event, context):
    return "nothing to count"

print(handler({}, None))
metrics.add_dimension(name="", value="an empty dimension name")
"""


def test_an_invocation_without_metrics_is_quiet_and_other_metric_warnings_are_not():
    # Every warning an error: the empty flush must pass unremarked, the empty dimension name must not.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-W", "error", "-c", PROBE], env=lambda_environment(), capture_output=True, text=True
    )
    assert result.stdout == "nothing to count\n", result.stderr
    assert result.returncode == 1
    assert "PowertoolsUserWarning: The dimension  doesn't meet the requirements" in result.stderr


COUNT_BY_PROBE = """
import json
from clinical.observability import count_by

count_by("EncounterFailures", "error_type", "InvalidModelOutput")
"""


def test_count_by_publishes_the_count_with_its_own_dimension_beside_the_service():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", COUNT_BY_PROBE], env=lambda_environment(), capture_output=True, text=True, check=True
    )
    [line] = result.stdout.splitlines()
    document = json.loads(line)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [["error_type", "service"]]
    assert [metric["Name"] for metric in directive["Metrics"]] == ["EncounterFailures"]
    environment = lambda_environment()
    assert directive["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert (document["service"], document["error_type"], document["EncounterFailures"]) == (
        environment["POWERTOOLS_SERVICE_NAME"],
        "InvalidModelOutput",
        [1.0],
    )


def test_only_a_well_formed_encounter_id_is_annotated(monkeypatch):
    from clinical import observability

    annotated = []
    monkeypatch.setattr(observability.tracer, "put_annotation", lambda key, value: annotated.append((key, value)))
    for claimed in ("enc-1", None, "", "Jane Smith", "enc-1/visit", "x" * 81):
        observability.annotate_encounter(claimed)
    assert annotated == [("encounter_id", "enc-1")]
