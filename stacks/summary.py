"""Print what the synthesized stacks would deploy: `python -m stacks.summary cdk.out`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def short(value) -> str:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return ".".join(value["Fn::GetAtt"])
        return "(computed)"
    return str(value)


def summarize(template_path: Path) -> list[str]:
    template = json.loads(template_path.read_text())
    resources = template.get("Resources", {})
    by_type = {}
    for logical_id, resource in resources.items():
        by_type.setdefault(resource["Type"], {})[logical_id] = resource.get("Properties", {})
    lines = [f"== {template_path.name.removesuffix('.template.json')}: {len(resources)} resources"]
    counts = Counter(resource["Type"] for resource in resources.values())
    lines += [f"   {count:3d}  {type_}" for type_, count in sorted(counts.items())]
    lines.append("   functions:")
    for logical_id, props in by_type.get("AWS::Lambda::Function", {}).items():
        reserved = props.get("ReservedConcurrentExecutions")
        concurrency = f"reserved concurrency {reserved}" if reserved else "unreserved concurrency"
        lines.append(
            f"     {logical_id}: {props.get('Handler')} ({props.get('Runtime')}, {props.get('Architectures', ['x86_64'])[0]}, "
            f"timeout {props.get('Timeout')} s, {concurrency})"
        )
    lines.append("   queues:")
    for logical_id, props in by_type.get("AWS::SQS::Queue", {}).items():
        redrive = props.get("RedrivePolicy")
        role = (
            f"redrive to {short(redrive['deadLetterTargetArn'])} after {redrive['maxReceiveCount']} receives"
            if redrive
            else "dead-letter queue"
        )
        lines.append(f"     {logical_id}: visibility {props.get('VisibilityTimeout', 30)} s, {role}")
    lines.append("   alarms:")
    for props in by_type.get("AWS::CloudWatch::Alarm", {}).values():
        dimensions = ", ".join(short(d["Value"]) for d in props.get("Dimensions", []))
        lines.append(
            f"     {props.get('MetricName')}({dimensions}) {props.get('ComparisonOperator')} {props.get('Threshold')}"
        )
    outputs = template.get("Outputs", {})
    lines.append(f"   outputs: {', '.join(sorted(outputs))}")
    return lines


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "cdk.out")
    templates = sorted(out.glob("*.template.json"))
    if not templates:
        print(f"no templates in {out}: run `make synth` first", file=sys.stderr)
        return 1
    for template in templates:
        print("\n".join(summarize(template)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
