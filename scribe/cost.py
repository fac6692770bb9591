"""Cost per encounter for each variant: a dated price table (scribe/prices.json) times the operation
counts measured on the local cloud (scribe/measured_operations.json, written by `make measure`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices.json"
MEASURED = HERE / "measured_operations.json"
S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjectsV2", "ListObjects", "ListObjectVersions"}
DYNAMODB_WRITES = {"PutItem", "DeleteItem", "UpdateItem"}
DYNAMODB_READS = {"GetItem", "Query", "Scan"}
NOT_COORDINATION = ("Transcribe Medical", "Bedrock")


class UnknownModel(ValueError):
    pass


@dataclass
class Line:
    item: str
    usd_per_encounter: float
    basis: str


def _price(prices: dict, name: str) -> float:
    return prices["prices"][name]["usd"]


def lambda_gb_seconds(functions: dict, billed_ms: dict[str, float]) -> float:
    """GB-seconds of the Lambda invocations `functions` counts ({handler: {"invocations", "memory_mb"}}), each
    billed the milliseconds the price table states for its handler (1,000 for one it does not name)."""
    return sum(
        f["invocations"] * f["memory_mb"] / 1024 * billed_ms.get(handler, 1000) / 1000
        for handler, f in functions.items()
    )


def encounter_cost(variant: str, minutes: float, model_id: str, prices: dict, measured: dict) -> list[Line]:
    figures = measured["per_encounter"][variant]
    assumptions = {name: a["value"] for name, a in prices["assumptions"].items()}
    models = prices["bedrock_models"]
    if model_id not in models:
        raise UnknownModel(f"no price for model {model_id!r}; priced models: {', '.join(sorted(models))}")
    model = models[model_id]
    ops = figures["operations"]

    def count(service: str, names: set[str] | None = None) -> float:
        return sum(
            n
            for key, n in ops.items()
            if key.split(":")[0] == service and (names is None or key.split(":")[1] in names)
        )

    converse = count("bedrock-runtime")
    input_tokens = assumptions["prompt_tokens"] + minutes * assumptions["transcript_tokens_per_minute"]
    output_tokens = assumptions["output_tokens"]
    lambda_gb_s = lambda_gb_seconds(figures["lambda"], assumptions["lambda_billed_ms"])
    invocations = sum(f["invocations"] for f in figures["lambda"].values())
    s3_put = count("s3", S3_PUT_CLASS)
    s3_get = count("s3") - s3_put
    return [
        Line("Transcribe Medical", max(minutes, 0.25) * _price(prices, "transcribe_medical_per_minute"),
             f"{minutes:g} min of audio"),
        Line("Bedrock", converse * (input_tokens * model["input_per_million_tokens"] + output_tokens * model["output_per_million_tokens"]) / 1e6,
             f"{converse:g} call(s), ~{input_tokens:.0f} in / {output_tokens} out tokens, {model_id}"),
        Line("Lambda", lambda_gb_s * _price(prices, "lambda_arm64_per_gb_second")
             + invocations * _price(prices, "lambda_per_million_requests") / 1e6,
             f"{invocations:.2f} invocations, {lambda_gb_s:.2f} GB-s"),
        Line("Step Functions", figures["state_transitions"] * _price(prices, "step_functions_standard_per_thousand_transitions") / 1e3,
             f"{figures['state_transitions']:g} state transitions"),
        Line("SQS", count("sqs") * _price(prices, "sqs_standard_per_million_requests") / 1e6, f"{count('sqs'):.2f} requests"),
        Line("S3 requests", s3_put * _price(prices, "s3_put_copy_post_list_per_thousand") / 1e3
             + s3_get * _price(prices, "s3_get_and_other_per_thousand") / 1e3,
             f"{s3_put:.2f} PUT/LIST + {s3_get:.2f} GET/HEAD"),
        Line("DynamoDB", count("dynamodb", DYNAMODB_WRITES) * _price(prices, "dynamodb_on_demand_per_million_writes") / 1e6
             + count("dynamodb", DYNAMODB_READS) * _price(prices, "dynamodb_on_demand_per_million_reads") / 1e6,
             f"{count('dynamodb', DYNAMODB_WRITES):.2f} writes"),
        Line("EventBridge", count("events", {"PutEvents"}) * _price(prices, "eventbridge_custom_events_per_million") / 1e6,
             f"{count('events', {'PutEvents'}):.2f} domain event puts; S3 and Step Functions events on the default bus are free"),
    ]  # fmt: skip


def estimate(
    minutes: float, encounters: int, model_id: str, prices_path: Path = PRICES, measured_path: Path = MEASURED
) -> dict:
    if minutes <= 0 or encounters <= 0:
        raise ValueError("--minutes and --encounters must be positive")
    prices = json.loads(prices_path.read_text())
    measured = json.loads(measured_path.read_text())
    result = {
        "minutes_per_encounter": minutes,
        "encounters": encounters,
        "model_id": model_id,
        "prices_recorded": prices["recorded"],
        "region": prices["region"],
        "caveat": prices["caveat"],
        "measured": measured["how"],
        "fixed_per_month": {"KMS key (per stack)": _price(prices, "kms_per_key_month")},
        "variants": {},
    }
    for variant in measured["per_encounter"]:
        lines = encounter_cost(variant, minutes, model_id, prices, measured)
        total = sum(line.usd_per_encounter for line in lines)
        coordination = sum(line.usd_per_encounter for line in lines if line.item not in NOT_COORDINATION)
        result["variants"][variant] = {
            "lines": [vars(line) | {"usd_per_n": line.usd_per_encounter * encounters} for line in lines],
            "usd_per_encounter": total,
            "usd_per_n": total * encounters,
            "coordination_usd_per_encounter": coordination,
            "transcribe_share": lines[0].usd_per_encounter / total,
        }
    return result
