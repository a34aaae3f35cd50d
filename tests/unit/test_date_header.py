"""The Date a prepared message carries is format_datetime of the current second, UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from mailsdk import Message, OutgoingMessage
from mailsdk import outgoing as outgoing_module


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_the_date_names_the_current_second_even_when_kept_between_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock(1_780_000_000.999)
    monkeypatch.setattr(outgoing_module, "time", clock)
    monkeypatch.setattr(outgoing_module, "_last_date", (-1, ""))
    message = Message(from_="a@example.com", to="b@example.com", subject="s", text="t")
    dates = []
    for now in (1_780_000_000.999, 1_780_000_000.0, 1_780_000_001.0, 1_780_000_001.5, 5.25):
        clock.now = now
        dates.append(OutgoingMessage(message).date)
        expected = format_datetime(datetime.fromtimestamp(int(now), timezone.utc))
        assert dates[-1] == expected
    assert dates[0] == dates[1] != dates[2] == dates[3] != dates[4]
    assert dates[4] == "Thu, 01 Jan 1970 00:00:05 +0000"
    assert dates[0] == "Thu, 28 May 2026 20:26:40 +0000"
