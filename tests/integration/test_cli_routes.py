"""``mailsdk send --route`` and ``mailsdk send-many --route`` (with and without --outbox),
routes from the environment and mailsdk.toml, against two in-process relays."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mailsdk import Outbox
from mailsdk.devserver import LocalRelay
from tests.cli_runner import run
from tests.env import no_mailsdk_env

RelayFactory = Callable[..., LocalRelay]
SEND = ("send", "--from", "app@example.com", "--to", "alice@example.com", "--text", "hi")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_mailsdk_env(monkeypatch, tmp_path)
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "1")


@pytest.fixture
def relays(relay_factory: RelayFactory) -> tuple[LocalRelay, LocalRelay]:
    return relay_factory(tls="none", users={}), relay_factory(tls="none", users={})


def test_send_through_a_route_from_the_environment(
    relays: tuple[LocalRelay, LocalRelay], monkeypatch: pytest.MonkeyPatch
) -> None:
    main, bulk = relays
    monkeypatch.setenv("MAILSDK_URL", main.url())
    monkeypatch.setenv("MAILSDK_ROUTE_BULK", bulk.url())

    routed = run(*SEND, "--subject", "routed", "--route", "Bulk", "--json")
    assert routed.exit_code == 0, routed.stderr
    assert json.loads(routed.stdout)["relay"].endswith(f":{bulk.port}")
    plain = run(*SEND, "--subject", "plain")
    assert plain.exit_code == 0, plain.stderr

    assert [m.rcpt_tos for m in bulk.wait_for(1)] == [["alice@example.com"]]
    assert len(main.wait_for(1)) == 1
    assert b"Subject: routed" in bulk.messages[0].data
    assert b"Subject: plain" in main.messages[0].data


def test_an_unknown_route_exits_1_before_sending(
    relays: tuple[LocalRelay, LocalRelay], monkeypatch: pytest.MonkeyPatch
) -> None:
    main, _ = relays
    monkeypatch.setenv("MAILSDK_URL", main.url())
    result = run(*SEND, "--subject", "x", "--route", "bulk")
    assert result.exit_code == 1
    assert "unknown route 'bulk' (routes: none configured)" in result.stderr
    assert run(*SEND, "--subject", "x", "--route", " ").exit_code == 1
    assert main.messages == []


def _merge_files(tmp_path: Path) -> tuple[Path, Path]:
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.com,Ann\nbo@example.com,Bo\n", encoding="utf-8")
    template = tmp_path / "t.toml"
    template.write_text('subject = "Hi $name"\ntext = "Hello $name"\n', encoding="utf-8")
    return people, template


def _send_many_bulk(tmp_path: Path, *extra: str) -> Result:
    """``mailsdk send-many --route bulk`` over the two-row merge in *tmp_path*."""
    people, template = _merge_files(tmp_path)
    return run(
        "send-many",
        "--csv",
        str(people),
        "--template",
        str(template),
        "--from",
        "news@example.com",
        "--route",
        "bulk",
        *extra,
    )


@pytest.mark.parametrize("through_outbox", [False, True])
def test_send_many_through_a_route_from_the_toml_file(
    relays: tuple[LocalRelay, LocalRelay], tmp_path: Path, through_outbox: bool
) -> None:
    main, bulk = relays
    Path("mailsdk.toml").write_text(
        f'url = "{main.url()}"\n[routes]\nbulk = "{bulk.url()}"\n', encoding="utf-8"
    )
    db = tmp_path / "outbox.sqlite3"
    extra = ("--outbox", str(db)) if through_outbox else ()
    result = _send_many_bulk(tmp_path, *extra)
    assert result.exit_code == 0, result.stderr
    assert sorted(r for m in bulk.wait_for(2) for r in m.rcpt_tos) == [
        "ann@example.com",
        "bo@example.com",
    ]
    assert main.messages == []
    with (tmp_path / "people-results.csv").open(encoding="utf-8") as handle:
        relays_used = {row["relay"] for row in csv.DictReader(handle)}
    assert [r.rsplit(":", 1)[1] for r in relays_used] == [str(bulk.port)]
    if through_outbox:
        assert {e.route for e in Outbox(db).entries()} == {"bulk"}


def test_send_many_with_an_unknown_route_queues_nothing(
    relays: tuple[LocalRelay, LocalRelay], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main, _ = relays
    monkeypatch.setenv("MAILSDK_URL", main.url())
    db = tmp_path / "outbox.sqlite3"
    result = _send_many_bulk(tmp_path, "--outbox", str(db))
    assert result.exit_code == 1
    assert "unknown route 'bulk'" in result.stderr
    assert not db.exists() or list(Outbox(db).entries()) == []
    assert main.messages == []
