"""The ``mailsdk`` command against in-process relays (aiosmtpd with trustme TLS), via CliRunner.

Every test runs in an empty temporary directory with the MAILSDK_* variables removed, and
asserts the exit code the documentation promises: 0 sent, 1 bad input, 2 permanently
refused, 3 every relay failed, 4 delivery unknown.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import click
import keyring
import keyring.backends.fail
import pytest
from click.testing import Result

from mailsdk import Message, SMTPTransport
from mailsdk.cli import cli
from mailsdk.devserver import LocalRelay
from mailsdk.mime import OutgoingMessage
from tests.cli_runner import run
from tests.conftest import PASSWORD, USER
from tests.env import no_mailsdk_env
from tests.integration.faulty_relays import silent_relay
from tests.keyrings import MemoryKeyring

RelayFactory = Callable[..., LocalRelay]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_mailsdk_env(monkeypatch, tmp_path)
    # One try per relay keeps failure tests fast; retries have their own tests.
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "1")


def parsed(data: bytes) -> EmailMessage:
    return cast(EmailMessage, message_from_bytes(data, policy=email_policy.default))


@pytest.fixture
def relay(relay_factory: RelayFactory) -> LocalRelay:
    return relay_factory(tls="starttls", require_auth=True)


@pytest.fixture
def url(relay: LocalRelay) -> str:
    return relay.url(USER, PASSWORD)


SEND = ("send", "--from", "Reports <reports@example.com>", "--to", "alice@example.com")


# -- send ------------------------------------------------------------------------------------


def test_send_reads_the_text_from_stdin(relay: LocalRelay, url: str) -> None:
    result = run(*SEND, "--url", url, "--subject", "Nightly", "--text", "-", input="all good\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("sent <")
    assert "accepted: alice@example.com" in result.stdout
    received = relay.wait_for(1)[0]
    message = parsed(received.data)
    assert message["Subject"] == "Nightly"
    assert message.get_content().strip() == "all good"
    assert received.login == USER


def test_send_with_every_part(relay: LocalRelay, url: str, tmp_path: Path) -> None:
    Path("body.txt").write_text("See attached.\n", encoding="utf-8")
    Path("body.html").write_text("<p>See <b>attached</b>.</p>", encoding="utf-8")
    Path("report.csv").write_text("day,sent\nmon,1\n", encoding="utf-8")
    result = run(
        *SEND,
        "--url",
        url,
        "--cc",
        "carol@example.com",
        "--bcc",
        "audit@example.com",
        "--reply-to",
        "Support <support@example.com>",
        "--subject",
        "Report",
        "--text-file",
        "body.txt",
        "--html-file",
        "body.html",
        "--attach",
        "report.csv",
        "--header",
        "X-Job: nightly",
    )
    assert result.exit_code == 0, result.stderr
    received = relay.wait_for(1)[0]
    assert sorted(received.rcpt_tos) == [
        "alice@example.com",
        "audit@example.com",
        "carol@example.com",
    ]
    message = parsed(received.data)
    assert message["Bcc"] is None  # only in the envelope
    assert message["Reply-To"] == "Support <support@example.com>"
    assert message["X-Job"] == "nightly"
    kinds = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    assert kinds == ["text/plain", "text/html", "text/csv"]


def test_send_json_prints_the_send_result(url: str) -> None:
    result = run(*SEND, "--url", url, "--subject", "J", "--text", "-", "--json", input="x")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["accepted"] == ["alice@example.com"]
    assert data["refused"] == {}
    assert data["message_id"].startswith("<")
    assert data["attempts"][-1]["outcome"] == "delivered"
    assert data["attempts"][-1]["code"] == 250


def test_dry_run_prints_the_mime_and_sends_nothing(relay: LocalRelay, url: str) -> None:
    Path("a.txt").write_text("attached text", encoding="utf-8")
    result = run(*SEND, "--url", url, "--subject", "Dry", "--attach", "a.txt", "--dry-run")
    assert result.exit_code == 0, result.stderr
    message = parsed(result.stdout_bytes)
    assert message["Subject"] == "Dry"
    assert message["To"] == "alice@example.com"
    assert [p.get_filename() for p in message.iter_attachments()] == ["a.txt"]
    time.sleep(0.1)
    assert relay.messages == []


def test_dry_run_needs_no_relay() -> None:
    result = run(*SEND, "--subject", "No relay", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert b"Subject: No relay" in result.stdout_bytes


def test_relay_and_sender_from_the_environment_and_dotenv(
    relay: LocalRelay, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(".env").write_text("MAILSDK_FROM=Env Sender <env@example.com>\n", encoding="utf-8")
    monkeypatch.setenv("MAILSDK_URL", url)
    result = run("send", "--to", "bob@example.com", "--subject", "env")
    assert result.exit_code == 0, result.stderr
    assert parsed(relay.wait_for(1)[0].data)["From"] == "Env Sender <env@example.com>"


def test_a_relay_name_from_the_config_file(relay: LocalRelay, url: str) -> None:
    Path("mail.toml").write_text(f'[relays]\nlocal = "{url}"\n', encoding="utf-8")
    result = run("--config", "mail.toml", *SEND, "--url", "local", "--subject", "named")
    assert result.exit_code == 0, result.stderr
    assert len(relay.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--to", "not-an-address", "--subject", "x"), "invalid address"),
        (("--to", "a@example.com"), "Missing option '--subject'"),
        (("--to", "a@example.com", "--subject", "x", "--text-file", "no.txt"), "no.txt"),
        (("--to", "a@example.com", "--subject", "x", "--attach", "nope.pdf"), "nope.pdf"),
        (("--to", "a@example.com", "--subject", "x", "--nope"), "No such option"),
        (("--to", "a@example.com", "--subject", "x", "--header", "bad"), "Name: value"),
        (("--subject", "x"), "no recipient"),
        (("--to", "a@example.com", "--subject", "x"), "set MAILSDK_URL"),
        (("--to", "a@example.com", "--subject", "x", "--url", "smtp://h:0"), "port"),
        (("--to", "a@example.com", "--subject", "x", "--url", "nope://h"), "unknown scheme"),
    ],
)
def test_bad_input_exits_1(args: tuple[str, ...], complaint: str) -> None:
    result = run("send", "--from", "me@example.com", *args)
    assert result.exit_code == 1, result.output
    assert complaint in result.stderr


def test_a_usage_error_on_the_group_exits_1_too() -> None:
    assert run("sned").exit_code == 1
    assert run("--config", "missing.toml", "send").exit_code == 1


def test_every_recipient_refused_exits_2(relay: LocalRelay, url: str) -> None:
    relay.rcpt_replies["alice@example.com"] = "550 5.1.1 No such user"
    result = run(*SEND, "--url", url, "--subject", "x", "--json")
    assert result.exit_code == 2
    assert "No such user" in result.stderr
    assert json.loads(result.stdout)["error"] == "RecipientsRefused"


def test_some_recipients_refused_exits_2_after_sending(relay: LocalRelay, url: str) -> None:
    relay.rcpt_replies["bob@example.com"] = "550 5.1.1 No such user"
    result = run(*SEND, "--to", "bob@example.com", "--url", url, "--subject", "x")
    assert result.exit_code == 2
    assert "sent <" in result.stdout
    assert "refused: bob@example.com (550" in result.stderr
    assert relay.wait_for(1)[0].rcpt_tos == ["alice@example.com"]


def test_a_message_refused_after_data_exits_2(relay: LocalRelay, url: str) -> None:
    relay.data_reply = "554 5.7.1 Message rejected as spam"
    result = run(*SEND, "--url", url, "--subject", "x")
    assert result.exit_code == 2
    assert "rejected as spam" in result.stderr


def test_every_relay_failing_exits_3(relay: LocalRelay) -> None:
    result = run(*SEND, "--url", relay.url(USER, "wrong"), "--subject", "x", "--json")
    assert result.exit_code == 3
    assert "AUTH PLAIN failed" in result.stderr
    data = json.loads(result.stdout)
    assert data["error"] == "DeliveryFailed"
    assert data["exit_code"] == 3
    assert data["attempts"][0]["outcome"] == "relay"


def test_a_failover_list_is_tried_in_order(relay_factory: RelayFactory) -> None:
    broken = relay_factory(tls="starttls", require_auth=True)
    healthy = relay_factory(tls="starttls", require_auth=True)
    result = run(
        *SEND,
        "--url",
        broken.url(USER, "wrong"),
        "--url",
        healthy.url(USER, PASSWORD),
        "--subject",
        "failover",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    outcomes = [a["outcome"] for a in json.loads(result.stdout)["attempts"]]
    assert outcomes == ["relay", "delivered"]
    assert len(healthy.wait_for(1)) == 1


def test_a_lost_reply_after_data_exits_4(relay: LocalRelay, url: str) -> None:
    relay.drop_after_data = True
    result = run(*SEND, "--url", url, "--subject", "x")
    assert result.exit_code == 4
    assert "may have been delivered" in result.stderr


# -- check -----------------------------------------------------------------------------------


def test_check_shows_greeting_extensions_tls_and_auth(relay: LocalRelay, url: str) -> None:
    result = run("check", url)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "greeting   : 220" in out
    assert "STARTTLS" in out
    assert "TLS        : TLSv1." in out
    assert "certificate: subject O=trustme" in out
    assert "EHLO (TLS) :" in out
    assert "AUTH" in out.split("EHLO (TLS) :")[1]
    assert f"AUTH       : PLAIN accepted for {USER!r}" in out
    assert "OK, nothing was sent" in out
    assert relay.messages == []


def test_check_implicit_tls(relay_factory: RelayFactory) -> None:
    relay = relay_factory(tls="implicit", require_auth=True)
    result = run("check", relay.url(USER, PASSWORD))
    assert result.exit_code == 0, result.output
    assert result.stdout.index("TLS        : TLSv1.") < result.stdout.index("EHLO (TLS) :")


def test_check_without_a_user_does_not_try_auth(relay_factory: RelayFactory) -> None:
    relay = relay_factory(tls="none")
    result = run("check", relay.url())
    assert result.exit_code == 0, result.output
    assert "TLS        : none" not in result.stdout  # no STARTTLS was offered or used
    assert "AUTH       : not tried" in result.stdout


def test_check_reports_each_relay_and_exits_3_if_one_fails(relay: LocalRelay, url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    result = run("check", url, relay.url(USER, "wrong"), f"smtp://127.0.0.1:{dead_port}?tls=none")
    assert result.exit_code == 3
    out = result.stdout
    assert out.count("OK, nothing was sent") == 1
    assert "FAILED     : AUTH PLAIN failed" in out
    assert "FAILED     : cannot connect" in out
    assert "2 of 3 relays failed" in result.stderr


def test_check_a_provider_url_validates_configuration_only() -> None:
    result = run("check", "sendgrid://SG.example-key@default")
    assert result.exit_code == 0, result.output
    assert "does not call the sendgrid API" in result.stdout
    assert "SG.example-key" not in result.output


def test_check_uses_the_configured_relays(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", f"{url}, memory://")
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "OK, nothing was sent" in result.stdout
    assert "memory://\n  configuration OK" in result.stdout


def test_check_a_bad_url_exits_1() -> None:
    result = run("check", "smtp://h.example.com?tls=sometimes")
    assert result.exit_code == 1
    assert "tls='sometimes'" in result.stderr


# -- credentials -----------------------------------------------------------------------------


def bare_url(relay: LocalRelay) -> str:
    """The relay's URL with the login but without the password."""
    return relay.url(USER, PASSWORD).replace(f":{quote(PASSWORD, safe='')}@", "@")


def test_credentials_set_check_use_delete(relay: LocalRelay, memory_keyring: MemoryKeyring) -> None:
    bare = bare_url(relay)  # no password: it comes from keyring
    result = run("credentials", "set", bare, "--stdin", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    service = f"mailsdk:smtp://127.0.0.1:{relay.port}"
    assert memory_keyring.entries == {(service, USER): PASSWORD}
    assert f"service {service!r}" in result.stdout
    assert PASSWORD not in result.output

    checked = run("credentials", "check", bare)
    assert checked.exit_code == 0
    assert f"secret found in keyring service {service!r}, user {USER!r}" in checked.stdout

    sent = run(*SEND, "--url", bare, "--subject", "via keyring")
    assert sent.exit_code == 0, sent.stderr
    assert relay.wait_for(1)[0].login == USER

    assert run("credentials", "delete", bare).exit_code == 0
    assert memory_keyring.entries == {}
    gone = run("credentials", "check", bare)
    assert gone.exit_code == 1
    assert "mailsdk credentials set" in gone.stderr
    assert run("credentials", "delete", bare).exit_code == 1


def test_credentials_set_prompts_without_echo(memory_keyring: MemoryKeyring) -> None:
    result = run("credentials", "set", "sendgrid://default", input="SG.typed-key\nSG.typed-key\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.entries == {("mailsdk:sendgrid://default", "api-key"): "SG.typed-key"}
    assert "SG.typed-key" not in result.output  # hide_input: the prompt echoes nothing


def test_credentials_check_names_an_environment_variable(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587", "from-env")
    result = run("credentials", "check", "smtp://reports@mail.example.com:587")
    assert result.exit_code == 0
    assert "environment variable MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587" in result.stdout
    assert "from-env" not in result.output


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("smtp://u:secret@h.example.com", "without its secret"),
        ("smtp://h.example.com", "name the user"),
        ("memory://", "take no secret"),
        ("not a url", "not a URL"),
    ],
)
def test_credentials_set_refuses_urls_it_cannot_use(
    memory_keyring: MemoryKeyring, url: str, complaint: str
) -> None:
    result = run("credentials", "set", url, "--stdin", input="x\n")
    assert result.exit_code == 1
    assert complaint in result.stderr
    assert memory_keyring.entries == {}


def test_credentials_without_a_keyring_backend_say_what_to_do() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        stored = run("credentials", "set", "smtp://u@h.example.com", "--stdin", input="pw\n")
        sent = run(*SEND, "--url", "smtp://u@h.example.com", "--subject", "x")
    finally:
        keyring.set_keyring(previous)
    for result in (stored, sent):
        assert result.exit_code == 1
        assert "no usable keyring backend" in result.stderr
        assert "MAILSDK_PASSWORD_SMTP_H_EXAMPLE_COM_587" in result.stderr
        assert "Traceback" not in result.output


# -- devserver -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _run_devserver(*args: str) -> tuple[threading.Thread, list[Result]]:
    # The command blocks until --count messages arrived: run it on a thread, send from here.
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(run("devserver", *args)), daemon=True)
    thread.start()
    return thread, results


def test_devserver_captures_messages_as_eml_files(tmp_path: Path) -> None:
    port = _free_port()
    thread, results = _run_devserver("--port", str(port), "--dir", "captured", "--count", "2")
    _wait_for_port(port)
    url = f"smtp://anyone:anything@127.0.0.1:{port}?tls=none&allow_insecure_auth=true"
    from mailsdk import Sender

    with Sender(url) as sender:
        for n in range(2):
            sender.send(
                Message(from_="a@example.com", to=["b@example.com"], subject=f"n{n}", text="x")
            )
    thread.join(timeout=10)
    assert not thread.is_alive()
    (result,) = results
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"mailsdk devserver on 127.0.0.1:{port} (no TLS; any AUTH accepted)" in lines[0]
    summaries = [line for line in lines if " #" in line]
    assert len(summaries) == 2
    assert "from a@example.com to b@example.com 'n0'" in summaries[0]
    assert "(login anyone)" in summaries[0]
    files = sorted((tmp_path / "captured").glob("*.eml"))
    assert len(files) == 2
    assert parsed(files[1].read_bytes())["Subject"] == "n1"


def test_devserver_offers_starttls_with_a_generated_certificate(tmp_path: Path) -> None:
    port = _free_port()
    thread, results = _run_devserver("--port", str(port), "--tls", "starttls", "--count", "1")
    _wait_for_port(port)
    # The certificate is made on the spot; this client skips verification to prove the
    # session really was encrypted (the relay refuses MAIL before STARTTLS).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    transport = SMTPTransport(
        "127.0.0.1", port, tls="starttls", tls_context=context, username="x", password="y"
    )
    import asyncio

    async def send() -> None:
        async with transport:
            outgoing = OutgoingMessage(
                Message(from_="a@example.com", to=["b@example.com"], subject="tls", text="x")
            )
            await transport.send(outgoing)

    asyncio.run(send())
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert results[0].exit_code == 0
    assert "(STARTTLS; any AUTH accepted)" in results[0].stdout
    assert "ca_file=" in results[0].stdout
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


def test_devserver_on_a_busy_port_exits_1(relay: LocalRelay) -> None:
    result = run("devserver", "--port", str(relay.port), "--count", "1")
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{relay.port}" in result.stderr


# -- send-many -------------------------------------------------------------------------------


def write_csv(rows: list[dict[str, str]], name: str = "people.csv") -> Path:
    path = Path(name)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def send_many(template: str, *args: str) -> Result:
    """``mailsdk send-many --csv people.csv --template TEMPLATE ARGS...``."""
    return run("send-many", "--csv", "people.csv", "--template", template, *args)


def read_results(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["email"]: row for row in csv.DictReader(handle)}


PEOPLE = [
    {"email": "alice@example.com", "name": "Alice", "balance": "12.50"},
    {"email": "bob@example.com", "name": "Bob <b>", "balance": "3.00"},
    {"email": "carol@example.com", "name": "Carol", "balance": "0.00"},
]


def test_send_many_merges_each_row(relay: LocalRelay, url: str) -> None:
    write_csv(PEOPLE)
    Path("t.toml").write_text(
        'subject = "Your balance, $name"\n'
        'text = "Hello $name,\\nyour balance is ${balance}."\n'
        'html = "<p>Hello $name</p>"\n'
        "[headers]\n"
        'X-Account = "$email"\n',
        encoding="utf-8",
    )
    result = send_many(
        "t.toml",
        "--url",
        url,
        "--from",
        "Billing <billing@example.com>",
        "--concurrency",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert "3 sent, 0 invalid, 0 refused, 0 failed, 0 unknown" in result.stdout
    received = {m.rcpt_tos[0]: parsed(m.data) for m in relay.wait_for(3)}
    bob = received["bob@example.com"]
    assert bob["Subject"] == "Your balance, Bob <b>"
    assert bob["From"] == "Billing <billing@example.com>"
    assert bob["X-Account"] == "bob@example.com"
    text = bob.get_body(("plain",))
    html = bob.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "your balance is 3.00." in text.get_content()
    assert "<p>Hello Bob &lt;b&gt;</p>" in html.get_content()  # values are escaped in HTML
    results = read_results(Path("people-results.csv"))
    assert {r["status"] for r in results.values()} == {"sent"}
    assert all(r["message_id"].startswith("<") for r in results.values())
    assert results["alice@example.com"]["code"] == "250"


def test_send_many_reports_each_rows_fate(relay: LocalRelay, url: str) -> None:
    relay.rcpt_replies["carol@example.com"] = "550 5.1.1 No such user"
    rows = [*PEOPLE[:1], {"email": "not an address", "name": "X", "balance": "1"}, PEOPLE[2]]
    write_csv(rows)
    Path("t.txt").write_text("Subject: Hi $name\nFrom: billing@example.com\n\nBody\n")
    result = send_many(
        "t.txt",
        "--url",
        url,
        "--results",
        "out.csv",
    )
    assert result.exit_code == 2  # the highest that applies: 1 invalid, 2 refused
    results = read_results(Path("out.csv"))
    assert list(results) != []
    assert results["alice@example.com"]["status"] == "sent"
    assert results["not an address"]["status"] == "invalid"
    assert "invalid address" in results["not an address"]["error"]
    assert results["carol@example.com"]["status"] == "refused"
    assert results["carol@example.com"]["code"] == "550"
    assert "No such user" in results["carol@example.com"]["error"]
    with Path("out.csv").open(encoding="utf-8") as handle:
        assert handle.readline().strip() == "row,email,status,message_id,relay,code,error"


def test_send_many_with_a_json_template_and_failures(relay: LocalRelay) -> None:
    write_csv(PEOPLE[:2])
    Path("t.json").write_text(
        json.dumps({"subject": "Hi $name", "text": "x", "from": "billing@example.com"}),
        encoding="utf-8",
    )
    result = send_many(
        "t.json",
        "--url",
        relay.url(USER, "wrong"),
    )
    assert result.exit_code == 3
    assert {r["status"] for r in read_results(Path("people-results.csv")).values()} == {"failed"}


def test_send_many_attaches_a_file_per_row(relay: LocalRelay, url: str) -> None:
    Path("statements").mkdir()
    Path("statements/1.txt").write_text("statement one", encoding="utf-8")
    write_csv(
        [
            {"email": "alice@example.com", "id": "1"},
            {"email": "bob@example.com", "id": "../../etc/passwd"},  # not outside the folder
        ]
    )
    Path("t.toml").write_text(
        'subject = "Statement"\ntext = "attached"\nattachments = ["statements/${id}.txt"]\n',
        encoding="utf-8",
    )
    result = send_many("t.toml", "--url", url, "--from", "billing@example.com")
    assert result.exit_code == 1  # the invalid row
    results = read_results(Path("people-results.csv"))
    assert results["alice@example.com"]["status"] == "sent"
    assert results["bob@example.com"]["status"] == "invalid"
    assert "outside the template's directory" in results["bob@example.com"]["error"]
    (received,) = relay.wait_for(1)
    (attachment,) = parsed(received.data).iter_attachments()
    assert attachment.get_filename() == "1.txt"


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ('subject = "Hi $nickname"\ntext = "x"\n', "uses $nickname"),
        ('text = "x"\n', "no subject"),
        ('subject = "x"\n', "neither text nor html"),
        ('subject = "x"\ntext = "x"\nbody = "y"\n', "unknown template key"),
        ('subject = "x $"\ntext = "x"\n', "malformed placeholder"),
    ],
)
def test_send_many_refuses_a_bad_template_before_sending(
    relay: LocalRelay, url: str, template: str, complaint: str
) -> None:
    write_csv(PEOPLE)
    Path("t.toml").write_text(template, encoding="utf-8")
    result = send_many(
        "t.toml",
        "--url",
        url,
        "--from",
        "b@example.com",
    )
    assert result.exit_code == 1
    assert complaint in result.stderr
    assert relay.messages == []


def test_send_many_dry_run_renders_every_row(relay: LocalRelay) -> None:
    write_csv(PEOPLE)
    Path("t.toml").write_text('subject = "Hi $name"\ntext = "x"\n', encoding="utf-8")
    result = send_many(
        "t.toml",
        "--from",
        "b@example.com",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "3 of 3 rows render" in result.stderr
    assert parsed(result.stdout_bytes)["Subject"] == "Hi Alice"


# -- send-many with Jinja2 templates ---------------------------------------------------------


def test_send_many_with_a_jinja2_toml_template(relay: LocalRelay, url: str) -> None:
    # The last row is short: its "balance" is missing, so that row alone is invalid.
    Path("people.csv").write_text(
        "email,name,first name,balance\n"
        'jane@example.com,"Doe, Jane",Jane,12.50\n'
        "bob@example.com,Bob <b>,Bob,3.00\n"
        "carol@example.com,Carol,Carol\n",
        encoding="utf-8",
    )
    Path("t.toml.j2").write_text(
        'subject = "Your balance, {{ name }}"\n'
        'to = "{{ name }} <{{ email }}>"\n'
        "text = \"Hello {{ row['first name'] }},\\nyour balance is {{ balance }}.\"\n"
        'html = "<p>Hello {{ name }}</p>{% if balance|float > 10 %}<p>Pay now</p>{% endif %}"\n'
        "[headers]\n"
        'X-Account = "{{ email | upper }}"\n',
        encoding="utf-8",
    )
    result = send_many("t.toml.j2", "--url", url, "--from", "Billing, Inc. <billing@example.com>")
    assert result.exit_code == 1, result.output  # one invalid row; the others were sent
    assert "2 sent, 1 invalid" in result.stdout
    received = {m.rcpt_tos[0]: parsed(m.data) for m in relay.wait_for(2)}
    assert set(received) == {"jane@example.com", "bob@example.com"}
    jane, bob = received["jane@example.com"], received["bob@example.com"]
    assert jane["To"].addresses[0].display_name == "Doe, Jane"  # one name, not two addresses
    assert jane["From"].addresses[0].display_name == "Billing, Inc."
    assert jane["Subject"] == "Your balance, Doe, Jane"
    assert jane["X-Account"] == "JANE@EXAMPLE.COM"
    text, html = jane.get_body(("plain",)), jane.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Hello Jane,\r\nyour balance is 12.50." in text.get_content()
    assert "<p>Pay now</p>" in html.get_content()
    bob_html = bob.get_body(("html",))
    assert bob_html is not None
    assert "<p>Hello Bob &lt;b&gt;</p>" in bob_html.get_content()  # autoescaped
    assert "Pay now" not in bob_html.get_content()
    assert bob["Subject"] == "Your balance, Bob <b>"  # the subject is not HTML
    results = read_results(Path("people-results.csv"))
    assert results["carol@example.com"]["status"] == "invalid"
    assert "'balance' is undefined" in results["carol@example.com"]["error"]
    assert "template text, line 2" in results["carol@example.com"]["error"]


def write_invoice_set(folder: str = "mail") -> None:
    Path(folder).mkdir()
    Path(folder, "invoice.subject.j2").write_text("Invoice {{ number }}\n", encoding="utf-8")
    Path(folder, "invoice.txt.j2").write_text(
        "Hello {{ name }},\ninvoice {{ number }} is attached.\n", encoding="utf-8"
    )
    Path(folder, "layout.html.j2").write_text(
        "<html><body>{% block body %}{% endblock %}</body></html>", encoding="utf-8"
    )
    Path(folder, "invoice.html.j2").write_text(
        '{% extends "layout.html.j2" %}{% block body %}<p>Hello {{ name }}</p>{% endblock %}',
        encoding="utf-8",
    )


@pytest.mark.parametrize("template", ["mail/invoice", "mail/invoice.subject.j2"])
def test_send_many_with_a_jinja2_template_set(relay: LocalRelay, url: str, template: str) -> None:
    write_invoice_set()
    write_csv(
        [
            {"email": "ann@example.com", "name": "Ann <3", "number": "7"},
            {"email": "eve@example.com", "name": "Eve", "number": "8\nBcc: all@example.com"},
            {"email": "dan@example.com", "name": "Dan", "number": "9"},
        ]
    )
    result = send_many(template, "--url", url, "--from", "billing@example.com")
    assert result.exit_code == 1, result.output
    received = {m.rcpt_tos[0]: parsed(m.data) for m in relay.wait_for(2)}
    assert set(received) == {"ann@example.com", "dan@example.com"}
    ann = received["ann@example.com"]
    assert ann["Subject"] == "Invoice 7"
    text, html = ann.get_body(("plain",)), ann.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == "Hello Ann <3,\r\ninvoice 7 is attached.\r\n"
    assert "<html><body><p>Hello Ann &lt;3</p></body></html>" in html.get_content()
    eve = read_results(Path("people-results.csv"))["eve@example.com"]
    assert eve["status"] == "invalid"
    assert "invoice.subject.j2: the rendered subject has a line break" in eve["error"]
    assert all(m.rcpt_tos != ["all@example.com"] for m in relay.messages)


@pytest.mark.parametrize(
    ("files", "template", "args", "complaint"),
    [
        (
            {"t.toml.j2": 'subject = "x"\ntext = "a\\n{% if %}"\n'},
            "t.toml.j2",
            (),
            "template text, line 2: syntax error",
        ),
        (
            {"m/x.subject.j2": "s", "m/x.html.j2": "<p>\n{{ oops }</p>"},
            "m/x",
            (),
            "template x.html.j2, line 2: syntax error",
        ),
        ({"m/x.subject.j2": "s"}, "m/x", (), "neither x.txt.j2 nor x.html.j2"),
        (
            {"m/x.subject.j2": "s", "m/x.txt.j2": "t"},
            "m/x",
            ("--engine", "string"),
            "is Jinja2, not --engine string",
        ),
        ({}, "nothing.toml", (), "no such template file"),
    ],
)
def test_send_many_refuses_a_bad_jinja2_template_before_sending(
    relay: LocalRelay,
    url: str,
    files: dict[str, str],
    template: str,
    args: tuple[str, ...],
    complaint: str,
) -> None:
    write_csv(PEOPLE)
    for name, source in files.items():
        Path(name).parent.mkdir(exist_ok=True)
        Path(name).write_text(source, encoding="utf-8")
    result = send_many(template, "--url", url, "--from", "b@example.com", *args)
    assert result.exit_code == 1
    assert complaint in result.stderr
    assert relay.messages == []


def test_send_many_engine_option_picks_the_language(relay: LocalRelay) -> None:
    write_csv(PEOPLE[:1])
    Path("t.toml").write_text('subject = "Hi {{ name }} $name"\ntext = "x"\n', encoding="utf-8")
    jinja = send_many("t.toml", "--from", "b@example.com", "--dry-run", "--engine", "jinja2")
    assert jinja.exit_code == 0, jinja.output
    assert parsed(jinja.stdout_bytes)["Subject"] == "Hi Alice $name"
    plain = send_many("t.toml", "--from", "b@example.com", "--dry-run")
    assert parsed(plain.stdout_bytes)["Subject"] == "Hi {{ name }} Alice"
    Path("t.txt.j2").write_text("Subject: Hi {{ name }}\n\nBody\n", encoding="utf-8")
    simple = send_many("t.txt.j2", "--from", "b@example.com", "--dry-run")
    assert parsed(simple.stdout_bytes)["Subject"] == "Hi Alice"
    assert relay.messages == []


def test_send_many_without_jinja2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(PEOPLE)
    write_invoice_set()
    monkeypatch.delitem(sys.modules, "mailsdk.templates", raising=False)
    monkeypatch.setitem(sys.modules, "jinja2", None)  # "import jinja2" fails
    result = send_many("mail/invoice", "--from", "b@example.com", "--dry-run")
    assert result.exit_code == 1
    assert "pip install 'mailsdk[templates]'" in result.stderr


# -- the rest --------------------------------------------------------------------------------


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*prefix, name))


@pytest.mark.parametrize("command", [(), *_all_commands(cast(Any, cli))])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: mailsdk {' '.join(command)}".rstrip())
    assert len(result.stdout.splitlines()) > 3


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_come_from_click(shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0
    assert "_MAILSDK_COMPLETE" in result.stdout


def test_demo_still_runs() -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "Relay A stored 0 messages, relay B 1." in result.stdout


# -- issue 10: the command line as a newcomer uses it ------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSDK_")}
    env.update({"PYTHONPATH": str(REPO), "MAILSDK_RETRY_ATTEMPTS": "1", **extra})
    return env


def _mailsdk(*args: str, block: str = "", **popen: Any) -> subprocess.Popen[str]:
    """``mailsdk ARGS`` in a fresh interpreter using this checkout; *block*: a module made
    unimportable, as if its extra were not installed."""
    code = (
        "import sys\n"
        + (f"sys.modules[{block!r}] = None\n" if block else "")
        + "from mailsdk.cli import main\n"
        + f"sys.argv = ['mailsdk', *{list(args)!r}]\n"
        + "main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_subprocess_env(),
        **popen,
    )


def test_text_is_the_body_and_text_file_reads_a_file(relay: LocalRelay, url: str) -> None:
    Path("Hello").write_text("the file, not the text", encoding="utf-8")
    inline = run(*SEND, "--url", url, "--subject", "a", "--text", "Hello", "--html", "<p>Hi</p>")
    assert inline.exit_code == 0, inline.stderr
    assert "--text-file" in inline.stderr  # a note: "Hello" is also a file's name
    Path("body.txt").write_text("from the file\n", encoding="utf-8")
    from_file = run(*SEND, "--url", url, "--subject", "b", "--text-file", "body.txt")
    assert from_file.exit_code == 0, from_file.stderr
    first, second = (parsed(m.data) for m in relay.wait_for(2))
    text, html = first.get_body(("plain",)), first.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "Hello"
    assert html.get_content().strip() == "<p>Hi</p>"
    body = second.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "from the file"
    both = run(*SEND, "--url", url, "--subject", "c", "--text", "x", "--text-file", "body.txt")
    assert both.exit_code == 1
    assert "not both" in both.stderr


def test_ctrl_c_exits_130_without_a_traceback() -> None:
    with silent_relay() as (port, accepted):
        url = f"smtp://127.0.0.1:{port}?tls=none&timeout=60"
        proc = _mailsdk(*SEND, "--subject", "x", "--text", "x", "--url", url)
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert accepted, "the command never connected"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "block", "extra"),
    [
        (("devserver", "--port", "0"), "aiosmtpd", "devserver"),
        (("demo",), "trustme", "devserver"),
        (
            (*SEND, "--subject", "x", "--url", "ses://AKIAEXAMPLE:s3cr3tKey@eu-west-1"),
            "botocore",
            "ses",
        ),
        (("check", "ses://eu-west-1"), "botocore", "ses"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_install(
    args: tuple[str, ...], block: str, extra: str
) -> None:
    proc = _mailsdk(*args, block=block)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert f"pip install 'mailsdk[{extra}]'" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert "s3cr3t" not in out + err


def test_a_scheme_typo_gets_a_suggestion() -> None:
    result = run(*SEND, "--subject", "x", "--url", "smpt://reports@mail.example.com:587")
    assert result.exit_code == 1
    assert "did you mean smtp://?" in result.stderr
    assert "Traceback" not in result.output


class RecordingKeyring(MemoryKeyring):
    """Records every look-up, so a test can show none happened."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.lookups.append((service, username))
        return super().get_password(service, username)


@pytest.mark.parametrize(
    ("bad_url", "complaint"),
    [
        ("smtp://reports@mail.example.com:587?tmeout=5", "tmeout"),
        ("smpt://reports@mail.example.com:587", "did you mean smtp://"),
        ("smtp://reports@mail.example.com:587?tls=sometimes", "sometimes"),
        ("sendgrid://default?region=mars", "region"),
    ],
)
def test_configuration_errors_come_before_any_keyring_lookup(bad_url: str, complaint: str) -> None:
    backend = RecordingKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        sent = run(*SEND, "--subject", "x", "--url", bad_url)
        checked = run("check", bad_url)
        stored = run("credentials", "set", bad_url, "--stdin", input="secret\n")
        found = run("credentials", "check", bad_url)
    finally:
        keyring.set_keyring(previous)
    for result in (sent, checked, stored, found):
        assert result.exit_code == 1, result.output
        assert complaint in result.stderr
    assert backend.lookups == []


def _json(result: Result) -> dict[str, Any]:
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_json_is_printed_for_every_outcome(relay: LocalRelay, url: str) -> None:
    ok = run(*SEND, "--url", url, "--subject", "x", "--text", "x", "--json")
    assert _json(ok)["ok"] is True
    outcomes = {
        "usage": run("send", "--to", "a@example.com", "--json"),  # no --subject
        "unknown option": run(*SEND, "--subject", "x", "--json", "--nope"),
        "bad address": run(*SEND, "--to", "nobody", "--subject", "x", "--url", url, "--json"),
        "no relay": run(*SEND, "--subject", "x", "--json"),
        "bad url": run(*SEND, "--subject", "x", "--url", "smpt://h", "--json"),
        "missing file": run(*SEND, "--subject", "x", "--text-file", "no.txt", "--json"),
        "failed": run(*SEND, "--subject", "x", "--url", relay.url(USER, "wrong"), "--json"),
    }
    for name, result in outcomes.items():
        data = _json(result)
        assert data["ok"] is False, name
        assert data["message"], name
        assert result.exit_code == data.get("exit_code", 1), name
    assert outcomes["failed"].exit_code == 3


def test_devserver_picks_a_free_port_and_requires_the_given_users(tmp_path: Path) -> None:
    proc = _mailsdk(
        "devserver", "--port", "0", "--user", "alice:pa55:word", "--count", "1", cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "AUTH required: alice" in first
        port_line = proc.stdout.readline()
        port = int(port_line.split(":")[1])
        url_line = proc.stdout.readline()
        assert f"smtp://alice@127.0.0.1:{port}" in url_line
        assert "pa55" not in first + port_line + url_line
        message = Message(from_="a@example.com", to=["b@example.com"], subject="s", text="x")
        base = f"smtp://alice:{quote('pa55:word', safe='')}@127.0.0.1:{port}"
        from mailsdk import MailError, Sender

        anonymous = Sender(f"smtp://127.0.0.1:{port}?tls=none", retry=None)
        with anonymous, pytest.raises(MailError):
            anonymous.send(message)  # AUTH is required
        with Sender(f"{base}?tls=none&allow_insecure_auth=true") as sender:
            sender.send(message)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "(login alice)" in out
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


def test_send_many_builds_addresses_from_names_with_commas(relay: LocalRelay, url: str) -> None:
    rows = [
        {"email": "jane@example.com", "name": "Doe, Jane"},
        {"email": "joe@example.com", "name": 'Joe "JJ" <Junior>'},
        {"email": "not-an-address", "name": "Nobody"},
        {"email": "ann@example.com", "name": "Ann"},
    ]
    write_csv(rows)
    Path("t.toml").write_text(
        'to = "$name <$email>"\nsubject = "Hi $name"\ntext = "Hello $name"\n', encoding="utf-8"
    )
    result = send_many("t.toml", "--url", url, "--from", "Billing, Inc. <billing@example.com>")
    assert result.exit_code == 1, result.output  # one invalid row, the others sent
    received = {m.rcpt_tos[0]: parsed(m.data) for m in relay.wait_for(3)}
    assert set(received) == {"jane@example.com", "joe@example.com", "ann@example.com"}
    jane = received["jane@example.com"]["To"]
    assert jane.addresses[0].display_name == "Doe, Jane"
    assert received["joe@example.com"]["To"].addresses[0].display_name == 'Joe "JJ" <Junior>'
    assert received["ann@example.com"]["From"].addresses[0].display_name == "Billing, Inc."
    with Path("people-results.csv").open(newline="", encoding="utf-8") as handle:
        rows_out = list(csv.DictReader(handle))
    assert sorted(int(r["row"]) for r in rows_out) == [1, 2, 3, 4]
    assert {r["row"]: r["status"] for r in rows_out}["3"] == "invalid"


def _rude_relay() -> socket.socket:
    """Greets, reads EHLO, hangs up: a fault in the handshake, on every connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"220 rude.example ESMTP\r\n")
                    conn.recv(1024)

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_relay_failing_in_the_handshake_is_exit_3_and_a_failed_row() -> None:
    server = _rude_relay()
    url = f"smtp://127.0.0.1:{server.getsockname()[1]}?tls=none&timeout=5"
    try:
        sent = run(*SEND, "--subject", "x", "--text", "x", "--url", url)
        write_csv(PEOPLE)
        Path("t.txt").write_text("Subject: Hi $name\nFrom: billing@example.com\n\nBody\n")
        many = send_many("t.txt", "--url", url)
    finally:
        server.close()
    assert sent.exit_code == 3, sent.output
    assert "Traceback" not in sent.output
    assert many.exit_code == 3, many.output
    results = read_results(Path("people-results.csv"))
    assert len(results) == len(PEOPLE)
    assert {r["status"] for r in results.values()} == {"failed"}


def test_one_attempt_on_one_relay_is_said_in_the_singular() -> None:
    result = run(*SEND, "--subject", "x", "--url", f"smtp://127.0.0.1:{_free_port()}?tls=none")
    assert result.exit_code == 3
    assert "(1 attempt on 1 relay)" in result.stderr


def test_check_json_reports_each_relay(relay: LocalRelay, url: str) -> None:
    result = run("check", url, "memory://", "--json")
    assert result.exit_code == 0, result.output
    session, local = json.loads(result.stdout)
    assert session["checked"] == "session"
    assert session["ok"] is True
    assert session["tls"]["version"].startswith("TLSv1.")
    assert "O=trustme" in session["tls"]["certificate"]["subject"]
    assert session["auth_used"] == "PLAIN"
    assert "PLAIN" in session["auth_mechanisms"]
    assert set(session["timings"]) >= {"connect", "ehlo", "starttls", "auth"}
    assert local == {
        "url": "memory://",
        "checked": "configuration",
        "relay": "memory://",
        "ok": True,
    }
    failed = run("check", relay.url(USER, "wrong"), "--json")
    assert failed.exit_code == 3
    (report,) = json.loads(failed.stdout)
    assert report["error"]["error"] == "RelayError"
    assert "wrong" not in failed.output
    bad = run("check", "smpt://h.example.com", "--json")
    assert bad.exit_code == 1
    assert "did you mean" in json.loads(bad.stdout)["message"]
