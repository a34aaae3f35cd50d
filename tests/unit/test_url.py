"""Scheme records and the URL parser (mailsdk.url), written as a specification.

The user part of a URL ends at its last ``@``; the password starts at the first ``:`` in it and
may hold ``/ ? # : @`` unencoded. Where a URL cannot be read without guessing, the error says
what to percent-encode and quotes nothing of the secret.
"""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import SecretStr

from mailsdk import ConfigurationError, MemoryTransport, TransportURL
from mailsdk import url as mailsdk_url
from mailsdk.config import build_transport, transport_from_url
from mailsdk.url import (
    Scheme,
    needs_secret,
    parse_url,
    register_scheme,
    relay_name,
    scheme_record,
    shown_user,
    split_urls,
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailsdk_url, "_SCHEMES", dict(mailsdk_url._SCHEMES))


# -- passwords that look like other parts ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "password", "host", "port"),
    [
        (
            "smtp://alice:2024/Summer-Secret@host.example",
            "2024/Summer-Secret",
            "host.example",
            None,
        ),
        (
            "smtp://reports:Hunter2/xyz@mail.example.com:587",
            "Hunter2/xyz",
            "mail.example.com",
            587,
        ),
        ("smtp://u:a?b#c@mail.example.com", "a?b#c", "mail.example.com", None),
        ("smtp://u:p@ss:w@rd@mail.example.com:25", "p@ss:w@rd", "mail.example.com", 25),
        ("smtp://u:p%2Fw@mail.example.com", "p/w", "mail.example.com", None),
        ("smtp://u:@mail.example.com", "", "mail.example.com", None),
    ],
)
def test_the_user_part_ends_at_the_last_at(
    url: str, password: str, host: str, port: int | None
) -> None:
    parsed = parse_url(url)
    assert parsed.password == SecretStr(password)
    assert parsed.host == host
    assert parsed.port == port
    assert parsed.username == url.split("://")[1].split(":")[0]


def test_an_aws_secret_with_slashes() -> None:
    parsed = parse_url("ses://AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCY@eu-west-1")
    assert parsed.host == "eu-west-1"
    assert parsed.username == "AKIDEXAMPLE"
    assert parsed.password == SecretStr("wJalrXUtnFEMI/K7MDENG/bPxRfiCY")
    assert parsed.display() == "ses://***@eu-west-1"


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        # No '@': the password's start reads as a port, its '/' as a path.
        ("smtp://alice:Hunter2/xyz", "percent-encode '/' in the password as %2F"),
        ("smtp://alice:Hunter2", "port: must be a number"),
        # An '@' in an option value moves the split: refused, with what to encode.
        ("smtp://mail.example.com?local_hostname=a@b.example", "'@' in an option value as %40"),
        ("memory://user:Hunter2@x", "take no user name or password"),
    ],
)
def test_what_cannot_be_read_is_refused_with_what_to_do(url: str, advice: str) -> None:
    with pytest.raises(ConfigurationError, match=advice) as info:
        parse_url(url)
    assert "Hunter2" not in str(info.value)
    assert "local_hostname=a" not in str(info.value)


def test_an_api_key_in_the_user_part_is_the_secret() -> None:
    for url in ("sendgrid://SG.k/e?y@default", "sendgrid://:SG.k/e?y@default"):
        parsed = parse_url(url)
        assert parsed.username is None
        assert parsed.password == SecretStr("SG.k/e?y")
        assert not needs_secret(parsed)
        assert "SG.k" not in repr(parsed)
        assert parsed.display() == "sendgrid://default"


def test_a_hash_is_data_not_a_fragment() -> None:
    assert parse_url("smtp://u:pw#1@h.example?tls=none").query == {"tls": "none"}


def test_comma_lists_never_split_inside_a_secret_option(registry: None) -> None:
    register_scheme(
        Scheme("vault", lambda u: MemoryTransport(), user="none", secret_options=("token",))
    )
    # Up to the next '&', everything belongs to the secret (a secret may hold ", smtp://").
    assert split_urls("vault://h?token=a, smtp://x@y, memory://") == [
        "vault://h?token=a, smtp://x@y, memory://"
    ]
    assert split_urls("vault://h?token=a&b=1, memory://") == ["vault://h?token=a&b=1", "memory://"]
    assert split_urls("memory://, vault://h?token=a") == ["memory://", "vault://h?token=a"]
    assert split_urls("vault://h?a=1, smtp://x@y") == ["vault://h?a=1", "smtp://x@y"]


def test_a_secret_option_is_never_shown(registry: None) -> None:
    register_scheme(
        Scheme("vault", lambda u: MemoryTransport(), user="none", secret_options=("token",))
    )
    parsed = parse_url("vault://h?token=abc%26def&timeout=soon")
    assert parsed.option("token") == "abc&def"
    assert "abc" not in repr(parsed)
    with pytest.raises(ConfigurationError) as info:
        parsed.number("timeout", 1.0)
    assert "soon" not in str(info.value)
    with pytest.raises(ConfigurationError, match="not named") as unknown:
        parse_url("vault://h?token=abc&def").check_options(["token"])
    assert "def" not in str(unknown.value)


# -- records -----------------------------------------------------------------------------------


def test_every_built_in_record_says_what_its_scheme_is() -> None:
    smtp = scheme_record("smtp")
    ses = scheme_record("ses")
    sendgrid = scheme_record("sendgrid")
    memory = scheme_record("memory")
    assert smtp is not None
    assert (smtp.user, smtp.credential, smtp.network) == ("login", "password", True)
    assert ses is not None
    assert (ses.user, ses.credential, ses.extra, ses.user_label) == (
        "key_id",
        "password",
        "ses",
        "ACCESS_KEY_ID",
    )
    assert sendgrid is not None
    assert (sendgrid.user, sendgrid.credential) == ("key", "key")
    assert memory is not None
    assert (memory.network, memory.credential) == (False, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        smtp.network = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("smtp://h", 587),
        ("smtp://h?tls=implicit", 465),
        ("smtp://h?tls=none", 25),
        ("smtps://h", 465),
        ("smtp://h:2525", 2525),
        ("sendgrid://default", None),
    ],
)
def test_the_default_port_comes_from_the_record(url: str, port: int | None) -> None:
    assert parse_url(url).effective_port() == port


def test_register_scheme_takes_a_record_or_the_short_form(registry: None) -> None:
    built: list[TransportURL] = []

    def factory(url: TransportURL) -> MemoryTransport:
        built.append(url)
        return MemoryTransport(url.display())

    record = register_scheme(
        Scheme("relay", factory, default_port=2525, credential="password", network=True)
    )
    assert scheme_record("relay") is record
    transport = transport_from_url("relay://ops:pw/1@relay.example", environ={})
    assert transport.name == "relay://ops@relay.example"
    assert built[0].effective_port() == 2525
    short = register_scheme("quick", factory, secret="key")
    assert (short.user, short.credential) == ("key", "key")


def test_an_unknown_scheme_shows_no_user_part() -> None:
    parsed = parse_url("smtpx://someone:pw@h.example")
    assert parsed.display() == "smtpx://***@h.example"
    with pytest.raises(ConfigurationError, match="unknown scheme 'smtpx'"):
        build_transport(parsed)


def test_a_missing_extra_is_named(registry: None) -> None:
    register_scheme(Scheme("needy", "mailsdk_not_installed_module:T", extra="needy"))
    with pytest.raises(ConfigurationError, match=r"pip install 'mailsdk\[needy\]'"):
        transport_from_url("needy://x")


# -- display names -----------------------------------------------------------------------------


def test_relay_name_is_the_one_display_name() -> None:
    assert (
        relay_name("smtp", "mail.example.com", 587, user="a@b")
        == "smtp://a%40b@mail.example.com:587"
    )
    assert relay_name("smtp", "::1", 25) == "smtp://[::1]:25"
    assert relay_name("console") == "console://"
    assert relay_name("file", path="/var/mail") == "file:///var/mail"
    assert shown_user(scheme_record("smtp"), "reports") == "reports"
    assert shown_user(scheme_record("mailjet"), "PUBLIC") == "***"
    assert shown_user(scheme_record("smtp"), None) is None


def test_transports_name_themselves_with_it() -> None:
    smtp = transport_from_url("smtp://a%40b:pw@Mail.Example.com:587")
    assert smtp.name == parse_url("smtp://a%40b@mail.example.com:587").display()
    assert transport_from_url("sendgrid://k@default").name == "sendgrid://default"
    assert transport_from_url("console://").name == "console://"
    assert transport_from_url("file:///tmp/out").name == "file:///tmp/out"
