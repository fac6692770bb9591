"""One canary per patch of a library's internals (localcloud/moto_patches.py): without the CDK or a local
cloud, each fails naming its shim when a moto or botocore upgrade changes what the shim patches."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from localcloud import moto_patches
from localcloud.moto_patches import PATCHES, MotoChanged, Patch, UndeclaredPatch, problems

LOCALCLOUD = Path(moto_patches.__file__).parent
EXPERIMENTS = LOCALCLOUD.parent / "experiments"  # they run on the local cloud: the same rule


@pytest.mark.parametrize("patch", PATCHES, ids=[f"{p.shim}:{p.target.rpartition('.')[2]}" for p in PATCHES])
def test_each_patch_still_matches_the_installed_library(patch):
    assert problems(patch) == []


@pytest.mark.parametrize("shim", sorted({patch.shim for patch in PATCHES}))
def test_each_declared_shim_is_a_function_of_the_local_cloud(shim):
    module, *attributes = shim.split(".")
    found = importlib.import_module(f"localcloud.{module}")
    for attribute in attributes:
        found = getattr(found, attribute)
    assert callable(found), shim


def test_a_canary_fails_naming_its_shim_when_moto_changes(monkeypatch):
    changed = Patch("events", "events_shims.scheduled_rules_ignore_events", "moto.events.models.Rule.send_to_targets",
                    "replace")  # fmt: skip
    monkeypatch.setattr(moto_patches, "recorded", lambda: {changed.target: "0000000000000000"})
    assert problems(changed) == [
        "events_shims.scheduled_rules_ignore_events: moto.events.models.Rule.send_to_targets changed in this "
        "version: review the shim, then --record"
    ]
    gone = Patch("sqs", "sqs_shims.dlq_redrive", "moto.sqs.responses.SQSResponse.no_such_api", "replace")
    assert problems(gone) == ["sqs_shims.dlq_redrive: moto.sqs.responses.SQSResponse.no_such_api no longer exists"]
    gained = Patch("sqs", "sqs_shims.dlq_redrive", "moto.sqs.responses.SQSResponse.send_message", "add")
    assert problems(gained) == [
        "sqs_shims.dlq_redrive: moto has moto.sqs.responses.SQSResponse.send_message now: remove the shim's own"
    ]


def test_a_shim_cannot_patch_what_the_table_does_not_declare_nor_add_what_moto_has(monkeypatch):
    with pytest.raises(UndeclaredPatch, match=r"SQSResponse\.send_message is not declared"):
        moto_patches.replace("moto.sqs.responses.SQSResponse.send_message", lambda self: None)
    target = "moto.sqs.responses.SQSResponse.send_message"
    monkeypatch.setattr(moto_patches, "DECLARED", {*moto_patches.DECLARED, (target, "add")})
    with pytest.raises(MotoChanged, match="exists now: moto implements it"), moto_patches.add(target, None):
        pass


def test_an_added_api_is_gone_again_after_its_context_and_nested_adds_stack():
    from moto.sqs.responses import SQSResponse

    target = "moto.sqs.responses.SQSResponse.start_message_move_task"
    with moto_patches.add(target, lambda self: "outer"):
        assert SQSResponse.start_message_move_task(None) == "outer"
        with moto_patches.add(target, lambda self: "inner"):
            assert SQSResponse.start_message_move_task(None) == "inner"
        assert SQSResponse.start_message_move_task(None) == "outer"
    assert not hasattr(SQSResponse, "start_message_move_task")


def test_every_library_patch_goes_through_the_table():
    """No `create=True` (it would hide an API moto gains later) and no direct patching of a library."""
    direct = []
    for path in sorted([*LOCALCLOUD.glob("*.py"), *EXPERIMENTS.glob("*.py")]):
        text = path.read_text()
        if "create=True" in text:
            direct.append(f"{path.name}: create=True")
        for match in re.finditer(r"mock\.patch\.object\((\w[\w.]*)", text):
            # Allowed: the table's own helpers, and the process's os.environ (not a library's internals).
            if path.name != "moto_patches.py" and match.group(1) != "os":
                direct.append(f"{path.name}: mock.patch.object({match.group(1)}, ...)")
    assert direct == []
