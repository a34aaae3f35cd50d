"""The outbox's guarantees, shown with real worker processes killed with SIGKILL.

Each test starts ``outbox_worker.py`` as its own process against a counting relay that stops
at one phase of the SMTP dialogue and signals; the test kills the worker there, then runs a
new worker whose clock is past the dead worker's lease. Every entry must end sent, refused,
failed or unknown; none lost, none stuck, and none delivered twice unless the user chose
at-least-once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailsdk import Message, Outbox, Sender
from mailsdk.retry import NO_RETRY
from tests.integration.outbox_relay import CountingRelay, Phase

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("outbox_worker.py")
LEASE = 60.0
FINAL = {"sent", "refused", "failed", "unknown"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _start_worker(db: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), url, "--lease", str(LEASE), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def _after_lease() -> datetime:
    """A clock past every lease the killed worker held: no test waits for it for real."""
    return datetime.now(timezone.utc) + timedelta(seconds=LEASE + 1)


def _message(n: int, *, big: bool = False) -> Message:
    text = ("x" * 76 + "\n") * (110_000 if big else 1)  # about 8 MB when big
    return Message(from_="a@example.com", to=[f"r{n}@example.com"], subject=f"#{n}", text=text)


@pytest.fixture
def relay_at(request: pytest.FixtureRequest) -> Iterator[type[CountingRelay]]:
    started: list[CountingRelay] = []

    class Started(CountingRelay):
        def __init__(self, pause_at: Phase | None = None) -> None:
            super().__init__(pause_at)
            started.append(self)
            self.start()

    yield Started
    for relay in started:
        relay.stop()


def _recover(db: Path, relay: CountingRelay, on_unknown: str = "fail") -> Outbox:
    outbox = Outbox(db, lease=LEASE, on_unknown=on_unknown, clock=_after_lease)  # type: ignore[arg-type]
    with Sender(relay.url, retry=NO_RETRY) as sender:
        outbox.run(sender, concurrency=4, poll_interval=0.05)
    return outbox


def _enqueue(db: Path, messages: list[Message]) -> tuple[Outbox, list[str]]:
    outbox = Outbox(db, lease=LEASE)
    return outbox, outbox.enqueue_many(messages)


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("ehlo", "sent"),  # killed before MAIL FROM
        ("mail", "sent"),  # killed while MAIL FROM waits for its reply
        ("rcpt", "sent"),  # killed after RCPT TO
        ("data", "sent"),  # killed in the middle of DATA, before the final dot
        ("dot", "unknown"),  # killed after the final dot, before the relay's reply
    ],
)
def test_a_worker_killed_at_each_phase_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, relay_at: type[CountingRelay], phase: Phase, expected: str
) -> None:
    relay = relay_at(phase)
    db = tmp_path / "outbox.sqlite3"
    first = _message(0, big=phase == "data")
    outbox, ids = _enqueue(db, [first, _message(1), _message(2)])
    worker = _start_worker(db, relay.url, "--concurrency", "1")
    try:
        assert relay.paused.wait(60), "the worker never reached the phase"
        assert outbox.get(ids[0]).state == "sending"  # type: ignore[union-attr]
    finally:
        _kill(worker)

    recovered = _recover(db, relay)

    entries = {i: recovered.get(i) for i in ids}
    assert all(e is not None and e.state in FINAL for e in entries.values())
    first_entry = entries[ids[0]]
    assert first_entry is not None
    assert first_entry.state == expected, first_entry.error
    assert [entries[i].state for i in ids[1:]] == ["sent", "sent"]  # type: ignore[union-attr]
    # Exactly one delivery per entry: the unknown one was received once and never re-sent.
    assert sorted(relay.deliveries.values()) == [1, 1, 1]
    assert set(relay.deliveries) == {e.message_id for e in entries.values()}  # type: ignore[union-attr]
    if expected == "unknown":
        assert first_entry.handover == "handed_over"
        assert "may have been delivered" in (first_entry.error or "")


def test_a_worker_killed_between_the_reply_and_the_state_update_leaves_unknown(
    tmp_path: Path, relay_at: type[CountingRelay]
) -> None:
    relay = relay_at(None)
    db = tmp_path / "outbox.sqlite3"
    _outbox, (entry_id,) = _enqueue(db, [_message(0)])
    worker = _start_worker(db, relay.url, "--hold-before-store")
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "READY"
        assert worker.stdout.readline().strip() == "HOLDING"
    finally:
        _kill(worker)
    assert sum(relay.deliveries.values()) == 1

    recovered = _recover(db, relay)

    entry = recovered.get(entry_id)
    assert entry is not None
    assert entry.state == "unknown"
    assert sum(relay.deliveries.values()) == 1  # never re-sent


def test_at_least_once_resends_an_unknown_entry_with_the_same_message_id(
    tmp_path: Path, relay_at: type[CountingRelay]
) -> None:
    relay = relay_at("dot")
    db = tmp_path / "outbox.sqlite3"
    _outbox, (entry_id,) = _enqueue(db, [_message(0)])
    worker = _start_worker(db, relay.url)
    try:
        assert relay.paused.wait(60)
    finally:
        _kill(worker)

    recovered = _recover(db, relay, on_unknown="retry")

    entry = recovered.get(entry_id)
    assert entry is not None
    assert entry.state == "sent"
    assert entry.attempts == 2
    assert relay.deliveries == {entry.message_id: 2}  # the receiver can de-duplicate


def test_enqueue_is_durable_when_it_returns(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite3"
    Outbox(db)  # created before the child starts writing
    child = _start_worker(db, "smtp://127.0.0.1:9?tls=none", "--enqueue", "1000000")
    returned: list[str] = []
    try:
        assert child.stdout is not None
        while len(returned) < 300:
            returned.append(child.stdout.readline().strip())
    finally:
        _kill(child)
    assert child.stdout is not None
    returned.extend(line.strip() for line in child.stdout if line.endswith("\n"))

    outbox = Outbox(db)
    stored = {e.id for e in outbox.entries()}
    assert set(returned) <= stored
    assert all(e.state == "queued" for e in outbox.entries())


def test_four_worker_processes_deliver_each_entry_exactly_once(
    tmp_path: Path, relay_at: type[CountingRelay]
) -> None:
    relay = relay_at(None)
    db = tmp_path / "outbox.sqlite3"
    outbox, ids = _enqueue(db, [_message(n) for n in range(200)])

    workers = [_start_worker(db, relay.url, "--concurrency", "4") for _ in range(4)]
    outputs = [w.communicate(timeout=120)[0] for w in workers]

    assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs
    assert outbox.counts()["sent"] == 200
    message_ids = {outbox.get(i).message_id for i in ids}  # type: ignore[union-attr]
    assert set(relay.deliveries) == message_ids
    assert set(relay.deliveries.values()) == {1}
    assert all(e.attempts == 1 for e in outbox.entries())
