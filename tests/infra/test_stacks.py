"""What the synthesized choreography template guarantees (one behaviour per test)."""

import json

from tests.infra.conftest import ref_id, resources, synthesized

POWERTOOLS_LAYER = "017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64"


def key_id(template) -> str:
    [key] = resources(template, "AWS::KMS::Key")
    return key


def work_queues(template) -> dict[str, dict]:
    return {k: v for k, v in resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in v["Properties"]}


def alarms_on(template, metric_name: str) -> list[dict]:
    return [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric_name
    ]


def test_every_work_queue_redrives_to_a_dlq_after_five_receives(choreography):
    """GIVEN the template WHEN reading each queue's redrive policy THEN it names a DLQ with maxReceiveCount 5."""
    queues = work_queues(choreography)
    assert len(queues) == 3  # transcription requests, note requests, FHIR exports
    for queue in queues.values():
        policy = queue["Properties"]["RedrivePolicy"]
        assert policy["maxReceiveCount"] == 5
        assert ref_id(policy["deadLetterTargetArn"]) in resources(choreography, "AWS::SQS::Queue")


def test_every_dlq_has_an_alarm_from_its_first_message(choreography):
    dlqs = {ref_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) for q in work_queues(choreography).values()}
    dlqs |= {
        ref_id(t["DeadLetterConfig"]["Arn"])
        for rule in resources(choreography, "AWS::Events::Rule").values()
        for t in rule["Properties"]["Targets"]
    }
    alarmed = {
        ref_id(a["Dimensions"][0]["Value"])
        for a in alarms_on(choreography, "ApproximateNumberOfMessagesVisible")
        if a["Threshold"] == 1 and a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    }
    assert len(dlqs) == 4 and dlqs <= alarmed


def test_every_alarm_notifies_the_alarm_topic(variant):
    [topic] = resources(variant, "AWS::SNS::Topic")
    alarms = resources(variant, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 12
    for alarm in alarms.values():
        assert [ref_id(action) for action in alarm["Properties"]["AlarmActions"]] == [topic]


def test_functions_have_error_and_throttle_alarms_and_the_failure_metric_is_alarmed(choreography):
    functions = set(resources(choreography, "AWS::Lambda::Function"))
    for metric in ("Errors", "Throttles"):
        assert {ref_id(a["Dimensions"][0]["Value"]) for a in alarms_on(choreography, metric)} == functions
    [failures] = alarms_on(choreography, "EncounterFailures")
    assert (failures["Namespace"], failures["Threshold"]) == ("ClinicalScribe", 0)
    assert failures["Dimensions"] == [{"Name": "service", "Value": "ClinicalScribeChoreography"}]


def test_work_queue_visibility_timeout_is_at_least_six_times_its_consumers_timeout(variant):
    functions = resources(variant, "AWS::Lambda::Function")
    mappings = resources(variant, "AWS::Lambda::EventSourceMapping").values()
    assert len(mappings) >= 2
    for mapping in mappings:
        props = mapping["Properties"]
        queue = resources(variant, "AWS::SQS::Queue")[ref_id(props["EventSourceArn"])]
        timeout = functions[ref_id(props["FunctionName"])]["Properties"]["Timeout"]
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_bucket_queues_topic_and_log_groups_use_the_stack_key_with_rotation(variant):
    key = key_id(variant)
    assert resources(variant, "AWS::KMS::Key")[key]["Properties"]["EnableKeyRotation"] is True
    encounters = [
        b
        for b in resources(variant, "AWS::S3::Bucket").values()
        if b["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    ]
    [bucket] = encounters
    sse = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert ref_id(sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == key
    for queue in resources(variant, "AWS::SQS::Queue").values():
        assert ref_id(queue["Properties"]["KmsMasterKeyId"]) == key
    for topic in resources(variant, "AWS::SNS::Topic").values():
        assert ref_id(topic["Properties"]["KmsMasterKeyId"]) == key
    for group in resources(variant, "AWS::Logs::LogGroup").values():
        assert ref_id(group["Properties"]["KmsKeyId"]) == key
    for function in resources(variant, "AWS::Lambda::Function").values():
        assert ref_id(function["Properties"]["KmsKeyArn"]) == key
    for table in resources(variant, "AWS::DynamoDB::Table").values():
        assert ref_id(table["Properties"]["SSESpecification"]["KMSMasterKeyId"]) == key
    for machine in resources(variant, "AWS::StepFunctions::StateMachine").values():
        assert ref_id(machine["Properties"]["EncryptionConfiguration"]["KmsKeyId"]) == key


def test_transcribe_output_is_encrypted_with_the_stack_key(variant):
    for function in resources(variant, "AWS::Lambda::Function").values():
        assert ref_id(function["Properties"]["Environment"]["Variables"]["KMS_KEY_ARN"]) == key_id(variant)


def test_every_bucket_denies_requests_without_tls(variant):
    policies = resources(variant, "AWS::S3::BucketPolicy").values()
    buckets = set(resources(variant, "AWS::S3::Bucket"))
    denied = {
        ref_id(p["Properties"]["Bucket"])
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert denied == buckets


def test_encounter_bucket_sends_events_to_eventbridge_and_blocks_public_access(variant):
    for bucket in resources(variant, "AWS::S3::Bucket").values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    kms_buckets = [
        b for b in resources(variant, "AWS::S3::Bucket").values() if "LoggingConfiguration" in b["Properties"]
    ]
    [encounters] = kms_buckets
    assert encounters["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert not resources(variant, "Custom::S3BucketNotifications")


def iam_statements(template):
    for policy in resources(template, "AWS::IAM::Policy").values():
        yield from policy["Properties"]["PolicyDocument"]["Statement"]


def test_no_iam_statement_has_a_wildcard_action_or_a_wildcard_data_resource(variant):
    statements = list(iam_statements(variant))
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if "*" in a], statement
        if statement["Resource"] == "*":
            # X-Ray, Transcribe's job start and listing, CloudWatch Logs delivery and Step Functions' task
            # responses (the token is the capability) have no resource type.
            assert {a.split(":")[0] for a in actions} <= {"xray", "transcribe", "logs", "states"}, statement
            if {a.split(":")[0] for a in actions} == {"states"}:
                assert {a.removeprefix("states:SendTask") for a in actions} == {"Success", "Failure", "Heartbeat"}
            if "transcribe:StartMedicalTranscriptionJob" in actions:
                assert set(statement["Condition"]["StringEquals"]) == {
                    "transcribe:OutputBucketName",
                    "transcribe:OutputEncryptionKMSKeyId",
                }, statement


def test_transcription_starts_are_granted_as_the_action_allows_on_star_narrowed_to_this_stack(variant):
    """StartMedicalTranscriptionJob supports no resource type: a statement naming a job ARN never matches."""
    starts = [
        s for s in iam_statements(variant) if "transcribe:StartMedicalTranscriptionJob" in json.dumps(s["Action"])
    ]
    assert starts
    for statement in starts:
        assert statement["Resource"] == "*", statement
        assert statement["Action"] == "transcribe:StartMedicalTranscriptionJob", "Get keeps its own, scoped statement"


def test_cloudwatch_may_publish_this_accounts_alarms_to_the_alarm_topic(variant):
    """A topic policy replaces SNS's default: without an allow for CloudWatch, no alarm notifies anyone."""
    [policy] = resources(variant, "AWS::SNS::TopicPolicy").values()
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    [publish] = [s for s in allows if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert publish["Action"] == "sns:Publish"
    assert set(publish["Condition"]) == {"ArnLike", "StringEquals"}
    assert "aws:SourceArn" in publish["Condition"]["ArnLike"]
    assert "aws:SourceAccount" in publish["Condition"]["StringEquals"]


def test_every_function_has_powertools_tracing_json_logs_and_no_reserved_concurrency_by_default(variant):
    functions = resources(variant, "AWS::Lambda::Function").values()
    assert len(functions) >= 3
    for function in functions:
        props = function["Properties"]
        assert POWERTOOLS_LAYER in json.dumps(props["Layers"])
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false", "no result traced"
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert "ReservedConcurrentExecutions" not in props, "reserving is opt-in (reserve_concurrency)"
        assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]


def bedrock_resources(template) -> list:
    return [s["Resource"] for s in iam_statements(template) if s["Action"] == "bedrock:InvokeModel"]


def test_bedrock_invoke_is_limited_to_the_configured_inference_profile(choreography):
    [resources_] = bedrock_resources(choreography)
    rendered = json.dumps(resources_)
    assert "inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0" in rendered
    assert "foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0" in rendered
    assert len(resources_) == 2


def test_bedrock_invoke_follows_a_different_model_from_context(tmp_path_factory):
    template = synthesized(tmp_path_factory, {"bedrock_model_id": "amazon.nova-lite-v1:0"})
    [resource] = bedrock_resources(template)
    rendered = json.dumps(resource)
    assert "foundation-model/amazon.nova-lite-v1:0" in rendered and "anthropic" not in rendered


def test_rules_route_audio_and_transcripts_to_their_queues(choreography):
    routes = {}
    for rule in resources(choreography, "AWS::Events::Rule").values():
        pattern = rule["Properties"].get("EventPattern")
        if pattern and pattern.get("source") == ["aws.s3"]:
            [target] = rule["Properties"]["Targets"]
            routes[pattern["detail"]["object"]["key"][0]["prefix"]] = ref_id(target["Arn"])
    mappings = {
        ref_id(m["Properties"]["EventSourceArn"]): m["Properties"]["FunctionName"]
        for m in resources(choreography, "AWS::Lambda::EventSourceMapping").values()
    }
    functions = resources(choreography, "AWS::Lambda::Function")
    handlers = {prefix: functions[ref_id(mappings[queue])]["Properties"]["Handler"] for prefix, queue in routes.items()}
    assert handlers == {
        "audio/": "choreography.start_transcription.handler",
        "transcripts/": "choreography.write_note.handler",
    }


def test_note_signed_on_the_domain_bus_goes_to_the_fhir_export_in_both_stacks(choreography, orchestration):
    for template in (choreography, orchestration):
        [rule] = [
            r["Properties"]
            for r in resources(template, "AWS::Events::Rule").values()
            if r["Properties"].get("EventPattern", {}).get("detail-type") == ["NoteSigned"]
        ]
        assert rule["EventPattern"]["source"] == ["clinical-scribe"]
        assert "Fn::GetAtt" in json.dumps(rule["EventBusName"]) or "Ref" in json.dumps(rule["EventBusName"])
        [target] = rule["Targets"]
        mappings = {
            ref_id(m["Properties"]["EventSourceArn"]): m["Properties"]["FunctionName"]
            for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        }
        function = resources(template, "AWS::Lambda::Function")[ref_id(mappings[ref_id(target["Arn"])])]
        assert function["Properties"]["Handler"] == "edges.fhir_export.handler"
        assert "DeadLetterConfig" in target


def domain_event_consumers(template, detail_type: str) -> list[dict]:
    """The handler each rule on the domain bus for this detail type feeds (through its queue), and the rule."""
    mappings = {
        ref_id(m["Properties"]["EventSourceArn"]): m["Properties"]["FunctionName"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    functions = resources(template, "AWS::Lambda::Function")
    found = []
    for rule in resources(template, "AWS::Events::Rule").values():
        if rule["Properties"].get("EventPattern", {}).get("detail-type") == [detail_type]:
            [target] = rule["Properties"]["Targets"]
            handler = functions[ref_id(mappings[ref_id(target["Arn"])])]["Properties"]["Handler"]
            found.append({"handler": handler, "rule": rule["Properties"], "target": target})
    return found


def test_note_sent_back_goes_to_choreographys_note_writer_and_nowhere_in_orchestration(choreography, orchestration):
    [route] = domain_event_consumers(choreography, "NoteSentBack")
    assert route["handler"] == "choreography.write_note.handler"
    assert route["rule"]["EventPattern"]["source"] == ["clinical-scribe"] and "DeadLetterConfig" in route["target"]
    assert "Ref" in json.dumps(route["rule"]["EventBusName"]) or "Fn::" in json.dumps(route["rule"]["EventBusName"])
    # Orchestration redrafts in its own style: the wait's NoteSentBack failure, in the state machine.
    assert domain_event_consumers(orchestration, "NoteSentBack") == []


def test_the_schedule_runs_the_watchdog(choreography):
    [schedule] = [
        r["Properties"]
        for r in resources(choreography, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    functions = resources(choreography, "AWS::Lambda::Function")
    assert functions[ref_id(schedule["Targets"][0]["Arn"])]["Properties"]["Handler"] == "choreography.watchdog.handler"


def test_the_optional_vpc_puts_every_function_in_private_subnets_and_stays_compliant(tmp_path_factory):
    template = synthesized(tmp_path_factory, {"deploy_in_vpc": True})
    for function in resources(template, "AWS::Lambda::Function").values():
        assert function["Properties"]["VpcConfig"]["SubnetIds"]
    assert not resources(template, "AWS::EC2::NatGateway")
    endpoints = [e["Properties"]["ServiceName"] for e in resources(template, "AWS::EC2::VPCEndpoint").values()]
    assert any("bedrock-runtime" in json.dumps(name) for name in endpoints)


def test_optional_replication_replicates_encrypted_objects_and_stays_compliant(tmp_path_factory):
    template = synthesized(
        tmp_path_factory,
        {
            "replication_destination_bucket_arn": "arn:aws:s3:::encounters-replica",
            "replication_destination_kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/replica",
        },
    )
    [replicated] = [
        b for b in resources(template, "AWS::S3::Bucket").values() if "ReplicationConfiguration" in b["Properties"]
    ]
    rule = replicated["Properties"]["ReplicationConfiguration"]["Rules"][0]
    assert rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"].endswith("key/replica")


def test_dlqs_outlive_their_source_queues(variant):
    queues = resources(variant, "AWS::SQS::Queue")
    for queue in work_queues(variant).values():
        dlq = queues[ref_id(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])]
        assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert queue["Properties"].get("MessageRetentionPeriod", 4 * 24 * 3600) < 14 * 24 * 3600


def test_the_demo_summary_lists_functions_queues_and_alarms(cdk_out):
    from stacks.summary import main

    outdir = cdk_out
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["summary", str(outdir)]) == 0
    text = printed.getvalue()
    assert "choreography.write_note.handler" in text
    assert "after 5 receives" in text and "EncounterFailures(ClinicalScribeChoreography)" in text


DATASTORE = "0f" * 16
FHIR_ENDPOINT = f"https://healthlake.us-east-1.amazonaws.com/datastore/{DATASTORE}/r4/"


def test_a_fhir_endpoint_gives_the_export_its_address_and_a_put_on_that_one_data_store(tmp_path_factory, choreography):
    assert not [s for s in iam_statements(choreography) if "healthlake" in json.dumps(s["Action"])]
    template = synthesized(tmp_path_factory, {"fhir_endpoint": FHIR_ENDPOINT, "deploy_in_vpc": True})
    [exporter] = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "edges.fhir_export.handler"
    ]
    variables = exporter["Environment"]["Variables"]
    assert (variables["FHIR_ENDPOINT"], variables["FHIR_ENDPOINT_REGION"]) == (FHIR_ENDPOINT, "us-east-1")
    [grant] = [s for s in iam_statements(template) if "healthlake" in json.dumps(s["Action"])]
    assert sorted(grant["Action"]) == ["healthlake:CreateResource", "healthlake:UpdateResource"]
    assert json.dumps(grant["Resource"]).endswith(f':datastore/fhir/{DATASTORE}"]]}}')
    endpoints = [e["Properties"]["ServiceName"] for e in resources(template, "AWS::EC2::VPCEndpoint").values()]
    assert any("healthlake" in json.dumps(name) for name in endpoints)
