"""README's deploy steps followed in order with alarm_email set (step 3): the app synthesizes with the cdk-nag
packs attached and both stacks deploy on the local cloud. (moto's CloudFormation creates no
AWS::SNS::Subscription, so the address and its dead-letter queue are checked on the template:
tests/infra/test_read_against_aws.py.)"""

from __future__ import annotations

from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import STACKS
from tests.support.synth_cache import cdk_out as cached_synth

ALARM_EMAIL = "oncall@example.org"


def test_the_readmes_deploy_with_an_alarm_email_deploys_both_stacks():
    cdk_out = cached_synth({"alarm_email": ALARM_EMAIL})  # the matrix's alarm-email synth; raises on any nag finding
    with LocalCloud(cdk_out) as cloud:
        for stack in STACKS:
            outputs = cloud.deploy(stack)
            assert outputs["AlarmTopicArn"].startswith("arn:aws:sns:")
            queues = cloud.client("sqs").list_queues(QueueNamePrefix=f"{stack}-AlarmEmailDlq")["QueueUrls"]
            assert len(queues) == 1
