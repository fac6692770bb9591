"""The synthesized templates, built once per test session (with the compliance packs attached)."""

from __future__ import annotations

import tempfile
from functools import cache

from stacks.app_factory import build_app


@cache
def _assembly():
    return build_app(outdir=tempfile.mkdtemp(prefix="cdk.out-")).synth()


def synthesized_template(stack_name: str) -> dict:
    return _assembly().get_stack_by_name(stack_name).template


def ref_id(value) -> str | None:
    """The logical id a Ref or Fn::GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def resources_of_type(template: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}
