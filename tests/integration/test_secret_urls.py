"""No part of a secret in a URL ever shows, whatever characters it holds (a property).

A random secret of printable characters is put in every position of a URL where a secret
goes: an SMTP password, a provider's API key in the user part, a key id (Mailjet's API key,
an AWS access key id) in the user part, a password beside it, and a query option a scheme
declares secret. Each URL is written raw (the secret's ``/ ? # : @ & %`` unencoded) and
percent-encoded, then fed to every way a URL enters mailsdk: ``parse_url``, ``Sender(...)``,
``MailSettings`` (keywords and ``MAILSDK_URL`` in the environment, as ``from_env`` reads it),
``Sender.from_env``, the Django and Flask settings checks, and the command line (``check``,
``credentials check``, ``credentials set``). Everything a user could see is gathered: ``str``
and ``repr`` of results and errors, their tracebacks, the settings' ``vars()`` and JSON dump,
every log record, and the command's output. No 4-character piece of the secret may appear in
it (pieces that are words mailsdk itself prints for any secret are not held against it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import traceback
from collections.abc import Callable, Iterator
from functools import cache
from urllib.parse import quote

import keyring
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailsdk import MailError, Sender
from mailsdk import url as mailsdk_url
from mailsdk.cli import cli
from mailsdk.config import parse_url
from mailsdk.settings import MailSettings
from mailsdk.transports.memory import MemoryTransport
from mailsdk.url import Scheme, TransportURL
from tests.keyrings import MemoryKeyring

# Printable: no control, surrogate or separator characters (a URL cannot carry those raw).
_PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
# Half the secrets are dense in the characters that delimit a URL's parts.
_DELIMITERS = st.sampled_from("/?#:@&=%,[]+; ") | st.characters(min_codepoint=33, max_codepoint=126)
SECRETS = (
    st.text(_PRINTABLE, min_size=4, max_size=24) | st.text(_DELIMITERS, min_size=4, max_size=24)
).filter(lambda s: s == s.strip())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = _closed_port()  # `mailsdk check` connects here and is refused at once: no network


def _vault(url: TransportURL) -> MemoryTransport:
    url.check_options(("token", "timeout"))
    url.number("timeout", 30.0)
    return MemoryTransport(url.display())


# A scheme whose query carries a secret (as an OAuth or webhook scheme would).
VAULT = Scheme(
    "vault", _vault, user="none", secret_options=("token",), network=False, credential=None
)

POSITIONS: dict[str, Callable[[str], str]] = {
    "smtp password": lambda s: f"smtp://alice:{s}@127.0.0.1:{CLOSED}",
    "smtps password": lambda s: f"smtps://reports:{s}@127.0.0.1:{CLOSED}?timeout=2",
    "api key in the user part": lambda s: f"sendgrid://{s}@default",
    "api key in the password part": lambda s: f"postmark://:{s}@default",
    "api key with a domain": lambda s: f"mailgun://{s}@mg.example.com?region=eu",
    "mailjet key id": lambda s: f"mailjet://{s}:Other-Secret-Value@default",
    "mailjet secret key": lambda s: f"mailjet://PUBLICKEY:{s}@default",
    "aws access key id": lambda s: f"ses://{s}:Aws-Secret-Key@eu-west-1",
    "aws secret key": lambda s: f"ses://AKIDEXAMPLE:{s}@eu-west-1",
    "secret option": lambda s: f"vault://relay.example.com?token={s}&timeout=5",
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(record.exc_info[1])))


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("MAILSDK_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith("MAILSDK_")]:
            del os.environ[name]
        os.environ.update(saved)


class Seen:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: object) -> None:
        for item in items:
            self.texts.extend([str(item), repr(item)])

    def error(self, exc: BaseException) -> None:
        self.add(exc)
        self.texts.append("".join(traceback.format_exception(exc)))
        for attr in ("relay", "server_text", "message"):
            self.add(getattr(exc, attr, None))

    def attempt(self, call: Callable[[], object]) -> object:
        try:
            result = call()
        except (MailError, ValueError) as exc:  # ConfigurationError is both
            self.error(exc)
            return None
        self.add(result)
        return result


def _exercise(url: str) -> str:
    """Feed *url* to every entry point; return everything shown."""
    seen = Seen()
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    # Our loggers and the libraries that see credentials at DEBUG (botocore's own chatter is
    # left at its level: it never sees the URL).
    loggers = [logging.getLogger(n) for n in ("mailsdk", "aiosmtplib", "httpx", "keyring")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        parsed = seen.attempt(lambda: parse_url(url))
        if isinstance(parsed, TransportURL):
            seen.add(parsed.display())
        sender = seen.attempt(lambda: Sender(url))
        if isinstance(sender, Sender):
            seen.add(sender.name, *sender.async_sender.transports)
            sender.close()
        loaded = seen.attempt(lambda: MailSettings.load(url=url, config_file=False, env_file=None))
        if isinstance(loaded, MailSettings):
            seen.add(vars(loaded), loaded.model_dump(), loaded.model_dump_json())
            seen.attempt(loaded.transports)
        with _environment(MAILSDK_URL=url, MAILSDK_PASSWORD="unused-fallback-9Zq"):
            from_env = seen.attempt(lambda: MailSettings.load(config_file=False, env_file=None))
            if isinstance(from_env, MailSettings):
                seen.add(vars(from_env), from_env.model_dump_json())
            env_sender = seen.attempt(Sender.from_env)
            if isinstance(env_sender, Sender):
                env_sender.close()
            runner = CliRunner()
            for args in (
                ["check", url, "--timeout", "2"],
                ["check", "--json", url] if False else ["credentials", "check", url],
                ["credentials", "set", url, "--stdin"],
            ):
                result = runner.invoke(cli, args, input="stored-Secret-1\n", prog_name="mailsdk")
                seen.texts.extend([result.stdout, result.stderr])
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    seen.error(result.exception)
        _frameworks(url, seen)
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    seen.texts.extend(handler.texts)
    return "\n".join(seen.texts)


def _frameworks(url: str, seen: Seen) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from flask import Flask

    from mailsdk.integrations import _django_backend
    from mailsdk.integrations.flask import Mail

    try:
        _django_backend._check_urls(url, None)
    except ImproperlyConfigured as exc:
        seen.error(exc)
    app = Flask("secrets")
    app.config.update(MAILSDK_URL=url, TESTING=False)
    seen.attempt(lambda: Mail(app))


@cache
def _vocabulary() -> str:
    """What mailsdk prints for neutral secrets in every position: its own words."""
    neutral = ["NeutralValue", "zz/zz?zz#zz:zz@zz&zz=zz%zz,zz", "a b"]
    return "\n".join(_exercise(make(s)) for make in POSITIONS.values() for s in neutral)


def _leaks(secret: str, shown: str) -> list[str]:
    vocabulary = _vocabulary()
    grams = {secret[i : i + 4] for i in range(len(secret) - 3)}
    return sorted(g for g in grams if g not in vocabulary and g in shown)


@pytest.fixture(autouse=True, scope="module")
def _isolated() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    saved = dict(mailsdk_url._SCHEMES)
    mailsdk_url.register_scheme(VAULT)
    cwd = os.getcwd()
    try:
        yield
    finally:
        os.chdir(cwd)
        mailsdk_url._SCHEMES.clear()
        mailsdk_url._SCHEMES.update(saved)
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _empty_directory(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))  # no mailsdk.toml, pyproject.toml or .env of ours


@pytest.mark.parametrize("position", sorted(POSITIONS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=SECRETS, encoded=st.booleans())
@example(secret="2024/Summer-Secret", encoded=False)  # issue 10: host alice, port 2024
@example(secret="Hunter2/xyz", encoded=False)  # issue 10: urllib quoted 'Hunter2'
@example(secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", encoded=False)  # an AWS secret
@example(secret="p?ss#w@rd:x", encoded=False)
@example(secret="abcd&efgh=ijkl", encoded=False)  # '&' in a secret option
@example(secret="abcd@efgh.ijkl", encoded=False)  # '@' in a secret option
@example(secret="k3y, smtp://x", encoded=False)  # a comma and a scheme inside the secret
def test_no_piece_of_a_secret_shows(position: str, secret: str, encoded: bool) -> None:
    written = quote(secret, safe="") if encoded else secret
    shown = _exercise(POSITIONS[position](written))
    assert shown.strip()
    assert _leaks(secret, shown) == []


def test_the_check_finds_a_leak() -> None:
    # The property can fail: a secret that shows is caught.
    shown = _exercise("smtp://alice@127.0.0.1:1?tls=none&x=Leaky-Value-77")
    assert _leaks("Leaky-Value-77", shown) != []
