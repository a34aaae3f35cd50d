"""Fixtures for the token provider tests: the HTTPS token endpoint stand-in and a fake clock.

The stand-in itself lives in ``tests/oauth_standin.py`` (the provider tests reuse it as the
Graph and Gmail APIs too); its names are re-exported here for the tests that import them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.oauth_standin import TokenEndpoint, TokenRequest, serve_token_endpoint

__all__ = ["ClockFactory", "FakeClock", "TokenEndpoint", "TokenRequest"]


@pytest.fixture
def token_endpoint(tmp_path: Path) -> Iterator[TokenEndpoint]:
    with serve_token_endpoint(tmp_path) as endpoint:
        yield endpoint


class FakeClock:
    """An aware UTC clock that moves only when told."""

    def __init__(self) -> None:
        from datetime import datetime, timezone

        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClockFactory = Callable[[], FakeClock]
