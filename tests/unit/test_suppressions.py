"""The suppression list: editable, fed by webhook events and 5.1.x refusals, in SQLite."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailsdk.cli import cli
from mailsdk.errors import RecipientsRefused
from mailsdk.result import SendResult
from mailsdk.suppressions import Suppressions, normalize_address
from mailsdk.webhooks import DeliveryEvent

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Suppressions:
    with Suppressions(tmp_path / "mail.sqlite3", clock=lambda: T0) as s:
        yield s


def test_add_check_remove_entries(store: Suppressions) -> None:
    entry = store.add(" <Jane@Example.COM> ", "hard_bounce", "sendgrid", detail="550 5.1.1")
    assert (entry.address, entry.reason, entry.source, entry.since) == (
        "jane@example.com",
        "hard_bounce",
        "sendgrid",
        T0,
    )
    assert store.check("JANE@example.com") == entry
    assert store.check("jane@example.org") is None
    again = store.add("jane@example.com", "complaint", "postmark", since=T0 + timedelta(days=1))
    assert again == entry  # the first reason and time are kept
    assert [e.address for e in store.entries()] == ["jane@example.com"]
    assert len(store) == 1
    assert store.remove("Jane@EXAMPLE.com") is True
    assert store.remove("jane@example.com") is False
    assert store.check("jane@example.com") is None
    assert (
        entry.describe()
        == "suppressed since 2026-01-02T03:04:05+00:00 (hard_bounce from sendgrid): 550 5.1.1"
    )


def test_normalisation_and_bad_addresses() -> None:
    assert normalize_address("user@BÜCHER.example") == "user@xn--bcher-kva.example"
    assert normalize_address("a@Example.com.") == "a@example.com"
    for bad in ("", "no-at-sign", "@example.com", "user@"):
        with pytest.raises(ValueError, match="not an email address"):
            normalize_address(bad)


def event(
    kind: str,
    recipient: str,
    bounce_type: str | None = None,
    event_id: str | None = None,
    provider: str = "mailgun",
) -> DeliveryEvent:
    return DeliveryEvent(
        kind=kind,
        recipient=recipient,
        provider=provider,
        timestamp=T0 - timedelta(hours=1),
        bounce_type=bounce_type,
        event_id=event_id,
        code="550",
        reason="no such user",
    )  # type: ignore[arg-type]


def test_record_suppresses_hard_bounces_complaints_and_unsubscribes_only(
    store: Suppressions,
) -> None:
    added = store.record(
        [
            event("bounced", "hard@example.com", "hard", "e1"),
            event("bounced", "soft@example.com", "soft", "e2"),
            event("complained", "spam@example.com", None, "e3"),
            event("unsubscribed", "bye@example.com", None, "e4"),
            event("delivered", "ok@example.com", None, "e5"),
            event("deferred", "later@example.com", None, "e6"),
            event("bounced", "not-an-address", "hard", "e7"),
        ]
    )
    assert sorted((e.address, e.reason) for e in added) == [
        ("bye@example.com", "unsubscribe"),
        ("hard@example.com", "hard_bounce"),
        ("spam@example.com", "complaint"),
    ]
    hard = store.check("hard@example.com")
    assert hard is not None
    assert hard.since == T0 - timedelta(hours=1)
    assert hard.detail == "550 no such user"
    assert store.seen("mailgun", ["e1", "e7", "e8"]) == {"e1", "e7"}
    assert store.seen("sendgrid", ["e1"]) == set()
    assert store.record([event("bounced", "hard@example.com", "hard", "e9")]) == []


def test_seen_event_ids_are_forgotten_after_a_week(tmp_path: Path) -> None:
    now = [T0]
    with Suppressions(tmp_path / "s.db", clock=lambda: now[0]) as store:
        store.record([event("opened", "a@example.com", None, "old")])
        now[0] = T0 + timedelta(days=8)
        store.record([event("opened", "a@example.com", None, "new")])
        assert store.seen("mailgun", ["old", "new"]) == {"new"}


def test_smtp_refusals_with_5_1_codes_are_suppressed(store: Suppressions) -> None:
    result = SendResult(
        message_id="<m@example.com>",
        relay="smtp://relay.example.com:587",
        accepted=["ok@example.com"],
        refused={
            "gone@example.com": (
                550,
                "5.1.1 <gone@example.com>: Recipient address rejected: User unknown",
            ),
            "nodomain@nowhere.invalid": (550, "5.1.2 Host unknown"),
            "policy@example.com": (550, "5.7.1 Relaying denied"),
            "full@example.com": (552, "5.2.2 Mailbox full"),
            "later@example.com": (450, "4.1.1 try later"),
            "bare@example.com": (550, "No such user"),
        },
    )
    added = store.record_refusals(result)
    assert sorted(e.address for e in added) == ["gone@example.com", "nodomain@nowhere.invalid"]
    entry = store.check("gone@example.com")
    assert entry is not None
    assert (entry.reason, entry.source) == (
        "smtp_refusal",
        "smtp://relay.example.com:587",
    )
    assert entry.detail is not None
    assert entry.detail.startswith("550 5.1.1")
    error = RecipientsRefused({"x@example.com": (550, "5.1.10 Recipient not found")}, relay="r")
    assert [e.address for e in store.record_refusals(error)] == ["x@example.com"]
    assert store.record_refusals(error) == []


def test_the_file_can_be_shared_and_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "mail.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body BLOB)")
    other.commit()
    with Suppressions(path) as one, Suppressions(path) as two:
        one.add("a@example.com")
        assert two.check("a@example.com") is not None
    other.close()
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"outbox", "mailsdk_suppressions", "mailsdk_webhook_events"} <= tables
    other.close()


def test_concurrent_writers_in_threads(store: Suppressions) -> None:
    def work(n: int) -> None:
        for i in range(50):
            store.add(f"user{n}-{i}@example.com")
            store.check(f"user{n}-{i}@example.com")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 200


def test_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "mail.sqlite3")
    runner = CliRunner()

    def suppressions(*args: str, exit_code: int = 0) -> str:
        """``mailsdk suppressions ARGS --db DB``'s output, once it exited with *exit_code*."""
        result = runner.invoke(cli, ["suppressions", *args, "--db", db])
        assert result.exit_code == exit_code, result.output
        return result.output

    assert "no such database" in suppressions("list", exit_code=1)
    added = suppressions("add", "Jane@Example.com", "bob@example.com", "--reason", "complaint")
    assert "jane@example.com\tcomplaint\tcli" in added
    listed = suppressions("list", "--json")
    assert [line.count('"address"') for line in listed.splitlines()] == [1, 1]
    assert "suppressed since" in suppressions("check", "JANE@example.com", exit_code=2)
    assert "not suppressed" in suppressions("check", "carol@example.com")
    suppressions("remove", "jane@example.com")
    assert "not suppressed" in suppressions("remove", "jane@example.com", exit_code=1)
    assert "not an email address" in suppressions("add", "nobody", exit_code=1)
    env = runner.invoke(cli, ["suppressions", "list"], env={"MAILSDK_SUPPRESSIONS_DB": db})
    assert env.output.startswith("bob@example.com")


def test_a_closed_file_list_reopens_on_next_use(tmp_path: Path) -> None:
    store = Suppressions(tmp_path / "s.sqlite3")
    store.add("bob@example.com", "hard_bounce", "test")
    store.close()
    store.close()  # twice is fine
    entry = store.check("bob@example.com")
    assert entry is not None
    assert entry.reason == "hard_bounce"
    store.close()


def test_a_closed_in_memory_list_is_not_silently_emptied() -> None:
    store = Suppressions(":memory:")
    store.add("bob@example.com", "hard_bounce", "test")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.check("bob@example.com")
