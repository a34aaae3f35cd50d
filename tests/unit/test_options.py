"""SenderOptions: one options object, validated once, that every builder of senders uses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mailsdk import ConfigurationError, RetryPolicy, Sender, SenderOptions
from mailsdk.settings import MailSettings

PACKAGE = Path(__file__).resolve().parents[2] / "mailsdk"


def test_deadline_overrides_the_retry_policys() -> None:
    options = SenderOptions("memory://", retry=RetryPolicy(attempts=2), deadline=7)
    assert options.retry_policy() == RetryPolicy(attempts=2, deadline=7)
    assert SenderOptions("memory://", deadline=3).retry_policy() == RetryPolicy(deadline=3)
    assert SenderOptions("memory://").retry_policy() is None  # the senders' default


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"strategy": "random"}, "strategy"),
        ({"cooldown": -1}, "cooldown"),
        ({"cooldown": "soon"}, "seconds"),
        ({"deadline": 0}, "deadline"),
        ({"retry": {"attempts": 2}}, "RetryPolicy"),
        ({"on_event": "not callable"}, "on_event"),
    ],
)
def test_bad_options_are_configuration_errors(changes: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        SenderOptions("memory://", **changes)  # type: ignore[arg-type]


def test_a_sender_is_built_from_options() -> None:
    options = SenderOptions(["memory://a", "memory://b"], strategy="round_robin", cooldown=2)
    with Sender.from_options(options) as sender:
        transport = sender.async_sender.transport
        assert type(transport).__name__ == "RoundRobinTransport"
        assert transport.cooldown == 2.0  # type: ignore[attr-defined]


def test_options_from_settings() -> None:
    settings = MailSettings.load(
        config_file=False, env_file=None, url=["memory://"], retry_attempts=5, cooldown=4
    )
    options = SenderOptions.from_settings(settings, deadline=9)
    assert options.retry == RetryPolicy(attempts=5)
    assert options.cooldown == 4.0
    assert options.retry_policy() == RetryPolicy(attempts=5, deadline=9)


def test_strategy_is_declared_once() -> None:
    declared = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "Strategy" for t in targets):
                    declared.append(path.relative_to(PACKAGE).as_posix())
    assert declared == ["options.py"]
