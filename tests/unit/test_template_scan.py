"""The template scan runs the scanners once per synth content: a synth both passed is stamped and skipped later;
a failing scanner stamps nothing."""

from __future__ import annotations

import pytest

from tests.support.template_scan import scan, settings_digest, stamp


@pytest.fixture
def synths(tmp_path):
    made = []
    for name in ("s1", "s1+ctx"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "A.template.json").write_text("{}")
        made.append(tmp_path / name)
    return made


def test_a_synth_both_scanners_passed_is_not_scanned_again(synths, tmp_path):
    log = tmp_path / "scanned.txt"
    record = ["sh", "-c", f'echo "$@" >> {log}', "scanner"]
    assert scan(synths, [record, record], "v1") == (2, 0)
    assert len(log.read_text().splitlines()) == 2  # one run of each scanner over both synths' templates
    assert scan(synths, [record], "v1") == (0, 0)
    assert len(log.read_text().splitlines()) == 2
    assert scan(synths, [record], "v2") == (2, 0)  # other scanner settings: scanned anew


def test_a_failing_scanner_stamps_nothing(synths):
    assert scan(synths, [["true"], ["false"]], "v1") == (2, 1)
    assert not any(stamp(synth, "v1").exists() for synth in synths)


def test_the_settings_digest_follows_the_scanners_settings(tmp_path):
    (tmp_path / ".cfnlintrc.yaml").write_text("ignore_checks: []\n")
    before = settings_digest(tmp_path)
    (tmp_path / "requirements-checkov.txt").write_text("checkov==1.0\n")
    assert settings_digest(tmp_path) != before
