"""scribe cost: the price table times the measured operation counts."""

import json

import pytest

from scribe import cost

PRICES = json.loads(cost.PRICES.read_text())


def measured(**overrides) -> dict:
    per_encounter = {
        "operations": {
            "bedrock-runtime:Converse": 1.0,
            "s3:PutObject": 2.0,
            "s3:GetObject": 3.0,
            "sqs:ReceiveMessage": 2.0,
        },
        "lambda": {"choreography.write_note.handler": {"invocations": 1.0, "memory_mb": 512}},
        "state_transitions": 0,
    }
    return {"how": "test", "per_encounter": {"choreography": per_encounter | overrides}}


def lines_of(minutes=5.0, model="us.anthropic.claude-haiku-4-5-20251001-v1:0", data=None):
    return {line.item: line for line in cost.encounter_cost("choreography", minutes, model, PRICES, data or measured())}


def test_each_line_is_the_price_times_the_measured_count():
    lines = lines_of()
    assert lines["Transcribe Medical"].usd_per_encounter == pytest.approx(5 * 0.075)
    assert lines["Bedrock"].usd_per_encounter == pytest.approx((700 + 5 * 300) * 1.00 / 1e6 + 800 * 5.00 / 1e6)
    assert lines["S3 requests"].usd_per_encounter == pytest.approx(2 * 0.005 / 1000 + 3 * 0.0004 / 1000)
    assert lines["SQS"].usd_per_encounter == pytest.approx(2 * 0.40 / 1e6)
    assert lines["Lambda"].usd_per_encounter == pytest.approx(0.5 * 6.0 * 0.0000133334 + 0.20 / 1e6)
    transitions = lines_of(data=measured(state_transitions=4))["Step Functions"].usd_per_encounter
    assert transitions == pytest.approx(4 * 0.025 / 1000)


def test_transcribe_dominates_with_the_committed_measurement():
    estimate = cost.estimate(minutes=5, encounters=1000, model_id="us.anthropic.claude-haiku-4-5-20251001-v1:0")
    for variant in ("choreography", "orchestration"):
        figures = estimate["variants"][variant]
        assert figures["transcribe_share"] > 0.9, variant
        assert figures["usd_per_n"] == pytest.approx(figures["usd_per_encounter"] * 1000)
    coordination = {v: f["coordination_usd_per_encounter"] for v, f in estimate["variants"].items()}
    assert coordination["orchestration"] > coordination["choreography"] > 0, "state transitions and callbacks cost"


def test_an_unknown_model_and_bad_amounts_are_clear_errors():
    with pytest.raises(cost.UnknownModel, match="no price for model 'gpt-x'; priced models: "):
        lines_of(model="gpt-x")
    with pytest.raises(ValueError, match="must be positive"):
        cost.estimate(minutes=0, encounters=10, model_id="us.anthropic.claude-haiku-4-5-20251001-v1:0")
