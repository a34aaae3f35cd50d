"""Transport URLs and the scheme registry (mailsdk.config), written as a specification.

Parsing is pure and validated (pydantic): every error names the bad part of the URL and never
quotes its secret. The registry knows every built-in scheme and where each one's secret goes.
"""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import SecretStr

from mailsdk import ConfigurationError, MailError, MemoryTransport, SMTPTransport
from mailsdk import url as mailsdk_url
from mailsdk.config import (
    TransportURL,
    needs_secret,
    parse_url,
    register_scheme,
    registered_schemes,
    scheme_record,
    secret_kind,
    split_urls,
    transport_from_url,
    transports_from_urls,
)
from mailsdk.transports.base import Transport

SECRET = "pa55-w0rd-never-shown"


@pytest.fixture(autouse=True)
def _no_secret_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own MAILSDK_PASSWORD_* must not fill in secrets these tests leave out.
    import os

    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)


# -- parsing ---------------------------------------------------------------------------------


def test_a_full_smtp_url_is_split_into_its_parts() -> None:
    url = parse_url(f"smtp://alice%40example.com:{SECRET}@Mail.Example.com:587?timeout=5")
    assert url.scheme == "smtp"
    assert url.host == "mail.example.com"
    assert url.port == 587
    assert url.username == "alice@example.com"
    assert url.password == SecretStr(SECRET)
    assert url.query == {"timeout": "5"}


def test_the_password_never_shows_in_repr_or_display() -> None:
    url = parse_url(f"smtp://alice:{SECRET}@mail.example.com:587")
    assert SECRET not in repr(url)
    assert SECRET not in str(url)
    assert url.display() == "smtp://alice@mail.example.com:587"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # The key is the secret: it is read into the password slot, and nothing shows.
        (f"sendgrid://{SECRET}@default", "sendgrid://default"),
        (f"mailgun://{SECRET}@mg.example.com", "mailgun://mg.example.com"),
        (f"ses://AKIDEXAMPLE:{SECRET}@eu-west-1", "ses://***@eu-west-1"),
        (f"mailjet://PUBLICKEY:{SECRET}@default", "mailjet://***@default"),
        (f"smtp://reports:{SECRET}@mail.example.com", "smtp://reports@mail.example.com"),
    ],
)
def test_display_hides_an_api_key_in_the_user_part(url: str, shown: str) -> None:
    assert parse_url(url).display() == shown


def test_a_percent_encoded_password_is_decoded() -> None:
    url = parse_url("smtp://alice:p%40ss%2Fw%3Ard@mail.example.com")
    assert url.password is not None
    assert url.password.get_secret_value() == "p@ss/w:rd"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        (f"alice:{SECRET}@mail.example.com", "not a URL"),
        (f"smtp://alice:{SECRET}@mail.example.com:99999", "port: must be a number between 1"),
        (f"smtp://alice:{SECRET}@mail.example.com:0", "port: must be a number between 1"),
        (f"smtp://alice:{SECRET}@mail.example.com:smtp", "port: must be a number between 1"),
        (f"smtp://alice:{SECRET}@mail%20example.com", "host: must not contain white space"),
        (f"smtp://al%0Aice:{SECRET}@mail.example.com", "username: must not contain control"),
        (f"smtp://alice:{SECRET}@mail.example.com?a=1&a=2", "option 'a' given twice"),
        (f"smtp://alice:{SECRET}@mail.example.com?x=%0D", "an option contains a control"),
        (f"1smtp://alice:{SECRET}@mail.example.com", "not a URL|invalid scheme"),
    ],
)
def test_bad_urls_name_the_bad_part_and_never_the_secret(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        parse_url(url)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert info.value.__cause__ is None  # no chained pydantic error quoting the input
    assert isinstance(info.value, MailError)
    assert isinstance(info.value, ValueError)


def test_the_dataclass_validates_on_replace_too() -> None:
    url = parse_url("smtp://mail.example.com:587")
    with pytest.raises(ValueError, match="port"):
        dataclasses.replace(url, port=70000)
    assert dataclasses.replace(url, host="other.example.com").host == "other.example.com"


def test_comma_separated_urls_split_only_before_a_scheme() -> None:
    urls = "smtp://a:p,w@one.example.com:587, smtps://two.example.com ,memory://"
    assert split_urls(urls) == [
        "smtp://a:p,w@one.example.com:587",
        "smtps://two.example.com",
        "memory://",
    ]
    assert split_urls(["memory://", "console://, file:///tmp/x"]) == [
        "memory://",
        "console://",
        "file:///tmp/x",
    ]


# -- the registry ----------------------------------------------------------------------------

PROVIDERS = [
    "sendgrid",
    "mailgun",
    "postmark",
    "ses",
    "resend",
    "brevo",
    "sparkpost",
    "mailjet",
    "mailtrap",
    "mailersend",
]


def test_every_built_in_scheme_is_registered() -> None:
    expected = {"smtp", "smtps", "memory", "file", "console", *PROVIDERS}
    assert expected <= set(registered_schemes())


@pytest.mark.parametrize("scheme", PROVIDERS)
def test_each_provider_entry_points_at_a_transport_class(scheme: str) -> None:
    import importlib

    record = scheme_record(scheme)
    assert record is not None
    assert isinstance(record.target, str)
    assert record.network
    assert record.credential is not None
    module, _, name = record.target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Transport)
    assert cls.scheme == scheme


def test_a_provider_url_with_its_key_builds_its_transport() -> None:
    transport = transport_from_url(f"postmark://{SECRET}@default")
    assert type(transport).__name__ == "PostmarkTransport"
    assert SECRET not in transport.name
    assert SECRET not in repr(transport)


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown scheme 'smtpx'.*known: .*sendgrid"):
        transport_from_url(f"smtpx://alice:{SECRET}@mail.example.com")


def test_a_registered_factory_receives_the_parsed_url(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[TransportURL] = []

    def factory(url: TransportURL) -> Transport:
        seen.append(url)
        return MemoryTransport()

    monkeypatch.setattr(mailsdk_url, "_SCHEMES", dict(mailsdk_url._SCHEMES))
    register_scheme("outbox", factory)
    assert isinstance(transport_from_url("outbox://queue?x=1"), MemoryTransport)
    assert seen[0].host == "queue"
    assert secret_kind("outbox") is None


def test_register_scheme_refuses_bad_names_and_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailsdk_url, "_SCHEMES", dict(mailsdk_url._SCHEMES))
    with pytest.raises(ConfigurationError, match="invalid scheme"):
        register_scheme("Not A Scheme", "x:Y")
    with pytest.raises(ConfigurationError, match="secret must be"):
        register_scheme("good", "x:Y", secret="token")  # type: ignore[arg-type]


def test_transports_from_urls_builds_one_per_url() -> None:
    transports = transports_from_urls("memory://, console://")
    assert [type(t).__name__ for t in transports] == ["MemoryTransport", "ConsoleTransport"]
    with pytest.raises(ConfigurationError, match="no transport URL"):
        transports_from_urls("")


# -- which URLs lack a secret ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "lacking"),
    [
        ("smtp://reports@mail.example.com:587", True),  # a login without its password
        (f"smtp://reports:{SECRET}@mail.example.com:587", False),
        ("smtp://reports:@mail.example.com:587", False),  # an explicitly empty password
        ("smtp://mail.example.com:25", False),  # no login: no AUTH, nothing to look up
        ("smtps://reports@mail.example.com", True),
        ("sendgrid://default", True),  # no API key at all
        (f"sendgrid://{SECRET}@default", False),  # the key in the user part
        (f"sendgrid://:{SECRET}@default", False),  # the key in the password part
        ("mailgun://mg.example.com", True),
        ("mailjet://PUBLICKEY@default", True),  # the API key without its secret key
        ("mailjet://default", False),  # names no key: the transport says what is missing
        ("ses://AKIDEXAMPLE@eu-west-1", True),  # an access key id without its secret
        ("ses://eu-west-1", False),  # botocore's credential chain
        ("memory://", False),
        ("console://", False),
    ],
)
def test_needs_secret(url: str, lacking: bool) -> None:
    assert needs_secret(parse_url(url)) is lacking


def test_secret_kinds_of_the_built_in_schemes() -> None:
    assert secret_kind("smtp") == secret_kind("smtps") == "password"
    assert secret_kind("mailjet") == secret_kind("ses") == "password"
    assert all(secret_kind(s) == "key" for s in PROVIDERS if s not in ("mailjet", "ses"))
    assert secret_kind("memory") is None


def test_a_url_with_its_secret_is_built_without_any_look_up() -> None:
    # The default keyring here is keyring's "fail" backend: a look-up would raise.
    transport = transport_from_url(f"smtp://reports:{SECRET}@mail.example.com:587")
    assert isinstance(transport, SMTPTransport)
    assert transport.username == "reports"


def test_a_url_without_its_secret_takes_it_from_its_environment_variable() -> None:
    environ = {"MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587": SECRET}
    transport = transport_from_url("smtp://reports@mail.example.com:587", environ=environ)
    assert isinstance(transport, SMTPTransport)
    assert transport._password == SecretStr(SECRET)
