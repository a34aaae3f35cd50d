"""The suite's own settings: Hypothesis keeps exploring, in CI too."""

from __future__ import annotations

import os

from hypothesis import settings


def test_hypothesis_is_not_derandomized() -> None:
    # Under CI=true Hypothesis would load its derandomizing "ci" profile; tests/conftest.py
    # replaces it, so every run tries new examples.
    assert not settings().derandomize
    if os.environ.get("CI"):
        assert settings.get_current_profile_name() == "mailsdk-ci"
        assert settings().database is None
