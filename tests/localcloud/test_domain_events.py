"""The domain events both variants put on their deployment's bus, on the local cloud: the same kinds for the
same work, every one valid against its schema, none with transcript or note text."""

from __future__ import annotations

import json

import pytest

from localcloud.access import ActionTable
from tests.localcloud.conftest import DICTATION, STACKS, upload
from tests.support.domain_events import contract_errors, received, subscribe

AUDIO = b"RIFF....WAVEfmt domain events dictation"


@pytest.fixture
def buses(local_cloud):
    """Per stack, a reader of its domain event bus (subscribed before any upload)."""
    events, sqs = local_cloud.client("events"), local_cloud.client("sqs")
    urls = {
        stack: subscribe(events, sqs, local_cloud.outputs[stack]["DomainEventBusName"], f"contract-{stack}")
        for stack in STACKS
    }
    return lambda stack: received(sqs, urls[stack])


def test_both_variants_put_the_same_valid_events_for_the_same_work_and_no_phi(local_cloud, buses):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    for stack in STACKS:
        upload(local_cloud, stack, "audio/enc-1.wav", AUDIO)
        upload(local_cloud, stack, "audio/enc-2.txt", b"not audio")
    local_cloud.run_until_quiet()
    kinds = {}
    for stack in STACKS:
        found = buses(stack)
        assert found, stack
        for event in found:
            assert contract_errors(event) == [], (stack, event["detail-type"])
            assert event["detail"]["variant"] == local_cloud.outputs[stack]["Variant"]
        text = json.dumps(found)
        assert not any(sentence.strip() in text for sentence in DICTATION.split(".") if len(sentence.strip()) > 12)
        kinds[stack] = sorted((e["detail-type"], e["detail"]["encounter_id"]) for e in found)
    assert kinds[STACKS[0]] == kinds[STACKS[1]] == [("EncounterFailed", "enc-2"), ("NoteDrafted", "enc-1")]


def test_put_events_is_authorized_on_each_entrys_bus():
    table = ActionTable("aws", "us-east-1", "123456789012")
    entries = [
        {"EventBusName": "ClinicalScribeChoreography-domain"},
        {"EventBusName": "arn:aws:events:us-east-1:1:event-bus/x"},
        {},
    ]
    assert table.resources("events:PutEvents", {"Entries": entries}) == [
        "arn:aws:events:us-east-1:123456789012:event-bus/ClinicalScribeChoreography-domain",
        "arn:aws:events:us-east-1:123456789012:event-bus/default",
        "arn:aws:events:us-east-1:1:event-bus/x",
    ]
