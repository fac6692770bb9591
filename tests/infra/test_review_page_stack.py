"""The review page on AWS (cdk.json review_page): a Cognito user pool of the stack's own behind API Gateway, and
nothing of it unless asked for. Synth raises on any unacknowledged cdk-nag finding, so each test here also
shows the opt-in stacks are compliant."""

import json

import pytest

from stacks.app_factory import ORCHESTRATION_STACK
from tests.infra.conftest import ref_id, resources, synthesized


@pytest.fixture(scope="module")
def with_page(tmp_path_factory):
    return synthesized(tmp_path_factory, {"review_page": True}, stack=ORCHESTRATION_STACK)


def page_function(template) -> tuple[str, dict]:
    [(logical_id, function)] = [
        (k, f["Properties"])
        for k, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "edges.review_page.handler"
    ]
    return logical_id, function


def test_no_page_pool_or_api_unless_asked_for(variant):
    for kind in ("AWS::Cognito::UserPool", "AWS::ApiGateway::RestApi"):
        assert resources(variant, kind) == {}


def test_the_pool_admits_only_users_an_administrator_creates_with_mfa_and_has_the_clinicians_group(with_page):
    [pool] = [p["Properties"] for p in resources(with_page, "AWS::Cognito::UserPool").values()]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["MfaConfiguration"] == "ON" and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    [group] = [g["Properties"] for g in resources(with_page, "AWS::Cognito::UserPoolGroup").values()]
    assert group["GroupName"] == "clinicians"


def test_the_app_client_is_the_code_flow_with_no_secret_and_its_callback_under_the_stage(with_page):
    [client] = [c["Properties"] for c in resources(with_page, "AWS::Cognito::UserPoolClient").values()]
    assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is False
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "aws.cognito.signin.user.admin"}
    [callback] = client["CallbackURLs"]
    parts = callback["Fn::Join"][1]
    assert parts[0] == "https://" and parts[-1] == "/review/callback" and ref_id(parts[1]).startswith("ReviewPageApi")


def test_every_path_goes_to_the_page_function_which_knows_its_pool(with_page):
    logical_id, function = page_function(with_page)
    variables = function["Environment"]["Variables"]
    assert {"COGNITO_DOMAIN", "USER_POOL_ID", "USER_POOL_CLIENT_ID", "REVIEW_PAGE_URL"} <= set(variables)
    assert variables["CLINICIANS_GROUP"] == "clinicians"
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", "the page it returns is never traced"
    integrations = [m["Properties"]["Integration"] for m in resources(with_page, "AWS::ApiGateway::Method").values()]
    assert integrations and all(logical_id in json.dumps(i["Uri"]) for i in integrations)


def test_the_stage_logs_no_bodies_and_is_throttled(with_page):
    [stage] = [s["Properties"] for s in resources(with_page, "AWS::ApiGateway::Stage").values()]
    [settings] = stage["MethodSettings"]
    assert (settings["DataTraceEnabled"], settings["LoggingLevel"]) == (False, "ERROR")
    assert settings["ThrottlingRateLimit"] == 20 and stage["TracingEnabled"] is True
    assert (
        "resourcePath" in stage["AccessLogSetting"]["Format"]
        and "$context.path" not in stage["AccessLogSetting"]["Format"]
    )


def test_the_page_may_end_this_machines_review_waits_and_nothing_wider(with_page):
    logical_id, _function = page_function(with_page)
    role = ref_id(resources(with_page, "AWS::Lambda::Function")[logical_id]["Properties"]["Role"])
    statements = [
        s
        for p in resources(with_page, "AWS::IAM::Policy").values()
        if any(ref_id(r) == role for r in p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "events:PutEvents", "s3:PutObject"} <= actions
    assert not [a for a in actions if "*" in a or a.startswith("cognito-idp:")]
    [send] = [s for s in statements if "states:SendTaskSuccess" in s["Action"]]
    assert send["Resource"] == "*"  # no resource type for SendTask* (Service Authorization Reference)
