"""The console links `scribe status` prints open what they name."""

from __future__ import annotations

from scribe.target import Deployment, Target

EXECUTION_LOGS = "/aws/vendedlogs/states/ClinicalScribeOrchestration-encounters-4b9e7a10-8f1d-11f0-a2c4-0affd3e5b7c1"


def on_aws() -> Deployment:
    return Deployment(Target(region="us-east-1"), "orchestration", "ClinicalScribeOrchestration", {})


def test_a_log_group_link_encodes_the_name_as_the_cloudwatch_console_does():
    """The console's own links write /aws/lambda/f as $252Faws$252Flambda$252Ff (percent-encoded twice, % as $)."""
    assert on_aws().log_group_link(EXECUTION_LOGS) == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/"
        "$252Faws$252Fvendedlogs$252Fstates$252FClinicalScribeOrchestration-encounters-"
        "4b9e7a10-8f1d-11f0-a2c4-0affd3e5b7c1"
    )


def test_no_console_links_on_the_local_cloud():
    local = Deployment(Target(region="us-east-1", local=True), "orchestration", "ClinicalScribeOrchestration", {})
    assert local.log_group_link(EXECUTION_LOGS) is None
