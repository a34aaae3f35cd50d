"""Outbox entries remember their sender route; the worker sends each through it.

Schema 1 files (written before routes existed) are migrated in place and stay readable."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailsdk import MemoryTransport, Message, MessageError, Outbox, Sender

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

# The outbox schema as mailsdk wrote it before routes (user_version 1), verbatim.
_SCHEMA_1 = """
CREATE TABLE entries (
    id TEXT PRIMARY KEY, key TEXT UNIQUE, state TEXT NOT NULL, message_id TEXT NOT NULL,
    date TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL, updated_at REAL NOT NULL, lease_owner TEXT,
    lease_until REAL, handover TEXT, recipients TEXT, result TEXT, error TEXT
);
CREATE TABLE messages (entry_rowid INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE INDEX entries_due ON entries (state, next_attempt_at);
PRAGMA user_version = 1;
"""


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def message(n: int = 0) -> Message:
    return Message(from_="alice@example.com", to=["bob@example.com"], subject=f"#{n}", text="hi")


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", clock=Clock())


def test_enqueue_stores_the_route(outbox: Outbox) -> None:
    bulk = outbox.enqueue(message(1), route="bulk")
    main = outbox.enqueue(message(2))
    many = outbox.enqueue_many([message(3), message(4)], route="transactional", keys=["a", None])

    assert outbox.get(bulk).route == "bulk"  # type: ignore[union-attr]
    assert outbox.get(main).route is None  # type: ignore[union-attr]
    assert [outbox.get(i).route for i in many] == ["transactional"] * 2  # type: ignore[union-attr]
    assert [e.route for e in outbox.entries()] == [
        "bulk",
        None,
        "transactional",
        "transactional",
    ]


@pytest.mark.parametrize("bad", ["", "  ", 5])
def test_a_bad_route_name_is_refused_before_storing(outbox: Outbox, bad: object) -> None:
    with pytest.raises(MessageError, match="route"):
        outbox.enqueue(message(), route=bad)  # type: ignore[arg-type]
    assert outbox.counts()["queued"] == 0


def test_the_worker_sends_each_entry_through_its_route(outbox: Outbox) -> None:
    main, bulk, transactional = (MemoryTransport(f"memory://{n}") for n in ("main", "b", "t"))
    outbox.enqueue(message(1), route="bulk")
    outbox.enqueue(message(2))
    outbox.enqueue(message(3), route="transactional")
    outbox.enqueue(message(4), route="bulk")

    with Sender(main, routes={"bulk": bulk, "transactional": transactional}) as sender:
        stats = outbox.run(sender, poll_interval=0.01)

    assert stats.sent == 4
    assert [m.message.subject for m in main.outbox] == ["#2"]
    assert sorted(m.message.subject for m in bulk.outbox) == ["#1", "#4"]
    assert [m.message.subject for m in transactional.outbox] == ["#3"]
    assert {e.result.relay for e in outbox.entries() if e.route == "bulk"} == {"memory://b"}  # type: ignore[union-attr]


def test_a_route_the_sender_lacks_keeps_the_entry_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    outbox = Outbox(tmp_path / "o.sqlite3", clock=clock, max_age=timedelta(hours=1))
    entry_id = outbox.enqueue(message(), route="bulk")
    main = MemoryTransport()

    with Sender(main) as sender, caplog.at_level(logging.ERROR, "mailsdk.outbox"):
        stats = outbox.run(sender, poll_interval=0.01)

    entry = outbox.get(entry_id)
    assert entry is not None
    assert (stats.requeued, stats.failed, entry.state) == (1, 0, "queued")
    assert entry.error is not None
    assert "ConfigurationError: unknown route 'bulk'" in entry.error
    assert entry.next_attempt_at > START
    assert "unknown route 'bulk'" in caplog.text
    assert main.outbox == []  # never sent through the main relays instead

    # Fixing the sender's routes sends it at the next attempt.
    bulk = MemoryTransport("memory://bulk")
    clock.now = entry.next_attempt_at
    with Sender(main, routes={"bulk": bulk}) as sender:
        assert outbox.run(sender, poll_interval=0.01).sent == 1
    assert len(bulk.outbox) == 1
    assert outbox.get(entry_id).state == "sent"  # type: ignore[union-attr]


def test_an_unfixed_route_ends_failed_after_max_age(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(
        tmp_path / "o.sqlite3", clock=clock, max_age=timedelta(minutes=30), min_backoff=60
    )
    entry_id = outbox.enqueue(message(), route="bulk")
    main = MemoryTransport()
    while (entry := outbox.get(entry_id)) is not None and entry.state == "queued":
        clock.now = entry.next_attempt_at
        outbox.run(main, poll_interval=0.01)  # a bare transport has no routes at all

    assert entry is not None
    assert entry.state == "failed"
    assert entry.error is not None
    assert "max_age reached" in entry.error
    assert "which has no routes" in entry.error
    assert main.outbox == []


def test_a_schema_1_outbox_is_migrated_and_its_entries_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_1)
        db.execute(
            "INSERT INTO entries (rowid, id, key, state, message_id, date, created_at, "
            "next_attempt_at, updated_at) VALUES (1, 'e1', 'k1', 'queued', '<e1@example.com>', "
            "'Sun, 01 Mar 2026 12:00:00 +0000', ?, ?, ?)",
            (START.timestamp(),) * 3,
        )
        db.execute(
            "INSERT INTO messages (entry_rowid, body) VALUES (1, ?)",
            (message(7).model_dump_json(),),
        )
    db.close()

    outbox = Outbox(path, clock=Clock())

    old = outbox.get("k1")
    assert old is not None
    assert (old.id, old.state, old.route, old.message.subject) == ("e1", "queued", None, "#7")
    new = outbox.enqueue(message(8), route="bulk")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = [row[1] for row in db.execute("PRAGMA table_info(entries)")]
    db.close()
    assert columns[-1] == "route"
    main, bulk = MemoryTransport("memory://main"), MemoryTransport("memory://bulk")
    with Sender(main, routes={"bulk": bulk}) as sender:
        assert outbox.run(sender, poll_interval=0.01).sent == 2
    assert [m.message_id for m in main.outbox] == ["<e1@example.com>"]
    assert [m.message.subject for m in bulk.outbox] == ["#8"]
    assert outbox.get(new).route == "bulk"  # type: ignore[union-attr]
    # Opening it again does not migrate twice.
    assert Outbox(path).get("e1").state == "sent"  # type: ignore[union-attr]
