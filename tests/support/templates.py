"""The synthesized templates: the session's one synth (tests/support/synth_cache.py, compliance packs attached)."""

from __future__ import annotations

import json

from tests.support import synth_cache


def synthesized_template(stack_name: str) -> dict:
    return json.loads((synth_cache.cdk_out() / f"{stack_name}.template.json").read_text())


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
