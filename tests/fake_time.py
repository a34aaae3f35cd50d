"""A monotonic clock and a sleep that move only when the code under test sleeps."""

from __future__ import annotations


class FakeTime:
    """Call it (or its ``clock``) for the time; ``await sleep(s)`` moves it on and is logged."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
