"""The repository holds our code only: third-party packages are installed, not committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.fail("the repository checks need git and a checkout")
    return subprocess.run([git, *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_no_node_modules_are_tracked() -> None:
    tracked = [p for p in _git("ls-files").splitlines() if "node_modules/" in p]
    assert tracked == []


def test_the_nodemailer_install_folder_is_ignored() -> None:
    ignored = _git("check-ignore", "benchmarks/node/node_modules/nodemailer/package.json")
    assert ignored.strip() == "benchmarks/node/node_modules/nodemailer/package.json"


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci_lines[ci_lines.index("# The README's test command, verbatim:") + 1]
    assert f"```bash\n{command}\n```" in readme


def test_the_readme_sets_up_a_virtualenv_before_installing() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    venv = readme.index("python3 -m venv .venv && . .venv/bin/activate")
    assert venv < readme.index("python3 -m pip install -e '.[devserver]'")
