"""Fixtures for interop tests against a real Postfix and smtp-sink.

Rule: interop tests must not skip silently in CI.  When ``CI`` is set (to anything but
"", "0", "false" or "no") and a peer is unavailable or fails to start, the fixture
fails with the reason; otherwise it skips with the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

_HERE = Path(__file__).resolve().parent
_REPO_ROOT = _HERE.parents[1]

try:
    import tests.peers  # noqa: F401
except ImportError:  # plain `pytest` (unlike `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(_REPO_ROOT))

from tests.peers.postfix import PostfixPeer, postfix_unavailable_reason, start_postfix  # noqa: E402
from tests.peers.smtp_sink import (  # noqa: E402
    SMTP_SINK,
    SmtpSink,
    smtp_sink_available,
    start_smtp_sink,
)

SmtpSinkFactory = Callable[..., SmtpSink]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def peer_unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"interop peer unavailable in CI (CI is set): {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item of the session, not only those in this directory.
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def postfix_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostfixPeer]:
    """A private Postfix (submission/STARTTLS+AUTH, implicit TLS+AUTH, plain) for the session.

    Tests share it; call ``postfix_peer.clear()`` before counting delivered messages.
    """
    reason = postfix_unavailable_reason()
    if reason is not None:
        peer_unavailable(reason)
    try:
        peer = start_postfix(tmp_path_factory.mktemp("postfix"))
    except Exception as exc:
        peer_unavailable(f"private Postfix failed to start: {exc}")
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def smtp_sink_factory(tmp_path: Path) -> Iterator[SmtpSinkFactory]:
    """``start(flags, **kwargs) -> SmtpSink``; every sink started is stopped after the test."""
    if not smtp_sink_available():
        peer_unavailable(f"{SMTP_SINK} not found (package postfix; run scripts/setup-dev.sh)")
    sinks: list[SmtpSink] = []

    def start(flags: Sequence[str] = (), **kwargs: object) -> SmtpSink:
        kwargs.setdefault("workdir", tmp_path)
        try:
            sink = start_smtp_sink(flags, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            peer_unavailable(f"smtp-sink {' '.join(flags)} failed to start: {exc}")
        sinks.append(sink)
        return sink

    try:
        yield start
    finally:
        for sink in sinks:
            sink.stop()
