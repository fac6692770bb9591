"""The handlers' Metrics: an invocation that publishes no metric does not warn; Powertools' other warnings do."""

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
