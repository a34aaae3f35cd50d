"""No secret ever shows: every failure path, with known secrets, checked against all output.

Each test makes real failures happen (a relay refusing AUTH, a provider answering 401 through
respx, URLs that do not parse, relays that all fail after several attempts, keyring backends
that break) and gathers everything a user could see: ``str``/``repr`` of errors, senders,
transports, settings and events, ``traceback.format_exception`` of each error (causes and
contexts included), every log record at DEBUG (with its traceback), stdout and stderr at the
file-descriptor level, and the ``mailsdk`` command's output. The secrets are then looked for
in each form they take on the wire too: raw, percent-encoded, and base64 (AUTH PLAIN/LOGIN).
"""

from __future__ import annotations

import base64
import logging
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import keyring
import pytest
import respx
from click.testing import CliRunner

from mailsdk import (
    AsyncSender,
    ConfigurationError,
    DeliveryFailed,
    MailError,
    Message,
    RetryPolicy,
    Sender,
)
from mailsdk.cli import cli
from mailsdk.config import parse_url, transport_from_url
from mailsdk.devserver import LocalRelay
from mailsdk.settings import MailSettings
from tests.conftest import PASSWORD, USER
from tests.env import no_mailsdk_env
from tests.keyrings import MemoryKeyring

RelayFactory = Callable[..., LocalRelay]

WRONG = "wr0ng-smtp-Secret-5a1e"
RELAY_SECRET = "relay-own-Secret-93b4"
KEYRING_SECRET = "keyring-held-Secret-7c22"
ENV_SECRET = "env-held-Secret-0d9f"
API_KEY = "SG.api-key-Secret-4e8b"
URL_SECRET = "bad-url-Secret-61aa"
SECRETS = [WRONG, RELAY_SECRET, KEYRING_SECRET, ENV_SECRET, API_KEY, URL_SECRET, PASSWORD]

SENDGRID = "https://api.sendgrid.com/v3/mail/send"
FAST = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0)


def forms(secret: str) -> list[str]:
    """A secret as it may appear: raw, percent-encoded, base64 alone (AUTH LOGIN) and inside
    AUTH PLAIN's ``\\0user\\0password``."""
    b64 = base64.b64encode(secret.encode()).decode()
    plain = base64.b64encode(f"\0{USER}\0{secret}".encode()).decode()
    return [secret, quote(secret, safe=""), b64, plain]


class LeakyKeyring(MemoryKeyring):
    """A broken backend whose errors quote what it was given, secret included."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"cannot write {password!r} for {username}")

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError(f"cannot read {service}/{username}: {KEYRING_SECRET}")


class Seen:
    """Everything shown to a user during one test, gathered for the final check."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: object) -> None:
        for item in items:
            self.texts.append(str(item))
            self.texts.append(repr(item))

    def error(self, exc: BaseException) -> None:
        self.add(exc)
        self.texts.append("".join(traceback.format_exception(exc)))
        for inner in getattr(exc, "errors", []):
            self.error(inner)
        for attempt in getattr(exc, "attempts", []):
            self.add(attempt, attempt.describe())
        for attr in ("relay", "server_text", "message"):
            self.add(getattr(exc, attr, None))

    def cli(self, *args: str, input: str | None = None) -> int:
        result = CliRunner().invoke(cli, list(args), input=input, prog_name="mailsdk")
        self.texts.extend([result.stdout, result.stderr])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            self.error(result.exception)
        return result.exit_code


@pytest.fixture
def seen(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Seen]:
    no_mailsdk_env(monkeypatch, tmp_path)
    caplog.set_level(logging.DEBUG)  # every logger: mailsdk, aiosmtplib, httpx, the relay
    gathered = Seen()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield gathered
    gathered.texts.extend(str(w.message) for w in caught)
    out, err = capfd.readouterr()
    gathered.texts.extend([out, err, caplog.text])
    for record in caplog.records:
        gathered.texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            gathered.error(record.exc_info[1])
    # The check itself: no secret, in any form, anywhere.
    everything = "\n".join(gathered.texts)
    assert everything.strip(), "nothing was captured: the test did not exercise anything"
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in everything, f"{secret!r} leaked as {form!r}"


def message(n: int = 0) -> Message:
    return Message(
        from_="app@example.com", to=[f"user{n}@example.com"], subject="secrets", text="hi"
    )


def bare(relay: LocalRelay) -> str:
    return relay.url(USER, PASSWORD).replace(f":{quote(PASSWORD, safe='')}@", "@")


# -- SMTP --------------------------------------------------------------------------------------


def test_smtp_auth_failure(seen: Seen, relay_factory: RelayFactory) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    events: list[object] = []
    sender = Sender(relay.url(USER, WRONG), retry=FAST, on_event=events.append)
    seen.add(sender, sender.name, sender.async_sender.transport, *sender.async_sender.transports)
    with sender, pytest.raises(DeliveryFailed) as info:
        sender.send(message())
    seen.error(info.value)
    seen.add(*events)
    assert info.value.code == 535


def test_a_successful_send_with_debug_logging(seen: Seen, relay_factory: RelayFactory) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    with Sender(relay.url(USER, PASSWORD)) as sender:
        result = sender.send(message())
        seen.add(sender, result, *result.attempts)
    assert relay.wait_for(1)[0].login == USER


def test_delivery_failed_after_several_attempts(seen: Seen, relay_factory: RelayFactory) -> None:
    refusing = relay_factory(tls="starttls", require_auth=True)
    throttled = relay_factory(tls="implicit", require_auth=True, users={USER: RELAY_SECRET})
    throttled.mail_reply = "421 4.7.0 Try again later"
    events: list[object] = []
    with Sender(
        [refusing.url(USER, WRONG), throttled.url(USER, RELAY_SECRET)],
        retry=FAST,
        cooldown=0,
        on_event=events.append,
    ) as sender:
        seen.add(sender)
        with pytest.raises(DeliveryFailed) as info:
            sender.send(message())
    seen.error(info.value)
    seen.add(*events)
    assert len(info.value.attempts) == 4  # AUTH refused once, then 421 three times


def test_secrets_from_keyring_and_the_environment(
    seen: Seen,
    relay_factory: RelayFactory,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_keyring = relay_factory(tls="starttls", require_auth=True)
    from_env = relay_factory(tls="starttls", require_auth=True)
    memory_keyring.set_password(
        f"mailsdk:smtp://127.0.0.1:{from_keyring.port}", USER, KEYRING_SECRET
    )
    monkeypatch.setenv(f"MAILSDK_PASSWORD_SMTP_127_0_0_1_{from_env.port}", ENV_SECRET)
    monkeypatch.setenv("MAILSDK_URL", f"{bare(from_keyring)}, {bare(from_env)}")
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "1")
    with Sender.from_env() as sender:
        seen.add(sender, *sender.async_sender.transports, MailSettings.load())
        with pytest.raises(DeliveryFailed) as info:
            sender.send(message())
    seen.error(info.value)
    assert [a.code for a in info.value.attempts] == [535, 535]


# -- HTTP --------------------------------------------------------------------------------------


async def test_http_401_from_sendgrid(seen: Seen, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:sendgrid://default", "api-key", API_KEY)
    # The provider's error body quotes the key back, as some do: it must be scrubbed.
    body = {"errors": [{"message": f"The provided authorization grant {API_KEY} is invalid"}]}
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SENDGRID).mock(return_value=httpx.Response(401, json=body))
        for url in (f"sendgrid://{API_KEY}@default", "sendgrid://default"):
            async with AsyncSender(url, retry=FAST) as sender:
                seen.add(sender, sender.transport, *sender.transports)
                with pytest.raises(DeliveryFailed) as info:
                    await sender.send(message())
            seen.error(info.value)
            assert info.value.code == 401
    assert route.call_count == 2  # a 401 is not retried
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


# -- configuration -----------------------------------------------------------------------------

BAD_URLS = [
    f"smtp://{USER}:{URL_SECRET}@mail.example.com:99999",
    f"smtp://{USER}:{URL_SECRET}@mail.example.com:0",
    f"smtp://{USER}:{URL_SECRET}@mail.example.com?bogus=1",
    f"smtp://{USER}:{URL_SECRET}@mail.example.com?tls=sometimes",
    f"smtp://{USER}:{URL_SECRET}@mail.example.com?timeout=soon",
    f"smtp://{USER}:{URL_SECRET}@",
    f"smtp://{USER}:{URL_SECRET}@mail.example.com?tls=none",  # AUTH without TLS
    f"smtpx://{USER}:{URL_SECRET}@mail.example.com",
    f"{USER}:{URL_SECRET}@mail.example.com",
    f"smtp:/{USER}:{URL_SECRET}@mail.example.com",
    f"sendgrid://{URL_SECRET}@mars",
    f"sendgrid://{URL_SECRET}@default?bogus=1",
    f"mailgun://{URL_SECRET}@default",
    f"ses://AKID:{URL_SECRET}@mars",
    f"mailjet://{URL_SECRET}@default",
    f"smtp://{USER}:{URL_SECRET}@mail example.com",
    # Issue 10: a password holding '/', '?', '#' or ':' with no host after it, and an AWS
    # secret with '/' for an unknown region.
    f"smtp://alice:{URL_SECRET}/Summer",
    f"smtp://alice:{URL_SECRET}?x#y",
    f"ses://AKID:{URL_SECRET}/K7MDENG@mars",
    f"mailjet://PUBLIC:{URL_SECRET}/x@nowhere",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls(seen: Seen, url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Sender(url)
    seen.error(info.value)
    with pytest.raises(MailError) as again:
        transport_from_url(url)
    seen.error(again.value)
    if "://" in url:
        try:
            seen.add(parse_url(url))
        except ConfigurationError as exc:
            seen.error(exc)


def test_bad_settings(seen: Seen, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", f"smtp://{USER}:{URL_SECRET}@mail.example.com:0, nope")
    monkeypatch.setenv("MAILSDK_PASSWORD", ENV_SECRET)
    monkeypatch.setenv("MAILSDK_STRATEGY", URL_SECRET)  # a secret pasted in the wrong place
    with pytest.raises(ConfigurationError) as info:
        MailSettings.load()
    seen.error(info.value)
    monkeypatch.setenv("MAILSDK_STRATEGY", "failover")
    settings = MailSettings.load()
    seen.add(settings, settings.model_dump_json(exclude={"url", "relays"}))
    for call in (settings.transports, AsyncSender.from_env):
        with pytest.raises(ConfigurationError) as again:
            call()
        seen.error(again.value)


def test_keyring_backends_that_break(seen: Seen) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LeakyKeyring())
    try:
        with pytest.raises(ConfigurationError) as info:
            transport_from_url(f"smtp://{USER}@mail.example.com:587", environ={})
        seen.error(info.value)
        assert (
            seen.cli(
                "credentials",
                "set",
                "smtp://u@h.example.com",
                "--stdin",
                input=f"{KEYRING_SECRET}\n",
            )
            == 1
        )
    finally:
        keyring.set_keyring(previous)


# -- the command line --------------------------------------------------------------------------


def test_the_command_line(
    seen: Seen, relay_factory: RelayFactory, memory_keyring: MemoryKeyring
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    send = ("send", "--from", "a@example.com", "--to", "b@example.com", "--subject", "s")
    assert seen.cli(*send, "--url", relay.url(USER, WRONG)) == 3
    assert seen.cli(*send, "--url", relay.url(USER, WRONG), "--json") == 3
    assert seen.cli(*send, "--url", relay.url(USER, PASSWORD), "--json") == 0
    assert seen.cli(*send, "--url", BAD_URLS[0]) == 1
    assert seen.cli(*send, "--url", BAD_URLS[8]) == 1
    assert seen.cli("check", relay.url(USER, WRONG), relay.url(USER, PASSWORD)) == 3
    assert seen.cli("check", f"sendgrid://{API_KEY}@default") == 0
    assert seen.cli("credentials", "set", bare(relay), "--stdin", input=f"{KEYRING_SECRET}\n") == 0
    assert seen.cli("credentials", "check", bare(relay)) == 0
    assert seen.cli("check", bare(relay)) == 3  # the keyring secret is the wrong one
    assert (
        seen.cli("credentials", "set", "sendgrid://default", input=f"{API_KEY}\n{API_KEY}\n") == 0
    )
    assert seen.cli("credentials", "set", relay.url(USER, WRONG), "--stdin", input="x\n") == 1
    Path("people.csv").write_text("email,name\nc@example.com,C\n", encoding="utf-8")
    Path("t.toml").write_text('subject = "Hi $name"\ntext = "x"\n', encoding="utf-8")
    assert (
        seen.cli(
            "send-many",
            "--csv",
            "people.csv",
            "--template",
            "t.toml",
            "--from",
            "a@example.com",
            "--url",
            relay.url(USER, WRONG),
        )
        == 3
    )
    seen.texts.append(Path("people-results.csv").read_text(encoding="utf-8"))


def test_the_check_itself_finds_a_leak() -> None:
    # The fixture's check must be able to fail: a secret in the gathered text is caught.
    gathered = Seen()
    gathered.add(base64.b64encode(f"\0{USER}\0{WRONG}".encode()).decode())
    everything = "\n".join(gathered.texts)
    assert any(form in everything for form in forms(WRONG))
    assert not any(form in everything for form in forms(API_KEY))
