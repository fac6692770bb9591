"""`make measure`: what one encounter costs in AWS operations, measured on the local cloud.

Runs N sample dictations through both deployed variants (no faults), counts every AWS call the
pipeline makes (service and operation), the Lambda invocations per function, and the state
transitions, and writes the per-encounter figures to scribe/measured_operations.json, which
`scribe cost` prices. Prints the figures.
Usage: python -m experiments.measure [cdk.out] [--encounters N]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from clinical.executions import execution_history
from experiments import SAMPLES
from localcloud.assets import not_an_assembly
from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import INVOCATIONS, send_handler_output_to
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

MEASURED = Path(__file__).resolve().parent.parent / "scribe" / "measured_operations.json"
VARIANTS = {"choreography": CHOREOGRAPHY_STACK, "orchestration": ORCHESTRATION_STACK}


def execution_histories(cloud: LocalCloud, stack: str) -> list[tuple[str, str, list[dict]]]:
    """(encounter id, status, history events) of each execution of the stack's state machine, if it has one."""
    arn = cloud.outputs[stack].get("StateMachineArn")
    if arn is None:
        return []
    sfn = cloud.client("stepfunctions")
    return [
        (execution["name"], execution["status"], execution_history(sfn, execution["executionArn"]))
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
        for execution in page["executions"]
    ]


def state_transitions(histories: list[tuple[str, str, list[dict]]]) -> int:
    """Billed state transitions: one per state entered."""
    return sum(1 for _name, _status, events in histories for e in events if e["type"].endswith("StateEntered"))


def per_encounter_figures(cloud: LocalCloud, stack: str, invoked: Counter, transitions: int, n: int) -> dict:
    """What `scribe cost` prices: operations, Lambda invocations (with memory) and transitions, per encounter."""
    functions = {
        f["FunctionName"]: (f["Handler"], f["MemorySize"])
        for f in cloud.client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(f"{stack}-")
    }
    return {
        "operations": {
            f"{service}:{operation}": count / n
            for (service, operation), count in sorted(cloud.operations.counts.items())
        },
        "lambda": {
            handler: {"invocations": invoked[name] / n, "memory_mb": mb}
            for name, (handler, mb) in functions.items()
            if invoked[name]
        },
        "state_transitions": transitions / n,
    }


def measure(cdk_out: Path, encounters: int, burst: bool = False) -> dict:
    samples = sorted(SAMPLES.glob("*.wav"))
    result = {}
    for variant, stack in VARIANTS.items():
        with LocalCloud(cdk_out) as cloud:
            send_handler_output_to(io.StringIO())  # the handlers' log lines are not the measurement's output
            cloud.deploy(stack)
            from clinical import observability  # loaded by the deploy (as Lambda's init would)

            observability.logger.registered_handler.setStream(io.StringIO())
            for sample in samples:
                cloud.transcribe.register(sample.read_bytes(), sample.with_suffix(".txt").read_text().strip())
            invocations_before = Counter(INVOCATIONS.invocations)
            cloud.operations.counts.clear()
            s3 = cloud.client("s3")
            for n in range(encounters):
                sample = samples[n % len(samples)]
                s3.put_object(
                    Bucket=cloud.outputs[stack]["EncounterBucketName"],
                    Key=f"audio/m-{n:04d}.wav",
                    Body=sample.read_bytes(),
                )
                cloud.operations.add("s3", "PutObject")  # the upload itself (made by the harness here)
                if not burst:  # one encounter at a time, as a clinic's uploads trickle in: no batching
                    cloud.run_until_quiet()
            cloud.run_until_quiet()
            notes = s3.list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix="notes/")
            if notes.get("KeyCount", 0) != encounters:
                raise RuntimeError(f"{variant}: {notes.get('KeyCount', 0)} notes for {encounters} encounters")
            invoked = Counter(INVOCATIONS.invocations) - invocations_before
            transitions = state_transitions(execution_histories(cloud, stack))
            result[variant] = per_encounter_figures(cloud, stack, invoked, transitions, encounters)
    return {
        "measured_at": datetime.now(UTC).date().isoformat(),
        "how": (
            f"python -m experiments.measure --encounters {encounters}{' --burst' if burst else ''}: the samples, "
            f"{'all uploaded at once' if burst else 'one at a time'}, no faults, moto 5.2.5; scheduled sweeps during "
            "the run are included"
        ),
        "encounters": encounters,
        "per_encounter": result,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.measure", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--encounters", type=int, default=30)
    parser.add_argument("--output", type=Path, default=MEASURED)
    parser.add_argument("--burst", action="store_true", help="upload all at once (queues then batch messages)")
    args = parser.parse_args(argv[1:])
    if problem := not_an_assembly(args.cdk_out):
        print(problem, file=sys.stderr)
        return 2
    measured = measure(args.cdk_out, args.encounters, args.burst)
    args.output.write_text(json.dumps(measured, indent=2) + "\n")
    for variant, figures in measured["per_encounter"].items():
        print(f"{variant}: per encounter ({args.encounters} measured)")
        for name, count in figures["operations"].items():
            print(f"  {name:<55} {count:8.2f}")
        for handler, function in figures["lambda"].items():
            print(f"  lambda {handler:<48} {function['invocations']:8.2f} invocations ({function['memory_mb']} MB)")
        if figures["state_transitions"]:
            print(f"  {'state transitions':<55} {figures['state_transitions']:8.2f}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
