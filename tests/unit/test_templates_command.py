"""`make templates` (experiments.templates): the app of a named commit with context; bad input is one line, exit 2."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner

from experiments.templates import NAMED, ROOT, commit_of, context_of, main


def test_a_ref_that_names_no_commit_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "out"), "--ref", "no-such-ref"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: 'no-such-ref' is no commit of this repository (a commit, a branch, or one of: before-deploy-fixes)"
    )
    assert not (tmp_path / "out").exists()


def test_context_is_key_equals_value_as_cdk_synth_takes_it(tmp_path):
    assert context_of(("deploy_in_vpc=true", "alarm_email=a@b.org")) == {
        "deploy_in_vpc": "true",
        "alarm_email": "a@b.org",
    }
    result = CliRunner().invoke(main, [str(tmp_path / "out"), "-c", "deploy_in_vpc"])
    assert result.exit_code == 2
    assert "-c takes key=value (as cdk synth -c does), not 'deploy_in_vpc'" in result.output


def mentions_of(text: str, *revision: str) -> str:
    """`git grep -c` of text in stacks/, at a commit or (none given) in the working tree."""
    found = subprocess.run(  # noqa: S603 (git with fixed arguments)
        ["git", "-C", str(ROOT), "grep", "-c", text, *revision, "--", "stacks/"],  # noqa: S607 (PATH's git)
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout


def test_the_named_commit_is_in_this_repositorys_history_before_the_deploy_fixes():
    commit = commit_of("before-deploy-fixes")
    assert commit == NAMED["before-deploy-fixes"]
    # Its bucket policy's write-once deny has no multipart exemption; today's has (the demo shows the difference).
    assert mentions_of("s3:ObjectCreationOperation", commit) == ""
    assert mentions_of("s3:ObjectCreationOperation") != ""
