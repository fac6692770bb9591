"""Acknowledging a cdk-nag finding: always on one construct, always with its specific reason."""

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, comment: str) -> None:
    """Record a justified checkov skip in the resource's template metadata."""
    resource = construct.node.default_child if not isinstance(construct, CfnResource) else construct
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"].append({"id": check_id, "comment": comment})
    resource.add_metadata("checkov", metadata)
