"""`scribe doctor` against the in-process local cloud with both variants deployed, and against "AWS"
(the same in-process cloud, reached without --local) in a Region the pipelines cannot use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from localcloud.cloud import REGION, LocalCloud
from localcloud.doctor_shims import MODEL_AVAILABLE, bedrock_model_availability, lambda_account_settings
from scribe import doctor
from scribe.cli import main
from scribe.target import Deployment, Target
from tests.localcloud.conftest import STACKS, deploy_both

CHOREOGRAPHY, ORCHESTRATION = STACKS
PROFILE = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]["bedrock_model_id"]
FOUNDATION_MODEL = PROFILE.removeprefix("us.")
LOGGING_ROLE = "arn:aws:iam::123456789012:role/api-gateway-cloudwatch-logs"


@pytest.fixture(scope="module")
def cloud(cdk_out):
    """Read-only checks share one deployment; a test that breaks something mends it before it returns."""
    with LocalCloud(cdk_out) as cloud, lambda_account_settings(lambda: cloud.quotas.lambda_account_concurrency):
        yield deploy_both(cloud)


@pytest.fixture
def local(monkeypatch):
    """`--local` reaches the in-process local cloud (it runs no server, so there is no endpoint file)."""
    monkeypatch.setattr(Target, "choose", classmethod(lambda cls, _local: cls(region=REGION, local=True)))


def scribe(*args: str, exit_code: int):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result.stdout.splitlines()


def test_the_deployed_local_cloud_is_all_ok(cloud, local, cdk_out):
    lines = scribe("--local", "doctor", "--cdk-out", str(cdk_out), exit_code=0)
    assert all(line.startswith("OK  ") for line in lines), lines
    assert lines == [
        f"OK  deployed: choreography ({CHOREOGRAPHY}), orchestration ({ORCHESTRATION})",
        "OK  region us-east-1 offers Transcribe Medical batch transcription",
        f"OK  Bedrock profile {PROFILE} (configured in {CHOREOGRAPHY}, {ORCHESTRATION}) may be called from us-east-1",
        f"OK  Bedrock model {FOUNDATION_MODEL} is available to this account "
        "(agreement AVAILABLE, AUTHORIZED, entitlement AVAILABLE)",
        f"OK  Bedrock model {PROFILE} answers a one-token Converse call",
        "OK  CDK bootstrap version 30 (the templates need 6 or later)",
        "OK  Lambda concurrency: 1000 of 1000 unreserved (Lambda keeps 100)",
        f"OK  alarm topic of choreography ({CHOREOGRAPHY}) has 1 confirmed subscriber(s)",
        f"OK  alarm topic of orchestration ({ORCHESTRATION}) has 1 confirmed subscriber(s)",
        f"OK  alarm actions of choreography ({CHOREOGRAPHY}): none failed in the alarms' history",
        f"OK  alarm actions of orchestration ({ORCHESTRATION}): none failed in the alarms' history",
    ]


def test_an_alarm_topic_without_a_subscriber_is_a_fix(cloud, local):
    sns = cloud.client("sns")
    topic_arn = cloud.outputs[CHOREOGRAPHY]["AlarmTopicArn"]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    try:
        lines = scribe("--local", "doctor", exit_code=1)
    finally:
        sns.subscribe(TopicArn=topic_arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    assert (
        f"FIX alarm topic of choreography ({CHOREOGRAPHY}) has no subscriber, so its alarms reach nobody: "
        'set "alarm_email" in cdk.json\'s context and redeploy, then confirm the email '
        f"(or: aws sns subscribe --topic-arn {topic_arn} --protocol email --notification-endpoint YOU)"
    ) in lines
    assert f"OK  alarm topic of orchestration ({ORCHESTRATION}) has 1 confirmed subscriber(s)" in lines


def test_a_profile_of_another_geography_is_a_fix(cloud, local):
    """A local cloud (us-east-1) whose functions were deployed with an EU profile."""
    lambda_ = cloud.client("lambda")
    eu_profile = "eu." + PROFILE.removeprefix("us.")
    functions = [f for f in lambda_.list_functions()["Functions"] if f["FunctionName"].startswith(CHOREOGRAPHY)]
    for function in functions:
        variables = function["Environment"]["Variables"]
        lambda_.update_function_configuration(
            FunctionName=function["FunctionName"],
            Environment={"Variables": {**variables, "BEDROCK_MODEL_ID": eu_profile}},
        )
    try:
        lines = scribe("--local", "doctor", exit_code=1)
    finally:
        for function in functions:
            lambda_.update_function_configuration(
                FunctionName=function["FunctionName"], Environment=function["Environment"]
            )
    assert (
        f"FIX Bedrock profile {eu_profile} (configured in {CHOREOGRAPHY}) cannot be called from us-east-1: "
        "a eu. profile is called only from Regions named eu-*: deploy in one of them, or set bedrock_model_id "
        f"in cdk.json to a profile of this Region's geography (here: {PROFILE}, if offered) and redeploy"
    ) in lines
    assert f"FIX Bedrock model {eu_profile} access: not tried: mend the region or the profile first" in lines
    assert f"OK  Bedrock model {PROFILE} answers a one-token Converse call" in lines  # orchestration's


def test_a_region_without_transcribe_medical_is_a_fix_and_the_account_checks_still_run(cloud, monkeypatch, cdk_out):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "sa-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lines = scribe("doctor", "--cdk-out", str(cdk_out), exit_code=1)
    assert lines[:3] == [
        "FIX no choreography or orchestration stack in this account's sa-east-1: deploy first "
        "(`make deploy`); the account checks below ran anyway",
        "FIX region sa-east-1 does not offer Transcribe Medical batch transcription: deploy in one of "
        "us-east-1, us-east-2, us-west-2, ca-central-1, eu-central-1, eu-west-1, eu-west-2, ap-southeast-2, "
        "us-gov-west-1 (set AWS_REGION or your profile's region)",
        f"FIX Bedrock profile {PROFILE} (from cdk.json) cannot be called from sa-east-1: a us. profile is "
        "called only from Regions named us-east-*, us-west-*: deploy in one of them, or set bedrock_model_id "
        "in cdk.json to a profile of this Region's geography and redeploy",
    ]
    assert (
        "FIX CDK bootstrap: /cdk-bootstrap/hnb659fds/version not found in sa-east-1: "
        "run `npx cdk bootstrap` with these credentials and region"
    ) in lines
    # Nothing deployed there yet, and the synthesized stacks reserve nothing (reserve_concurrency is off).
    assert "OK  Lambda concurrency: 1000 of 1000 unreserved (Lambda keeps 100)" in lines


def test_too_little_lambda_headroom_is_a_fix(cloud, local, monkeypatch):
    monkeypatch.setattr(cloud, "quotas", dataclasses.replace(cloud.quotas, lambda_account_concurrency=90))
    lines = scribe("--local", "doctor", exit_code=1)
    assert (
        "FIX Lambda concurrency: 90 of 90 unreserved, below the 100 Lambda keeps unreserved: request a higher "
        "quota (Service Quotas > AWS Lambda > Concurrent executions (L-B99A9384))"
    ) in lines


def test_the_bootstrap_version_the_doctor_asks_for_is_the_one_the_templates_require(cdk_out):
    template = json.loads((cdk_out / f"{CHOREOGRAPHY}.template.json").read_text())
    (assertion,) = template["Rules"]["CheckBootstrapVersion"]["Assertions"]
    refused = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
    assert max(int(version) for version in refused) + 1 == doctor.MINIMUM_BOOTSTRAP_VERSION


def stubbed_deployment(service: str) -> tuple[Deployment, Stubber]:
    target = Target(region="us-east-1", local=True)  # no endpoint: the stubber answers
    client = target.client(service)
    outputs = {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms"}
    return Deployment(target, "orchestration", "Stack", outputs), Stubber(client)


def test_an_unconfirmed_email_is_a_fix():
    deployment, stubber = stubbed_deployment("sns")
    pending = {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "oncall@example.org"}
    stubber.add_response("list_subscriptions_by_topic", {"Subscriptions": [pending]})
    with stubber:
        check = doctor.alarm_subscribers(deployment)
    assert f"FIX {check.what}: {check.fix}" == (
        "FIX alarm topic of orchestration (Stack): oncall@example.org has not confirmed the subscription: "
        "confirm the email (the link in the message from AWS Notifications); its alarms reach nobody until then"
    )


@pytest.mark.parametrize(
    ("code", "message", "found"),
    [
        ("AccessDeniedException", "You don't have access to the model with the specified model ID.", "is not enabled"),
        (
            "AccessDeniedException",
            "Model access is denied due to IAM user or service role is not authorized to perform the required "
            "AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe)",
            "is not subscribed",
        ),
        (
            "ResourceNotFoundException",
            "Model use case details have not been submitted for this account.",
            "is not enabled",
        ),
    ],
)
def test_model_access_errors_name_the_first_use_steps(code, message, found):
    deployment, stubber = stubbed_deployment("bedrock-runtime")
    stubber.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=403)
    with stubber:
        check = doctor.model_access(deployment.target, PROFILE)
    assert found in check.what and code in check.what
    assert "Anthropic's first-time-use form" in check.fix and "aws-marketplace:Subscribe" in check.fix


def test_a_model_whose_marketplace_agreement_is_missing_is_a_fix_and_is_not_called(cloud, local):
    """Bedrock says the first-use steps are not done: the doctor names them and does not make the first call,
    which would start the account's Marketplace subscription."""
    missing = {**MODEL_AVAILABLE, "agreementAvailability": {"status": "NOT_AVAILABLE"}}
    with bedrock_model_availability(lambda model_id: missing if model_id == FOUNDATION_MODEL else MODEL_AVAILABLE):
        lines = scribe("--local", "doctor", exit_code=1)
    assert (
        f"FIX Bedrock model {FOUNDATION_MODEL} is not yet usable by this account "
        f"(agreement NOT_AVAILABLE, AUTHORIZED, entitlement AVAILABLE): {doctor.FIRST_USE_STEPS}"
    ) in lines
    assert f"FIX Bedrock model {PROFILE} call: not tried: mend the model's access first" in lines
    assert not any("Converse" in line for line in lines), lines


@pytest.mark.parametrize(
    ("answer", "found", "fix"),
    [
        ({"regionAvailability": "NOT_AVAILABLE"}, "is not offered in us-east-1", "set bedrock_model_id"),
        ({"agreementAvailability": {"status": "PENDING"}}, "agreement is pending", "wait a few minutes"),
        (
            {"agreementAvailability": {"status": "ERROR", "errorMessage": "payment instrument missing"}},
            "(agreement ERROR, AUTHORIZED, entitlement AVAILABLE: payment instrument missing)",
            "Anthropic's first-time-use form",
        ),
        ({"authorizationStatus": "NOT_AUTHORIZED"}, "NOT_AUTHORIZED", "aws-marketplace:Subscribe"),
        ({"entitlementAvailability": "NOT_AVAILABLE"}, "entitlement NOT_AVAILABLE", "aws-marketplace:Subscribe"),
    ],
)
def test_each_availability_bedrock_reports_short_of_complete_is_a_fix(answer, found, fix):
    deployment, stubber = stubbed_deployment("bedrock")
    stubber.add_response(
        "get_foundation_model_availability",
        {"modelId": FOUNDATION_MODEL, **MODEL_AVAILABLE, **answer},
        {"modelId": FOUNDATION_MODEL},  # the profile's foundation model, its geography prefix dropped
    )
    with stubber:
        check = doctor.model_availability(deployment.target, PROFILE)
    assert not check.ok and found in check.what and fix in check.fix, check


def test_availability_the_credentials_may_not_read_is_a_fix():
    deployment, stubber = stubbed_deployment("bedrock")
    stubber.add_client_error(
        "get_foundation_model_availability", service_error_code="AccessDeniedException", http_status_code=403
    )
    with stubber:
        check = doctor.model_availability(deployment.target, PROFILE)
    assert check.what.startswith(f"Bedrock model {FOUNDATION_MODEL} availability: not answered (AccessDeniedException")
    assert check.fix == "run the doctor with credentials that may read it"


@pytest.fixture
def review_page_configured(tmp_path, monkeypatch):
    """A checkout whose cdk.json asks for the review page (the doctor reads ./cdk.json)."""
    context = {"bedrock_model_id": PROFILE, "review_page": True}
    (tmp_path / "cdk.json").write_text(json.dumps({"context": context}))
    monkeypatch.chdir(tmp_path)


def test_the_review_page_without_the_api_gateway_logging_role_is_a_fix_until_it_is_set(
    cloud, local, review_page_configured
):
    apigateway = cloud.client("apigateway")
    assert not apigateway.get_account().get("cloudwatchRoleArn")
    lines = scribe("--local", "doctor", exit_code=1)
    assert (
        "FIX API Gateway CloudWatch Logs role in us-east-1 (the review page's stage logs through it) is not set: "
        "create a role apigateway.amazonaws.com may assume with the AWS-managed policy "
        "AmazonAPIGatewayPushToCloudWatchLogs, then set it once: aws apigateway update-account "
        "--patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN"
    ) in lines
    apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": LOGGING_ROLE}])
    try:
        lines = scribe("--local", "doctor", exit_code=0)
    finally:
        apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    assert (
        f"OK  API Gateway CloudWatch Logs role in us-east-1 (the review page's stage logs through it): {LOGGING_ROLE}"
    ) in lines


def test_the_logging_role_is_checked_only_where_a_review_page_is_served_or_asked_for(tmp_path):
    target = Target(region="us-east-1", local=True)
    served = Deployment(target, "orchestration", "Stack", {"ReviewPageUrl": "https://example.org/prod/"})
    plain = Deployment(target, "choreography", "Other", {})
    no_context = tmp_path / "absent.json"
    asked = tmp_path / "cdk.json"
    asked.write_text(json.dumps({"context": {"review_page": "true"}}))
    assert doctor.review_page_wanted([plain, served], no_context)
    assert doctor.review_page_wanted([], asked)
    assert not doctor.review_page_wanted([plain], no_context)
