"""A test process with no mailsdk configuration of its own: no ``MAILSDK_*`` variables and a
working directory without ``.env`` or ``mailsdk.toml``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def no_mailsdk_env(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    """Remove every ``MAILSDK_*`` variable (restored after the test) and work in *workdir*."""
    monkeypatch.chdir(workdir)
    # Set first, so that monkeypatch also removes a MAILSDK_FROM that from_env exports later.
    monkeypatch.setenv("MAILSDK_FROM", "")
    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)
