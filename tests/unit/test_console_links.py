"""The console links `scribe status` prints open what they name."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from clinical.encounter_logs import encounter_query
from clinical.errors import InvalidEncounterId
from scribe.console_links import encounter_links
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


MACHINE = "arn:aws:states:eu-west-2:123456789012:stateMachine:ClinicalScribeOrchestration-encounters"
OUTPUTS = {
    "StateMachineArn": MACHINE,
    "EncounterLogGroups": f"ClinicalScribeOrchestration-IntakeLogs-1,{EXECUTION_LOGS}",
    "ExecutionLogGroupName": EXECUTION_LOGS,
    "DashboardName": "ClinicalScribeOrchestration-encounters",
    "Region": "eu-west-2",
}


def test_an_encounters_links_are_built_from_the_outputs_in_the_stacks_region():
    links = encounter_links(OUTPUTS, "eu-west-2", "enc-1")
    console = "https://eu-west-2.console.aws.amazon.com/"
    assert list(links) == ["execution", "traces", "Logs Insights", "execution logs", "dashboard"]
    assert links["execution"] == (
        f"{console}states/home?region=eu-west-2#/v2/executions/details/"
        "arn:aws:states:eu-west-2:123456789012:execution:ClinicalScribeOrchestration-encounters:enc-1"
    )
    assert links["traces"] == (
        f"{console}cloudwatch/home?region=eu-west-2#xray:traces/query?"
        "~(query~(expression~'annotation.encounter_id*20*3d*20*22enc-1*22))"
    )
    assert links["dashboard"] == (
        f"{console}cloudwatch/home?region=eu-west-2#dashboards/dashboard/ClinicalScribeOrchestration-encounters"
    )
    assert links["execution logs"] == on_aws().log_group_link(EXECUTION_LOGS).replace("us-east-1", "eu-west-2")


def test_the_logs_insights_link_is_the_saved_query_filled_in_over_the_stacks_log_groups():
    """The console's queryDetail state, percent-encoded twice with % written $ (the part before it once)."""
    link = encounter_links(OUTPUTS, "eu-west-2", "enc-1")["Logs Insights"]
    prefix = "https://eu-west-2.console.aws.amazon.com/cloudwatch/home?region=eu-west-2#logsV2:logs-insights$3FqueryDetail$3D"
    assert link.startswith(prefix)
    assert link.removeprefix(prefix).startswith(
        "$257E$2528end$257E0$257Estart$257E-604800$257EtimeType$257E$2527RELATIVE"
    )
    detail = unquote(unquote(link.removeprefix(prefix).replace("$", "%")))
    editor, sources = re.fullmatch(r".*~editorString~'([^~]*)~source~\((.*)\)\)", detail).groups()
    assert untilde(editor) == encounter_query("enc-1")
    assert 'filter encounter_id = "enc-1" or execution_arn like /:enc-1$/' in untilde(editor)
    assert [untilde(group) for group in sources.split("~'")[1:]] == OUTPUTS["EncounterLogGroups"].split(",")


def untilde(text: str) -> str:
    return re.sub(r"\*([0-9a-f]{2})", lambda m: chr(int(m[1], 16)), text.replace("!", "$"))


def test_choreography_has_no_execution_and_a_stack_without_the_outputs_gets_traces_only():
    assert list(encounter_links({"DashboardName": "d"}, "us-east-1", "enc-1")) == ["traces", "dashboard"]
    assert list(encounter_links({}, "us-east-1", "enc-1")) == ["traces"]


@pytest.mark.parametrize("encounter_id", ['enc-1" or 1=1', "Jane Smith", "", "enc/1"])
def test_a_malformed_encounter_id_never_reaches_a_query_or_a_link(encounter_id):
    with pytest.raises(InvalidEncounterId, match="encounter id must be"):
        encounter_links(OUTPUTS, "eu-west-2", encounter_id)


def test_on_the_local_cloud_the_links_are_the_deployments_on_aws_in_the_region_it_outputs():
    local = Deployment(Target(region="us-east-1", local=True), "orchestration", "ClinicalScribeOrchestration", OUTPUTS)
    assert local.encounter_links("enc-1") == encounter_links(OUTPUTS, "eu-west-2", "enc-1")
