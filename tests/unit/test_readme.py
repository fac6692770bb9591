"""The README is the front door: short, every top-level folder's job named, every link alive, and no
generated results in it (they go to docs/results.md and reports/)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def top_level_folders() -> set[str]:
    tracked = subprocess.run(
        ["git", "ls-files"],  # noqa: S607 (git from PATH, read-only)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {path.split("/", 1)[0] for path in tracked if "/" in path and not path.startswith(".")}


def test_the_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200


def test_the_readme_names_the_job_of_every_top_level_folder():
    table = README[README.index("## The folders") :]
    assert [folder for folder in sorted(top_level_folders()) if f"`{folder}/" not in table] == []


def test_every_relative_link_in_the_readme_resolves():
    links = re.findall(r"\]\(((?!https?://)[^)#]+)(?:#[^)]*)?\)", README)
    assert links and [link for link in links if not (ROOT / link).exists()] == []


def test_no_generated_results_in_the_readme():
    assert "<!-- results:" not in README and "<!-- compare:" not in README


def test_the_readme_shows_the_review_pages_note_view():
    assert "](docs/images/note-view.png)" in README and (ROOT / "docs/images/note-view.png").stat().st_size > 0
