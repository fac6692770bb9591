"""Every make target that runs something exits non-zero when it fails, with one clear line on stderr and no
traceback (the Makefile runs recipes with pipefail and hides no stderr). Here: given a folder that holds
no synthesized app. The broken-step case of `make demo` is in test_demo.py, a failing invariant of
`scribe compare` in test_compare.py."""

import pytest

from tests.support.make import make_with


@pytest.mark.parametrize("target", ["demo", "localcloud", "measure", "compare", "burst", "plan"])
def test_a_make_target_without_a_synthesized_app_exits_non_zero_saying_so(target, tmp_path):
    done = make_with(target, tmp_path)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert "make synth" in done.stderr, done.stderr
