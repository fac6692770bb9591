"""Inspecting an encounter in the console, on the local cloud (issue 30, item 5).

Both stacks run encounters through the paths the dashboard has graphs for: notes written (one for review),
a model answer that fails the encounter, every Transcribe start throttled once, reviews reminded and expired.
Then: every metric each stack's dashboard shows is one the pipeline emitted in that run; every hop of one
encounter annotated its trace with the encounter's id (and annotations hold ids only); and `scribe --local
status ID --links` prints the encounter's console links as they are on AWS, from the deployment's outputs.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from clinical.encounter_logs import encounter_query
from clinical.executions import execution_arn
from localcloud.cdk_cli import deploy_all, free_port
from localcloud.cloud import LocalCloud
from localcloud.dashboards import Shown, not_emitted, shown_metrics
from localcloud.faults import FaultPlan
from localcloud.lambda_runtime import INVOCATIONS
from scribe.cli import main
from tests.localcloud.conftest import DICTATION, STACKS, upload_to_both

AUDIO = b"RIFF....WAVEfmt console test dictation"
CHOREOGRAPHY, ORCHESTRATION = STACKS
ENCOUNTERS = ("enc-ok", "enc-bad", "enc-flag")
REVIEW_WINDOW_HOURS = 72
# Each encounter's first Transcribe start is refused for the quota: it waits in line for a slot (decision 0018).
REFUSED = 1


@pytest.fixture(scope="module")
def run(cdk_out):
    """enc-ok drafted and left unreviewed (reminded, then expired), enc-bad's model answer malformed every time
    (a failure record), enc-flag's note citing a drug nobody said (a note for review); each encounter's first
    Transcribe start refused for the quota (it waits in line)."""
    plan = FaultPlan(
        rates={"bedrock_malformed": 1.0, "bedrock_unsupported": 1.0},
        only={"bedrock_malformed": "enc-bad", "bedrock_unsupported": "enc-flag"},
        first={"transcribe_start": REFUSED},
        seed=3,
    )
    with LocalCloud(cdk_out, faults=plan, port=free_port()) as cloud:
        seen_before = len(INVOCATIONS.emf)
        deploy_all(cloud)  # the CDK CLI's deploy, as `make localcloud` serves it to `scribe --local`
        cloud.transcribe.register(AUDIO, DICTATION)
        for encounter_id in ENCOUNTERS:
            upload_to_both(cloud, f"audio/{encounter_id}.wav", AUDIO)
        cloud.run_until_quiet()
        cloud.run_for((REVIEW_WINDOW_HOURS + 1) * 3600)
        cloud.emitted = INVOCATIONS.emf[seen_before:]
        yield cloud


def dashboard(cloud, stack: str) -> dict:
    name = cloud.outputs[stack]["DashboardName"]
    return json.loads(cloud.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])


def test_the_run_took_every_path_the_dashboards_graph(run):
    s3 = run.client("s3")
    for stack in STACKS:
        bucket = run.outputs[stack]["EncounterBucketName"]
        failure = json.loads(s3.get_object(Bucket=bucket, Key="failures/enc-bad.json")["Body"].read())
        assert failure["error_type"] == "InvalidModelOutput", stack
        note = json.loads(s3.get_object(Bucket=bucket, Key="notes/enc-flag.json")["Body"].read())
        assert note["status"] == "needs_review", stack
    assert run.faults.injected["transcribe_start"] == REFUSED * 2 * len(ENCOUNTERS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_metric_the_dashboard_shows_was_emitted(run, stack):
    shown = shown_metrics(dashboard(run, stack))
    assert len(shown) >= 10, "the dashboard's graphs were read"
    assert not_emitted(shown, run.emitted, run.client) == []


def test_a_failure_counted_again_by_reason_is_one_failure_to_its_alarm(run):
    """EncounterFailures is published twice per failure (once by service, once by service and error_type): two
    metrics to CloudWatch, so the alarm on the first sees enc-bad's failure once."""
    fired = [(event.alarm_name.split("-", 1)[0], event.value) for event in run.alarms.fired
             if event.metric == "EncounterFailures"]  # fmt: skip
    assert sorted(fired) == [(CHOREOGRAPHY, 1.0), (ORCHESTRATION, 1.0)]


def test_a_misspelled_or_unknown_metric_on_a_dashboard_is_reported(run):
    """The check itself: a name one letter off, a SEARCH over a dimension nobody emits, a queue that does not
    exist and a metric SQS does not publish are each reported; their correct forms are not."""
    body = dashboard(run, CHOREOGRAPHY)
    service = (("service", CHOREOGRAPHY),)
    queue = run.outputs[CHOREOGRAPHY]["NoteRequestsDlqUrl"].rsplit("/", 1)[-1]
    wrong = [
        Shown("ClinicalScribe", "NotesWriten", service),
        Shown("ClinicalScribe", "EncounterFailures", service, ("service", "stage")),
        Shown("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "no-such-queue"),)),
        Shown("AWS/SQS", "ApproximateNumberOfMessages", (("QueueName", queue),)),
    ]
    right = [
        Shown("ClinicalScribe", "NotesWritten", service),
        Shown("ClinicalScribe", "EncounterFailures", service, ("error_type", "service")),
        Shown("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue),)),
    ]
    assert not_emitted(wrong + right, run.emitted, run.client) == [str(metric) for metric in wrong]
    misspelled = json.loads(json.dumps(body).replace('"NotesWritten"', '"NotesWriten"'))
    assert not_emitted(shown_metrics(misspelled), run.emitted, run.client) == [
        f"ClinicalScribe NotesWriten [service={CHOREOGRAPHY}]"
    ]


def test_the_local_cloud_keeps_each_stacks_saved_query_over_its_log_groups(run):
    for stack in STACKS:
        kept = run.saved_queries[run.outputs[stack]["EncounterLogsQueryName"]]
        assert kept["queryString"] == encounter_query()
        assert kept["logGroupNames"] == run.outputs[stack]["EncounterLogGroups"].split(",")


def annotated(cloud, encounter_id: str) -> set[str]:
    """The functions (their names without CloudFormation's suffix) whose traces carry the encounter's id."""
    return {
        re.sub(r"Function[A-Za-z0-9]*-[A-Za-z0-9]+$", "", function)
        for function, documents in cloud.traces().items()
        if any(document.get("annotations", {}).get("encounter_id") == encounter_id for document in documents)
    }


def test_every_hop_of_an_encounter_annotates_its_trace_with_the_encounter_id(run):
    assert annotated(run, "enc-ok") >= {f"{CHOREOGRAPHY}-StartTranscription", f"{CHOREOGRAPHY}-WriteNote"} | {
        f"{ORCHESTRATION}-{hop}"
        for hop in ("Intake", "AwaitTranscript", "TranscriptReady", "GenerateNote", "AwaitReview", "ReviewDeadline")
    }
    # A failed encounter's hops too, the failure's recorder in orchestration among them.
    assert annotated(run, "enc-bad") >= {f"{CHOREOGRAPHY}-WriteNote", f"{ORCHESTRATION}-RecordFailure"}


def test_annotations_hold_encounter_ids_only(run):
    """Beside Powertools' own (the stack as Service, ColdStart), the one annotation is an uploaded encounter's id."""
    values = {
        (key, value)
        for documents in run.traces().values()
        for document in documents
        for key, value in document.get("annotations", {}).items()
    }
    powertools = {("ColdStart", True), ("ColdStart", False)} | {("Service", stack) for stack in STACKS}
    assert values - powertools == {("encounter_id", encounter_id) for encounter_id in ENCOUNTERS}


def scribe_local(cloud, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint_url)
    result = CliRunner().invoke(main, ["--local", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def links_of(output: str, variant: str) -> dict[str, str]:
    """The `console (name): url` lines of one variant's status."""
    block = output.split(f"enc-ok ({variant}, ")[1].split("\nenc-ok (")[0]
    return dict(re.findall(r"^  console \(([^)]+)\): (\S+)$", block, re.MULTILINE))


def test_status_links_on_the_local_cloud_are_the_deployments_links_on_aws(run, monkeypatch):
    output = scribe_local(run, monkeypatch, "status", "enc-ok", "--links")
    assert output.count("console links as on AWS (the local cloud has no console):") == 2
    console = "https://us-east-1.console.aws.amazon.com/"
    traces = console + (
        "cloudwatch/home?region=us-east-1#xray:traces/query?~(query~(expression~"
        "'annotation.encounter_id*20*3d*20*22enc-ok*22))"
    )
    for stack, variant in zip(STACKS, ("choreography", "orchestration"), strict=True):
        outputs, links = run.outputs[stack], links_of(output, variant)
        assert links["traces"] == traces
        assert (
            links["dashboard"] == f"{console}cloudwatch/home?region=us-east-1#dashboards/dashboard/{stack}-encounters"
        )
        insights = links["Logs Insights"]
        prefix = f"{console}cloudwatch/home?region=us-east-1#logsV2:logs-insights$3FqueryDetail$3D"
        assert insights.startswith(prefix)
        detail = unquote(unquote(insights.removeprefix(prefix).replace("$", "%")))
        editor, sources = re.fullmatch(r".*~editorString~'([^~]*)~source~\((.*)\)\)", detail).groups()
        assert untilde(editor) == encounter_query("enc-ok")
        assert [untilde(group) for group in sources.split("~'")[1:]] == outputs["EncounterLogGroups"].split(",")
    links = links_of(output, "orchestration")
    arn = execution_arn(run.outputs[ORCHESTRATION]["StateMachineArn"], "enc-ok")
    assert links["execution"] == f"{console}states/home?region=us-east-1#/v2/executions/details/{arn}"
    assert links["execution logs"].startswith(f"{console}cloudwatch/home?region=us-east-1#logsV2:log-groups/")
    assert "execution" not in links_of(output, "choreography")


def untilde(text: str) -> str:
    """A string of the console's URL state back: *hh is the character of that code, ! is $."""
    return re.sub(r"\*([0-9a-f]{2})", lambda m: chr(int(m[1], 16)), text.replace("!", "$"))


def test_status_without_links_prints_no_console_links_on_the_local_cloud(run, monkeypatch):
    assert "console" not in scribe_local(run, monkeypatch, "status", "enc-ok")
