"""The Django tests again under Django 6.1, which needs Python 3.12 or later.

The main run uses the project's Python (3.11 here) and so Django 5.2 LTS; this test builds a
Python 3.12 virtual environment with Django 6.1 and runs the Django test files in it, so the
6.1 ``MAILERS`` support is exercised on every run, CI included. (``nox -s "django(6.1)"`` is
the same by hand.)
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_FILES = [
    "tests/integrations/test_django_backend.py",
    "tests/integrations/test_django_mailers.py",
]


def _python312() -> str | None:
    # pyenv's versions first: its python3.12 shim on PATH fails unless 3.12 is selected.
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python3"))
    found = shutil.which("python3.12")
    for python in [*candidates, *([found] if found else [])]:
        works = subprocess.run([python, "--version"], capture_output=True, check=False)
        if works.returncode == 0:
            return python
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this interpreter runs Django 6.x itself")
def test_django_61_suite(tmp_path: Path) -> None:
    python = _python312()
    if python is None:
        reason = "no Python 3.12+ interpreter found for the Django 6.1 run"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    bin_python = str(venv / "bin" / "python")
    install = subprocess.run(
        [
            bin_python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            f"{ROOT}[devserver]",
            "django~=6.1.0",
            "pytest>=8",
            "pytest-asyncio>=0.23",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run(
        [bin_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *TEST_FILES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    version = subprocess.run(
        [bin_python, "-c", "import django; print(django.get_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("6.1"), version
    # Every Django test ran under 6.1: none skipped, in particular not the MAILERS ones.
    assert " skipped" not in output.splitlines()[-1], output[-2000:]
    assert " passed" in output.splitlines()[-1]
