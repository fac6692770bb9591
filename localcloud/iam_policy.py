"""IAM policy evaluation as AWS documents it, for the local cloud's access checks.

`evaluate` decides one request (principal, action, resource, request context) from the identity
policies of the caller and the resource's policy:
- an explicit Deny in any applicable policy wins;
- within one account, an Allow in the identity policies or in the resource policy (naming the caller)
  allows, except for a KMS key, whose key policy must allow the caller or delegate to the account
  (then the identity policies decide);
- a service principal (events.amazonaws.com, cloudwatch.amazonaws.com) has no identity policies: only
  the resource policy can allow it.

Sources: IAM User Guide, "Policy evaluation logic" (same-account requests, explicit deny), "IAM JSON
policy elements: Condition operators" (operators, ...IfExists, ForAnyValue/ForAllValues, missing
keys), and the KMS Developer Guide, "Key policies" (the key policy is the primary access control).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


class PolicyModelError(Exception):
    """A policy uses something this evaluator does not model: fail loudly, never allow by default."""


@dataclass(frozen=True)
class Principal:
    """Who makes a call: a role (with the session it runs as) or an AWS service on behalf of a resource."""

    arn: str  # the role ARN, or the service principal name (events.amazonaws.com)
    account: str
    session: str = "local-cloud"
    source_arn: str | None = None  # for a service: the resource it acts for (rule, alarm)

    @property
    def is_service(self) -> bool:
        return self.arn.endswith(".amazonaws.com")

    def describe(self) -> str:
        """As AWS names the caller in an AccessDenied message."""
        if self.is_service:
            return self.arn
        role_name = self.arn.rsplit("/", 1)[-1]
        partition = self.arn.split(":")[1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{role_name}/{self.session}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why it was denied, in AWS's words ("because no identity-based policy allows ...")


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's * (any run of characters, ':' and '/' included) and ? (one character)."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    expression = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(expression, value, re.DOTALL) is not None


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_wildcard(p, action, case_sensitive=False) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(p == "*" or _wildcard(p, resource) for p in patterns)


def _principal_matches(element, principal: Principal) -> bool:
    """Does a statement's Principal name the caller directly? (The account root is delegation, see below.)"""
    if element == "*":
        return True
    if not isinstance(element, dict):
        raise PolicyModelError(f"unsupported Principal element {element!r}")
    if principal.is_service:
        return principal.arn in _as_list(element.get("Service"))
    return any(p == "*" or p == principal.arn for p in _as_list(element.get("AWS")))


def _names_account(element, account: str) -> bool:
    if not isinstance(element, dict):
        return False
    return any(p in (account, f"arn:aws:iam::{account}:root") or re.fullmatch(rf"arn:[\w-]+:iam::{account}:root", p)
               for p in _as_list(element.get("AWS")))  # fmt: skip


# ---- conditions ---------------------------------------------------------------------------------


def _string_equals(policy_value: str, value: str) -> bool:
    return policy_value == value


def _string_equals_ignore_case(policy_value: str, value: str) -> bool:
    return policy_value.lower() == value.lower()


def _string_like(policy_value: str, value: str) -> bool:
    return _wildcard(policy_value, value)


def _arn_like(policy_value: str, value: str) -> bool:
    # ARN matching is per component (IAM User Guide, ARN condition operators); '*' within a component.
    policy_parts, parts = policy_value.split(":", 5), value.split(":", 5)
    if len(policy_parts) != 6 or len(parts) != 6:
        return False
    return all(_wildcard(p, v) for p, v in zip(policy_parts, parts, strict=True))


def _bool(policy_value: str, value: str) -> bool:
    return str(policy_value).lower() == str(value).lower()


def _numeric(compare):
    def match(policy_value: str, value: str) -> bool:
        try:
            return compare(float(value), float(policy_value))
        except ValueError:
            return False

    return match


_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


def _context_value(context: dict, key: str):
    for name, value in context.items():
        if name.lower() == key.lower():  # condition key names are case-insensitive
            return value
    return None


def _condition_holds(operator: str, key: str, policy_values, context: dict) -> bool:
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    value = _context_value(context, key)
    if operator == "Null":
        return any(_bool(v, "true" if value is None else "false") for v in _as_list(policy_values))
    if operator not in _OPERATORS:
        raise PolicyModelError(f"condition operator {operator} is not modelled by the local cloud")
    match, negated = _OPERATORS[operator]
    if value is None:
        # A missing key: a positive operator does not match, a negated one does, ...IfExists always does.
        return True if if_exists else negated
    values = [str(v) for v in _as_list(value)]
    wanted = [str(v) for v in _as_list(policy_values)]
    if qualifier == "ForAllValues":
        hits = [any(match(w, v) for w in wanted) for v in values]
        return (not all(hits)) if negated else all(hits)
    hit = any(match(w, v) for w in wanted for v in values)  # plain and ForAnyValue: any value matches
    return (not hit) if negated else hit


def conditions_hold(condition: dict | None, context: dict) -> bool:
    for operator, keys in (condition or {}).items():
        for key, policy_values in keys.items():
            if not _condition_holds(operator, key, policy_values, context):
                return False
    return True


# ---- statements and decisions -------------------------------------------------------------------


def _statement_covers(statement: dict, action: str, resource: str, context: dict) -> bool:
    if "NotAction" in statement:
        if _action_matches(_as_list(statement["NotAction"]), action):
            return False
    elif not _action_matches(_as_list(statement.get("Action")), action):
        return False
    if "NotResource" in statement:
        if _resource_matches(_as_list(statement["NotResource"]), resource):
            return False
    elif "Resource" in statement and not _resource_matches(_as_list(statement["Resource"]), resource):
        return False
    return conditions_hold(statement.get("Condition"), context)


def _statements(policy: dict | None) -> list[dict]:
    return _as_list((policy or {}).get("Statement"))


def evaluate(
    principal: Principal,
    action: str,
    resource: str,
    context: dict,
    *,
    identity_policies: Iterable[dict] = (),
    resource_policy: dict | None = None,
    key_policy: bool = False,
) -> Decision:
    """One request, decided as AWS would within one account (the local cloud has one)."""
    identity_allows = False
    for policy in identity_policies if not principal.is_service else ():
        for statement in _statements(policy):
            if not _statement_covers(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(False, "with an explicit deny in an identity-based policy")
            identity_allows = True
    resource_allows_directly = False
    delegates_to_account = False
    for statement in _statements(resource_policy):
        principal_element = statement.get("Principal")
        if "NotPrincipal" in statement:
            raise PolicyModelError("NotPrincipal is not modelled by the local cloud")
        names_caller = principal_element is not None and _principal_matches(principal_element, principal)
        names_account = not principal.is_service and _names_account(principal_element, principal.account)
        if not (names_caller or names_account):
            continue
        if not _statement_covers(statement, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return Decision(False, "with an explicit deny in a resource-based policy")
        if names_caller:
            resource_allows_directly = True
        else:
            delegates_to_account = True
    if resource_allows_directly:
        return Decision(True)
    if principal.is_service:
        kind = "the key policy" if key_policy else "a resource-based policy"
        return Decision(False, f"because {kind} does not allow the {action} action")
    if key_policy:
        if not delegates_to_account:
            return Decision(False, f"because the key policy does not allow the {action} action")
        if identity_allows:
            return Decision(True)
        return Decision(False, f"because no identity-based policy allows the {action} action")
    if identity_allows:
        return Decision(True)
    return Decision(False, f"because no identity-based policy allows the {action} action")
