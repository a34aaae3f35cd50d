"""``mailsdk outbox ...`` and ``mailsdk send-many --outbox`` against a counting relay.

The resume test runs the real command in its own process, interrupts it with SIGINT (what
Ctrl-C sends) while the relay holds a message, and runs it again: every row is delivered
exactly once.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailsdk import Message, Outbox
from mailsdk.cli import cli
from mailsdk.cli.outbox import parse_duration
from tests.integration.outbox_relay import CountingRelay

ROOT = Path(__file__).resolve().parents[2]
ENV = {"MAILSDK_URL": "", "MAILSDK_FROM": ""}


@pytest.fixture
def relay() -> Iterator[CountingRelay]:
    relay = CountingRelay().start()
    yield relay
    relay.stop()


def run(*args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--env-file", os.devnull, *args], env=ENV, catch_exceptions=False
    )


def message(n: int) -> Message:
    return Message(from_="a@example.com", to=[f"r{n}@example.com"], subject=f"#{n}", text="x")


def test_run_list_show_retry_and_purge(tmp_path: Path, relay: CountingRelay) -> None:
    db = tmp_path / "outbox.sqlite3"
    outbox = Outbox(db)
    ids = outbox.enqueue_many([message(n) for n in range(3)])
    later = outbox.enqueue(message(9), send_at=datetime.now(timezone.utc) + timedelta(days=1))

    done = run("outbox", "run", "--outbox", str(db), "--url", relay.url, "--concurrency", "2")
    assert done.exit_code == 0, done.output
    assert "3 sent" in done.output
    assert sum(relay.deliveries.values()) == 3

    listed = run("outbox", "list", "--outbox", str(db), "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["state"]) for r in rows] == [
        *((i, "sent") for i in ids),
        (later, "queued"),
    ]
    plain = run("outbox", "list", "--outbox", str(db), "--state", "queued")
    assert plain.stdout.split()[0:2] == [later, "queued"]
    assert "r9@example.com" in plain.stdout

    shown = run("outbox", "show", "--outbox", str(db), ids[0], "--message")
    data = json.loads(shown.stdout)
    assert data["state"] == "sent"
    assert data["recipients"] == {
        "r0@example.com": {"status": "accepted", "code": 250, "text": "OK queued"}
    }
    assert data["message"]["subject"] == "#0"
    assert run("outbox", "show", "--outbox", str(db), "nope").exit_code == 1

    refused = run("outbox", "retry", "--outbox", str(db), ids[0])
    assert refused.exit_code == 1
    assert "it is sent" in refused.output
    assert run("outbox", "retry", "--outbox", str(db), later).exit_code == 0
    assert outbox.get(later).next_attempt_at <= datetime.now(timezone.utc)  # type: ignore[union-attr]

    assert (
        "0 entries purged"
        in run("outbox", "purge", "--outbox", str(db), "--older-than", "7d").output
    )
    assert "3 entries purged" in run("outbox", "purge", "--outbox", str(db)).output
    assert outbox.counts()["sent"] == 0


def test_parse_duration() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("1.5h") == timedelta(minutes=90)


def _write_merge(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    people = tmp_path / "people.csv"
    with people.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        writer.writerows([f"p{n}@example.com", f"Person {n}"] for n in range(rows))
    template = tmp_path / "template.toml"
    template.write_text('subject = "Hello $name"\ntext = "Dear $name"\n')
    return people, template


def test_send_many_through_the_outbox_resumes_after_ctrl_c(tmp_path: Path) -> None:
    relay = CountingRelay(pause_at="mail", pause_after=10).start()
    try:
        people, template = _write_merge(tmp_path, 30)
        db = tmp_path / "outbox.sqlite3"
        command = [
            sys.executable,
            "-m",
            "mailsdk",
            "--env-file",
            os.devnull,
            "send-many",
            "--csv",
            str(people),
            "--template",
            str(template),
            "--from",
            "news@example.com",
            "--url",
            relay.url,
            "--concurrency",
            "1",
            "--outbox",
            str(db),
        ]
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        assert relay.paused.wait(60), "the first run never reached the eleventh message"
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert "run the same command again" in err
        assert sum(relay.deliveries.values()) == 10
        assert Outbox(db).counts() == {
            "queued": 20,
            "sending": 0,
            "sent": 10,
            "refused": 0,
            "failed": 0,
            "unknown": 0,
        }

        second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        assert "30 sent" in second.stdout
    finally:
        relay.stop()

    assert sum(relay.deliveries.values()) == 30
    assert set(relay.deliveries.values()) == {1}
    assert sorted(rcpts[0] for _, rcpts in relay.envelopes) == sorted(
        f"p{n}@example.com" for n in range(30)
    )
    with (tmp_path / "people-results.csv").open() as handle:
        results = list(csv.DictReader(handle))
    assert len(results) == 30
    assert {r["status"] for r in results} == {"sent"}


def test_check_probes_a_rate_limited_relay(relay: CountingRelay) -> None:
    checked = run("check", relay.url.replace("?", "?rate=5/s&"))
    assert checked.exit_code == 0, checked.output
    assert "8BITMIME" in checked.output.upper()
