"""The one shape of the pipeline's DynamoDB tables: state in flight (task tokens, the line for Transcribe's slots),
on demand, encrypted with the stack's key, point-in-time recovery on, each item expiring by TTL."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.constructs.foundation import PipelineFoundation


def state_table(
    scope: Construct,
    construct_id: str,
    *,
    foundation: PipelineFoundation,
    partition_key: str,
    sort_key: str | None = None,
    holds: str,
) -> dynamodb.Table:
    """A table in `scope` (so its logical id is `construct_id`'s own); `holds` says what it keeps and for how
    long, the reason it needs no backup plan beyond point-in-time recovery."""
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
        time_to_live_attribute="expires_at",
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=foundation.key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )
    acknowledge(table, "HIPAA.Security-DynamoDBInBackupPlan", f"{holds}; point-in-time recovery covers it.")
    return table
