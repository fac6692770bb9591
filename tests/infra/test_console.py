"""Each stack's dashboard and saved query of one encounter's logs (stacks.constructs.console)."""

import json

from clinical.encounter_logs import ENCOUNTER_ID_PLACEHOLDER, encounter_query
from tests.infra.conftest import resources


def dashboard_text(template) -> str:
    """The dashboard body with every reference written as {"Ref": id} / {"Fn::GetAtt": [...]}: what to look for."""
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in parts)


def test_one_dashboard_per_stack_whose_name_is_an_output(variant):
    [(logical_id, _dashboard)] = resources(variant, "AWS::CloudWatch::Dashboard").items()
    assert variant.to_json()["Outputs"]["DashboardName"]["Value"] == {"Ref": logical_id}


def test_the_dashboard_graphs_every_dlqs_depth_and_every_work_queues_oldest_message(variant):
    body = dashboard_text(variant)
    queues = resources(variant, "AWS::SQS::Queue")
    work = {logical_id for logical_id, queue in queues.items() if "RedrivePolicy" in queue["Properties"]}
    dead_letters = set(queues) - work
    assert work and dead_letters
    for logical_id in dead_letters:
        name = json.dumps({"Fn::GetAtt": [logical_id, "QueueName"]})
        assert f'"ApproximateNumberOfMessagesVisible","QueueName","{name}"' in body, logical_id
    for logical_id in work:
        name = json.dumps({"Fn::GetAtt": [logical_id, "QueueName"]})
        assert f'"ApproximateAgeOfOldestMessage","QueueName","{name}"' in body, logical_id


def test_the_dashboard_shows_the_domains_counts_and_failures_by_reason(variant):
    body = dashboard_text(variant)
    for metric in ("NotesWritten", "NotesNeedingReview", "EncounterFailures", "ReviewReminders", "ReviewsExpired"):
        assert f'"ClinicalScribe","{metric}","service"' in body, metric
    assert "SEARCH('{ClinicalScribe,error_type,service} MetricName=" in body


def test_the_saved_query_is_the_encounter_query_over_every_function_and_execution_log_group(variant):
    [query] = resources(variant, "AWS::Logs::QueryDefinition").values()
    properties = query["Properties"]
    assert properties["QueryString"] == encounter_query(ENCOUNTER_ID_PLACEHOLDER)
    function_groups = {
        f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for f in resources(variant, "AWS::Lambda::Function").values()
    }
    queried = {group["Ref"] for group in properties["LogGroupNames"]}
    execution_logs = {lid for lid in resources(variant, "AWS::Logs::LogGroup") if lid.startswith("ExecutionLogs")}
    assert queried == function_groups | execution_logs
    assert variant.to_json()["Outputs"]["EncounterLogGroups"]["Value"] == {
        "Fn::Join": [",", properties["LogGroupNames"]]
    }
