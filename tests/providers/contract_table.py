"""The provider contract table: one row per HTTP provider transport, read by test_contract.py.

A row is data: how to build the transport and its URL, the endpoint and the headers a request
must carry, a documented success reply and the id in it, an error reply in the provider's own
shape, the provider's documented error bodies with the class each maps to, what it cannot
express, and its URLs good and bad. The contract suite runs the same checks over every row
(request shape and spec, success, status classes, timeouts, deadline, secrets, URLs, registry),
so a provider's own test file keeps only what is particular to it. A new provider adds one row.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from _pytest.mark.structures import ParameterSet
from schemas import resend_validator, sendgrid_validator, ses_validator

from mailsdk import (
    Attachment,
    MailError,
    OutgoingMessage,
    PermanentError,
    RelayError,
    TransientError,
)
from mailsdk.transports.http.base import HTTPTransport
from mailsdk.transports.http.brevo import BrevoTransport
from mailsdk.transports.http.mailersend import MailerSendTransport
from mailsdk.transports.http.mailgun import MailgunTransport
from mailsdk.transports.http.mailjet import MailjetTransport
from mailsdk.transports.http.mailtrap import MailtrapTransport
from mailsdk.transports.http.postmark import PostmarkTransport
from mailsdk.transports.http.resend import ResendTransport
from mailsdk.transports.http.sendgrid import SendGridTransport
from mailsdk.transports.http.ses import SESTransport
from mailsdk.transports.http.sparkpost import SparkPostTransport

Reply = Callable[[int, str, Mapping[str, str]], httpx.Response]
Post = Callable[..., Awaitable[respx.Route]]
Refused = Callable[[OutgoingMessage, str], Awaitable[None]]
"""The ``refused`` fixture: ``await refused(outgoing, match)``."""
"""The ``post`` fixture: ``await post(**message_fields)`` sends through the module's transport."""
Outcome = tuple[httpx.Response, bool]  # a reply, and whether it is a delivery


@dataclass(frozen=True)
class Row:
    """One provider's contract: what the suite sends, expects and refuses."""

    scheme: str
    make: Callable[[str], HTTPTransport]
    """The transport, given the secret under test (the key the suite checks never leaks)."""
    endpoint: str
    """Where a send goes with the default settings."""
    relay: str
    """The transport's name for those settings."""
    credentials: str
    """The URL's user part, ``{key}`` standing for the secret."""
    host: str
    success: Callable[[], httpx.Response]
    provider_id: str | None
    auth: Callable[[str], Mapping[str, str]]
    """The headers that carry the credentials, given the secret."""
    fail: Reply
    """An error reply in the provider's documented shape whose text says ``text``."""
    errors: Sequence[ParameterSet]
    """Documented error replies: ``(status, body, headers, error, text[, retry_after])``,
    or ``(reply, error, retry_after)`` whose text :attr:`error_text` derives."""
    unsupported: Sequence[tuple[dict[str, Any], str]]
    urls: Sequence[tuple[str, Mapping[str, Any]]]
    """URLs (``{key}`` for the secret) and attributes of the transport each builds."""
    bad_urls: Sequence[tuple[str, str]]
    registry: tuple[str, Mapping[str, Any]]
    """A URL, and attributes of the transport that the scheme registry builds from it."""
    message: Mapping[str, Any] = field(default_factory=dict)
    """Overrides that make the full test message one this provider can send."""
    success_text: str | None = None
    """The attempt's text when the provider's success reply says one."""
    derived: Callable[[str], list[str]] = lambda key: []
    """Secrets derived from the key (a Basic token): never shown either."""
    classes: Mapping[int, type[MailError]] = field(default_factory=dict)
    """Statuses this provider classes otherwise than DESIGN.md's table."""
    error_text: Callable[[httpx.Response], str] | None = None
    idempotent: bool = False
    """A request carries an idempotency key: a lost reply is transient, not unknown."""
    outcomes: Callable[[str], list[Outcome]] = lambda key: []
    """Further replies that carry the secret (refusals, 2xx failures) for the secrets check."""
    spec: tuple[str, Callable[[Any], Callable[[Any], Any]]] | None = None
    """A description in ``shared/specs`` and how to turn it into a body check."""
    password_slot: bool = True
    """The key may also sit in the URL's password slot."""
    regions: Sequence[tuple[str, str]] = ()
    """URLs of other regions (``{key}`` for the secret) and the endpoint each posts to."""
    may_chain: bool = False
    """A refused URL may chain the library error behind it (botocore's, for SES)."""
    isolate: Callable[[pytest.MonkeyPatch, Path], None] | None = None
    tracking: tuple[Callable[[httpx.Request], Any], Any] | None = None
    """Where a request carries ``track_opens=True, track_clicks=False``, and what it holds
    there; None for a provider without per-message tracking (``unsupported`` refuses it)."""
    option: tuple[Mapping[str, Any], Callable[[httpx.Request], Any], Any] | None = None
    """A ``provider_options`` entry of the provider's own fields, where the request carries
    it, and what that part holds then (the options merged with what mailsdk built)."""

    @property
    def url(self) -> str:
        """The row's URL with ``{key}`` left to fill."""
        return f"{self.scheme}://{self.credentials}@{self.host}"

    def secrets(self, key: str) -> list[str]:
        """Every value that must never show."""
        return [key, *self.derived(key)]


MESSAGE_ID = "<20260101120000.4242@example.com>"
"""The full test message's own Message-ID (conftest ``make_message``)."""
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
"""Its envelope recipients: To, Cc, then Bcc."""


PLAIN: dict[str, Any] = {
    "attachments": [],
    "cc": [],
    "bcc": [],
    "reply_to": [],
    "tags": [],
    "metadata": {},
    "headers": {},
}
"""Overrides that leave the full message only its sender, To recipients, subject and bodies."""


def bodies(text: str = "text", html: str = "html") -> dict[str, str]:
    """The full message's subject and bodies, its bodies under the keys *text* and *html*."""
    return {
        "subject": "Your March report",
        text: "Hello Alice,\nyour report is attached.",
        html: '<p>Hello Alice,</p><img src="cid:logo@example.com">',
    }


def tags(name: str = "name", value: str = "value") -> list[dict[str, str]]:
    """The full message's tags, metadata and Message-ID as the name/value tags Resend and SES
    take (*name* and *value* spelled as the API spells them)."""
    pairs = [
        ("reports", "true"),
        ("monthly", "true"),
        ("account_id", "42"),
        ("plan", "pro"),
        # Our Message-ID without <>, in base64url: the only characters tags take.
        ("mailsdk_message_id", "MjAyNjAxMDExMjAwMDAuNDI0MkBleGFtcGxlLmNvbQ"),
    ]
    return [{name: n, value: v} for n, v in pairs]


def contacts(
    email: str = "email",
    name: str = "name",
    *,
    rename: Mapping[str, str] | None = None,
    jane: str = "Doe, Jane",
) -> dict[str, Any]:
    """The full message's people as a JSON API lists them: ``from``, ``to``, ``cc``, ``bcc``
    and ``reply_to`` (renamed as *rename* says), each an object with *email* and *name* keys."""

    def person(address: str, display: str = "") -> dict[str, str]:
        return {email: address, name: display} if display else {email: address}

    people = {
        "from": person("reports@example.com", "Reports Bot"),
        "to": [person("alice@example.com", "Alice Example"), person("jane@example.org", jane)],
        "cc": [person("carol@example.net")],
        "bcc": [person("audit@example.com")],
        "reply_to": person("support@example.com", "Support"),
    }
    return {(rename or {}).get(key, key): value for key, value in people.items()}


def b64(data: bytes) -> str:
    """Base64 text, as the JSON bodies carry attachments."""
    return base64.b64encode(data).decode()


def sent_json(route: Any, index: int = -1) -> Any:
    """The JSON body of a respx route's call (the last by default)."""
    return json.loads(route.calls[index].request.content)


def body(request: httpx.Request) -> Any:
    """A request's JSON body."""
    return json.loads(request.content)


def form_fields(request: httpx.Request, *names: str) -> dict[str, list[str]]:
    """The values of the multipart form fields *names* (not files) of a request."""
    found: dict[str, list[str]] = {}
    for name in names:
        marker = f'name="{name}"\r\n\r\n'.encode()
        for chunk in request.content.split(marker)[1:]:
            found.setdefault(name, []).append(chunk.split(b"\r\n--", 1)[0].decode())
    return found


def tag_id(message_id: str) -> str:
    """A Message-ID as SES and Resend tags carry it: without ``<>``, unpadded base64url."""
    return base64.urlsafe_b64encode(message_id.strip("<>").encode()).decode().rstrip("=")


def json_request(route: Any, *, accepts_json: bool = False) -> tuple[httpx.Request, Any]:
    """The last request of a respx route, checked to carry JSON (and, with *accepts_json*, to
    ask for JSON back), and its body."""
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    if accepts_json:
        assert request.headers["Accept"] == "application/json"
    return request, json.loads(request.content)


def assert_rendered_in_full(raw: bytes) -> None:
    """*raw*, the full test message rendered, carries every header and part, and no Bcc."""
    assert b"\r\nBcc:" not in raw
    assert b"audit@example.com" not in raw
    for piece in (
        b"From: Reports Bot <reports@example.com>",
        b'To: Alice Example <alice@example.com>, "Doe, Jane" <jane@example.org>',
        b"Cc: carol@example.net",
        b"Reply-To: Support <support@example.com>",
        f"Message-ID: {MESSAGE_ID}".encode(),
        b"X-Campaign: spring-2026",
        b"Content-ID: <logo@example.com>",
        b'filename="report.pdf"',
    ):
        assert piece in raw


def basic(user: str, password: str) -> str:
    """The token of ``Authorization: Basic``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- SendGrid ----------------------------------------------------------------------------

SENDGRID_ID = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"


def sendgrid_accepted(message_id: str = SENDGRID_ID) -> httpx.Response:
    """SendGrid's ``202``: no body, the id in ``X-Message-Id``."""
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def sendgrid_errors(message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


SENDGRID_ERRORS = [
    pytest.param(
        400,
        sendgrid_errors(
            "The to array is required for all personalization objects, and must have at "
            "least one email object with a valid email address.",
            "personalizations.0.to",
        ),
        {},
        PermanentError,
        "personalizations.0.to: The to array is required",
        id="400-validation",
    ),
    pytest.param(
        401,
        sendgrid_errors("The provided authorization grant is invalid, expired, or revoked"),
        {},
        RelayError,
        "The provided authorization grant is invalid",
        id="401-bad-key",
    ),
    pytest.param(
        403,
        sendgrid_errors(
            "The from address does not match a verified Sender Identity. Mail cannot be sent "
            "until this error is resolved.",
            "from",
        ),
        {},
        RelayError,
        "from: The from address does not match a verified Sender Identity",
        id="403-unverified-sender",
    ),
    pytest.param(
        403,
        sendgrid_errors("Too many bad requests. Temporary block."),
        {},
        TransientError,
        "Temporary block",
        id="403-temporary-block",
    ),
    pytest.param(
        413, sendgrid_errors("content too large"), {}, PermanentError, "content too large", id="413"
    ),
    pytest.param(
        429,
        sendgrid_errors("too many requests"),
        {"Retry-After": "7"},
        TransientError,
        "too many requests",
        id="429",
    ),
    pytest.param(
        500, sendgrid_errors("internal error"), {}, TransientError, "internal error", id="500"
    ),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


SENDGRID = Row(
    scheme="sendgrid",
    tracking=(
        lambda r: body(r)["tracking_settings"],
        {"open_tracking": {"enable": True}, "click_tracking": {"enable": False}},
    ),
    option=(
        {
            "ip_pool_name": "transactional",
            "mail_settings": {"bypass_list_management": {"enable": True}},
        },
        lambda r: {k: body(r).get(k) for k in ("ip_pool_name", "mail_settings", "categories")},
        {
            "ip_pool_name": "transactional",
            "mail_settings": {"bypass_list_management": {"enable": True}},
            "categories": ["reports", "monthly"],
        },
    ),
    make=SendGridTransport,
    endpoint="https://api.sendgrid.com/v3/mail/send",
    relay="sendgrid://default",
    credentials="{key}",
    host="default",
    success=sendgrid_accepted,
    provider_id=SENDGRID_ID,
    auth=lambda key: {"Authorization": f"Bearer {key}"},
    fail=lambda status, text, headers: httpx.Response(
        status, json=sendgrid_errors(text), headers=headers
    ),
    errors=SENDGRID_ERRORS,
    unsupported=[
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"tags": [f"t{i}" for i in range(11)]}, "11 tags"),
        ({"tags": ["x" * 256]}, "longer than 255"),
        # custom_args: at most 10,000 bytes, our mailsdk_message_id included.
        ({"metadata": {"big": "x" * 9950}}, r"bytes of metadata \(at most 10000\)"),
        ({"from_": "bücher@example.com"}, "non-ASCII local part"),
        ({"to": [f"r{i}@example.com" for i in range(1000)]}, "1002 recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    urls=[
        (
            "sendgrid://{key}@default",
            {"base_url": "https://api.sendgrid.com", "timeout": 30.0, "name": "sendgrid://default"},
        ),
        (
            "sendgrid://{key}@eu",
            {"base_url": "https://api.eu.sendgrid.com", "name": "sendgrid://eu"},
        ),
        ("sendgrid://{key}@default?timeout=12.5", {"timeout": 12.5, "name": "sendgrid://default"}),
        (
            "sendgrid://{key}@default?base_url=http://127.0.0.1:8025/sg/",
            {
                "base_url": "http://127.0.0.1:8025/sg",
                "timeout": 30.0,
                "name": "sendgrid://127.0.0.1",
            },
        ),
    ],
    bad_urls=[
        ("sendgrid://{key}@default?bogus=1", "unknown option"),
        ("sendgrid://{key}@default?timeout=soon", "not a positive number"),
        ("sendgrid://{key}@mars", "unknown region 'mars'"),
        ("sendgrid://default", "no API key"),
    ],
    registry=(
        "sendgrid://{key}@eu",
        {"name": "sendgrid://eu"},
    ),
    spec=("sendgrid.json", lambda spec: sendgrid_validator(spec).validate),
    regions=[("sendgrid://{key}@eu", "https://api.eu.sendgrid.com/v3/mail/send")],
)


# -- Mailgun -----------------------------------------------------------------------------

DOMAIN = "mg.example.com"
MAILGUN_ID = "<20260101120001.25659.5817@mg.example.com>"


def mailgun_queued(message_id: str = MAILGUN_ID) -> httpx.Response:
    """Mailgun's ``200``."""
    return httpx.Response(200, json={"id": message_id, "message": "Queued. Thank you."})


MAILGUN_ERRORS = [
    pytest.param(
        400,
        {"message": "'from' parameter is not a valid address. please check documentation"},
        {},
        PermanentError,
        "'from' parameter is not a valid address",
        id="400-validation",
    ),
    pytest.param(
        400,
        {
            "message": f"Domain {DOMAIN} is not allowed to send: The domain is unverified and "
            "requires DNS configuration. Log in to your control panel to view required DNS "
            "records."
        },
        {},
        RelayError,
        "is not allowed to send: The domain is unverified",
        id="400-domain-not-allowed",
    ),
    pytest.param(401, "Forbidden", {}, RelayError, "Forbidden", id="401-bad-key"),
    pytest.param(
        402,
        {"message": "Request Failed - Parameters were valid but request failed"},
        {},
        RelayError,
        "Parameters were valid but request failed",
        id="402",
    ),
    pytest.param(
        403,
        {"message": f"Domain {DOMAIN} is not allowed to send large batches yet"},
        {},
        RelayError,
        "not allowed to send large batches yet",
        id="403",
    ),
    pytest.param(
        404,
        {"message": f"Domain not found: {DOMAIN}"},
        {},
        RelayError,
        f"Domain not found: {DOMAIN} (is {DOMAIN} on https://api.mailgun.net? check region=)",
        id="404-wrong-region",
    ),
    pytest.param(
        413,
        {"message": "request size exceeds 52.4MiB limit"},
        {},
        PermanentError,
        "request size exceeds 52.4MiB limit",
        id="413",
    ),
    pytest.param(
        429,
        {"message": "Too many requests"},
        {"Retry-After": "7"},
        TransientError,
        "Too many requests",
        id="429-retry-after",
    ),
    pytest.param(
        500, {"message": "Internal Server Error"}, {}, TransientError, "Internal", id="500"
    ),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


MAILGUN = Row(
    scheme="mailgun",
    tracking=(
        lambda r: form_fields(r, "o:tracking-opens", "o:tracking-clicks"),
        {"o:tracking-opens": ["yes"], "o:tracking-clicks": ["no"]},
    ),
    option=(
        {"o:testmode": "yes", "o:tag": ["billing"]},
        lambda r: form_fields(r, "o:testmode", "o:tag"),
        # A field the options name replaces mailsdk's: here the tags.
        {"o:testmode": ["yes"], "o:tag": ["billing"]},
    ),
    make=lambda key: MailgunTransport(key, DOMAIN),
    endpoint=f"https://api.mailgun.net/v3/{DOMAIN}/messages.mime",
    relay=f"mailgun://{DOMAIN}",
    credentials="{key}",
    host=DOMAIN,
    success=mailgun_queued,
    provider_id=MAILGUN_ID,  # angle brackets kept, as Mailgun's events show it
    success_text="Queued. Thank you.",
    auth=lambda key: {"Authorization": f"Basic {basic('api', key)}"},
    derived=lambda key: [basic("api", key)],
    fail=lambda status, text, headers: httpx.Response(
        status, json={"message": text}, headers=headers
    ),
    classes={404: RelayError},  # "Domain not found": usually the wrong region
    errors=MAILGUN_ERRORS,
    unsupported=[
        ({"tags": ["a", "b", "c", "d"]}, "4 tags"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
        ({"to": [f"r{i}@example.com" for i in range(999)]}, "1001 recipients"),
        ({"metadata": {"blob": "x" * 17000}}, "at most 16 kB"),
    ],
    outcomes=lambda key: [
        (httpx.Response(200, json={"id": MAILGUN_ID, "message": f"Queued. {key}"}), True)
    ],
    urls=[
        (
            f"mailgun://{{key}}@{DOMAIN}",
            {
                "base_url": "https://api.mailgun.net",
                "timeout": 30.0,
                "name": f"mailgun://{DOMAIN}",
                "domain": DOMAIN,
            },
        ),
        (
            f"mailgun://{{key}}@{DOMAIN}?region=us",
            {"base_url": "https://api.mailgun.net", "name": f"mailgun://{DOMAIN}"},
        ),
        (
            f"mailgun://{{key}}@{DOMAIN}?region=eu",
            {
                "base_url": "https://api.eu.mailgun.net",
                "name": f"mailgun://{DOMAIN}?region=eu",
                "region": "eu",
            },
        ),
        (
            f"mailgun://{{key}}@{DOMAIN}?timeout=12.5",
            {"timeout": 12.5, "name": f"mailgun://{DOMAIN}"},
        ),
        (
            f"mailgun://{{key}}@{DOMAIN}?base_url=http://127.0.0.1:8025/mg/",
            {
                "base_url": "http://127.0.0.1:8025/mg",
                "name": f"mailgun://{DOMAIN}?base_url=127.0.0.1",
            },
        ),
        (
            f"mailgun://{{key}}@{DOMAIN}?region=eu&ca_file=/etc/ssl/corp.pem",
            {"ca_file": "/etc/ssl/corp.pem", "region": "eu"},
        ),
        (f"mailgun://:{{key}}@{DOMAIN}?region=eu", {"region": "eu"}),
    ],
    bad_urls=[
        (f"mailgun://{{key}}@{DOMAIN}?bogus=1", "unknown option"),
        (f"mailgun://{{key}}@{DOMAIN}?timeout=soon", "not a positive number"),
        (f"mailgun://{{key}}@{DOMAIN}?region=mars", "unknown region 'mars'"),
        ("mailgun://{key}@default", "'default' is not a sending domain"),
        (f"mailgun://{DOMAIN}", "no API key"),
    ],
    registry=(
        f"mailgun://{{key}}@{DOMAIN}?region=eu",
        {"name": f"mailgun://{DOMAIN}?region=eu"},
    ),
)


# -- Postmark ----------------------------------------------------------------------------

POSTMARK_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
INACTIVE_TAIL = (
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
)


def postmark_ok(message: str = "OK", **extra: Any) -> httpx.Response:
    """Postmark's ``200`` for ``/email``."""
    body = {
        "To": "alice@example.com",
        "SubmittedAt": "2026-01-01T12:00:00.0000000-05:00",
        "MessageID": POSTMARK_ID,
        "ErrorCode": 0,
        "Message": message,
        **extra,
    }
    return httpx.Response(200, json=body)


POSTMARK_ERRORS = [
    pytest.param(
        401,
        {
            "ErrorCode": 10,
            "Message": "The Server Token you provided in the X-Postmark-Server-Token"
            " request header was invalid. Please verify that you are using a valid token.",
        },
        {},
        RelayError,
        "ErrorCode 10: The Server Token you provided",
        id="401-bad-token",
    ),
    pytest.param(
        422,
        {
            "ErrorCode": 300,
            "Message": "Invalid 'From' address: 'reports@example.com' is not a verified sender "
            "signature.",
        },
        {},
        RelayError,
        "ErrorCode 300: Invalid 'From' address",
        id="422-300-unverified-sender",
    ),
    pytest.param(
        422,
        {"ErrorCode": 300, "Message": "Error parsing 'Cc': Illegal email address 'carol'."},
        {},
        PermanentError,
        "ErrorCode 300: Error parsing 'Cc'",
        id="422-300-invalid-request",
    ),
    pytest.param(
        422,
        {"ErrorCode": 401, "Message": "Sender signature not confirmed."},
        {},
        RelayError,
        "ErrorCode 401: Sender signature not confirmed",
        id="422-401-signature",
    ),
    pytest.param(
        422,
        {"ErrorCode": 405, "Message": "Not allowed to send. You have run out of credits."},
        {},
        RelayError,
        "ErrorCode 405: Not allowed to send",
        id="422-405-no-credits",
    ),
    pytest.param(
        422,
        {"ErrorCode": 412, "Message": "Account is pending approval."},
        {},
        RelayError,
        "ErrorCode 412",
        id="422-412-pending",
    ),
    pytest.param(
        422,
        {"ErrorCode": 411, "Message": "Forbidden attachment type: 'setup.exe'."},
        {},
        PermanentError,
        "ErrorCode 411: Forbidden attachment type",
        id="422-411-attachment",
    ),
    pytest.param(
        422,
        {"ErrorCode": 100, "Message": "Maintenance. The API is down for maintenance."},
        {},
        TransientError,
        "ErrorCode 100: Maintenance",
        id="422-100-maintenance",
    ),
    pytest.param(
        413,
        "Request exceeded Postmark's size limit of 10 MB for our Email API.",
        {},
        PermanentError,
        "size limit of 10 MB",
        id="413",
    ),
    pytest.param(
        429,
        {"ErrorCode": 429, "Message": "Rate limit exceeded."},
        {"Retry-After": "7"},
        TransientError,
        "ErrorCode 429: Rate limit exceeded",
        id="429",
    ),
    pytest.param(
        500,
        "Internal Server Error",
        {},
        TransientError,
        "Internal Server Error",
        id="500",
    ),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


POSTMARK = Row(
    scheme="postmark",
    tracking=(
        lambda r: {k: body(r)[k] for k in ("TrackOpens", "TrackLinks")},
        {"TrackOpens": True, "TrackLinks": "None"},
    ),
    option=(
        {"MessageStream": "broadcast", "Metadata": {"tenant": "acme"}},
        lambda r: {k: body(r)[k] for k in ("MessageStream", "Metadata")},
        {
            "MessageStream": "broadcast",
            "Metadata": {
                "account_id": "42",
                "plan": "pro",
                "mailsdk_message_id": MESSAGE_ID,
                "tenant": "acme",
            },
        },
    ),
    make=PostmarkTransport,
    endpoint="https://api.postmarkapp.com/email",
    relay="postmark://default",
    credentials="{key}",
    host="default",
    message={"tags": []},  # Postmark keeps one tag
    success=postmark_ok,
    provider_id=POSTMARK_ID,
    success_text="OK",
    auth=lambda key: {"X-Postmark-Server-Token": key},
    fail=lambda status, text, headers: httpx.Response(
        status, json={"ErrorCode": 300, "Message": text}, headers=headers
    ),
    errors=POSTMARK_ERRORS,
    unsupported=[
        ({"tags": ["reports", "monthly"]}, "2 tags"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 to recipients"),
        ({"bcc": [f"r{i}@example.com" for i in range(51)]}, "51 bcc recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    outcomes=lambda key: [
        (
            postmark_ok(
                "Message OK, but will not deliver to these inactive addresses: "
                f"audit@example.com. {INACTIVE_TAIL} {key}"
            ),
            True,
        ),
        (
            httpx.Response(
                422,
                json={
                    "ErrorCode": 406,
                    "Message": "Found inactive addresses: alice@example.com. "
                    f"{INACTIVE_TAIL} {key}",
                },
            ),
            False,
        ),
        (httpx.Response(200, json={"ErrorCode": 405, "Message": f"echo {key}"}), False),
    ],
    urls=[
        (
            "postmark://{key}@default",
            {
                "base_url": "https://api.postmarkapp.com",
                "timeout": 30.0,
                "name": "postmark://default",
                "message_stream": "outbound",
            },
        ),
        (
            "postmark://{key}@default?message_stream=outbound&timeout=5",
            {"timeout": 5.0, "message_stream": "outbound"},
        ),
        ("postmark://{key}@default?message_stream=broadcast", {"message_stream": "broadcast"}),
        (
            "postmark://{key}@default?base_url=http://127.0.0.1:8025/pm/",
            {
                "base_url": "http://127.0.0.1:8025/pm",
                "name": "postmark://127.0.0.1",
                "message_stream": "outbound",
            },
        ),
        (
            "postmark://{key}@default?message_stream=broadcast&ca_file=/etc/ssl/corp.pem",
            {"ca_file": "/etc/ssl/corp.pem", "message_stream": "broadcast"},
        ),
    ],
    bad_urls=[
        ("postmark://{key}@default?stream=outbound", "unknown option"),
        ("postmark://{key}@default?timeout=soon", "not a positive number"),
        ("postmark://{key}@eu", "unknown region 'eu'"),
        ("postmark://default", "no API key"),
    ],
    registry=(
        "postmark://{key}@default?message_stream=broadcast",
        {"message_stream": "broadcast"},
    ),
)


# -- Amazon SES v2 -----------------------------------------------------------------------

SES_ID = "0100019a2b3c4d5e-6f7a8b9c-1d2e-3f4a-5b6c-7d8e9f0a1b2c-000000"
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
_AWS_CODES = {400: "BadRequestException", 403: "AccessDeniedException", 404: "NotFoundException"}


def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """botocore's chain must see only what a test gives it: no real files, env or IMDS."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def ses_accepted(message_id: str = SES_ID) -> httpx.Response:
    """SES's ``200 {"MessageId": ...}``."""
    return httpx.Response(
        200, json={"MessageId": message_id}, headers={"x-amzn-RequestId": "a1b2c3d4"}
    )


def aws_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    # SES v2 (rest-json) names the error in x-amzn-ErrorType, with a ":<namespace>" suffix.
    error_type = f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
    return httpx.Response(
        status,
        json={"message": message},
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": "r-1", **(headers or {})},
    )


SES_ERRORS = [
    pytest.param(
        aws_error(
            400,
            "MessageRejected",
            "Email address is not verified. The following "
            "identities failed the check in region US-EAST-1: alice@example.com",
        ),
        RelayError,
        None,
        id="400-sandbox-unverified",
    ),
    pytest.param(
        aws_error(400, "MessageRejected", "Illegal header 'X-Bad'."),
        PermanentError,
        None,
        id="400-message-rejected",
    ),
    pytest.param(
        aws_error(400, "BadRequestException", "Invalid configuration set name."),
        PermanentError,
        None,
        id="400-bad-request",
    ),
    pytest.param(
        aws_error(400, "ThrottlingException", "Maximum sending rate exceeded."),
        TransientError,
        None,
        id="400-send-rate",
    ),
    pytest.param(
        aws_error(400, "ThrottlingException", "Daily message quota exceeded."),
        TransientError,
        3600.0,
        id="400-daily-quota",
    ),
    pytest.param(
        aws_error(400, "LimitExceededException", "Too many requests."),
        TransientError,
        None,
        id="400-limit-exceeded",
    ),
    pytest.param(
        aws_error(400, "AccountSuspendedException", "Your account has been suspended."),
        RelayError,
        None,
        id="400-account-suspended",
    ),
    pytest.param(
        aws_error(400, "SendingPausedException", "Sending is paused for this account."),
        RelayError,
        None,
        id="400-sending-paused",
    ),
    pytest.param(
        aws_error(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified."),
        RelayError,
        None,
        id="400-mail-from-domain",
    ),
    pytest.param(
        aws_error(
            400,
            "RequestExpired",
            "Signature expired: 20150830T123600Z is now "
            "earlier than 20150830T125600Z (20150830T130100Z - 5 min.)",
        ),
        TransientError,
        None,
        id="400-signature-expired",
    ),
    pytest.param(
        aws_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        RelayError,
        None,
        id="403-bad-key",
    ),
    pytest.param(
        aws_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
        RelayError,
        None,
        id="403-signature",
    ),
    pytest.param(
        aws_error(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/app is "
            "not authorized to perform: ses:SendRawEmail",
        ),
        RelayError,
        None,
        id="403-iam",
    ),
    pytest.param(
        aws_error(404, "NotFoundException", "Configuration set <transactional> does not exist."),
        RelayError,
        None,
        id="404-configuration-set",
    ),
    pytest.param(
        aws_error(429, "TooManyRequestsException", "Too many requests.", {"Retry-After": "2"}),
        TransientError,
        2.0,
        id="429",
    ),
    pytest.param(
        aws_error(500, "InternalFailure", "The request processing has failed."),
        TransientError,
        None,
        id="500",
    ),
    pytest.param(
        aws_error(503, "ServiceUnavailable", "Service is unable to handle request."),
        TransientError,
        None,
        id="503",
    ),
]


def _aws_text(reply: httpx.Response) -> str:
    code = reply.headers["x-amzn-ErrorType"].split(":")[0]
    return f"{code}: {reply.json()['message']}"


SES = Row(
    scheme="ses",
    option=(
        {"ConfigurationSetName": "marketing"},
        lambda r: body(r)["ConfigurationSetName"],
        "marketing",  # the transport's own "transactional" is overridden
    ),
    # The key under test plays the AWS secret key.
    make=lambda key: SESTransport(AKID, key, region="us-east-1", configuration_set="transactional"),
    endpoint="https://email.us-east-1.amazonaws.com/v2/email/outbound-emails",
    relay="ses://us-east-1",
    credentials=f"{AKID}:{{key}}",
    host="us-east-1",
    message={"envelope_from": "bounces@example.com"},
    success=ses_accepted,
    provider_id=SES_ID,
    auth=lambda key: {},  # SigV4: test_ses.py checks the signature independently
    derived=lambda key: [AKID],
    fail=lambda status, text, headers: aws_error(
        status, _AWS_CODES.get(status, "InternalFailure"), text, dict(headers)
    ),
    classes={404: RelayError},  # NotFoundException: a configuration set or identity is missing
    errors=SES_ERRORS,
    error_text=_aws_text,
    unsupported=[
        # Tracking is set per configuration set at this provider: neither value can be honoured.
        ({"track_opens": False}, "per-message open or click tracking"),
        ({"track_clicks": True}, "per-message open or click tracking"),
        ({"to": ["bücher@example.com"]}, "non-ASCII local part"),
        ({"to": [f"r{i}@example.com" for i in range(49)]}, "51 recipients"),
        ({"tags": ["with space"]}, "tag text 'with space'"),
        ({"metadata": {"plan": "pro+"}}, "tag text 'pro\\+'"),
        ({"tags": ["x" * 257]}, "at most 256"),
        ({"tags": ["plan"], "metadata": {"plan": "pro"}}, "both named 'plan'"),
    ],
    urls=[
        (
            f"ses://{AKID}:{{key}}@us-east-1",
            {"base_url": "https://email.us-east-1.amazonaws.com", "name": "ses://us-east-1"},
        ),
        (
            f"ses://{AKID}:{SECRET.replace('/', '%2F')}@us-east-1",
            {"name": "ses://us-east-1", "secrets": [AKID, SECRET]},
        ),
        (
            "ses://eu-west-1",
            {
                "base_url": "https://email.eu-west-1.amazonaws.com",
                "name": "ses://eu-west-1",
                "secrets": [],
            },
        ),
        (
            "ses://us-gov-west-1?timeout=5",
            {
                "base_url": "https://email.us-gov-west-1.amazonaws.com",
                "name": "ses://us-gov-west-1",
                "timeout": 5.0,
                "secrets": [],
            },
        ),
        (
            "ses://us-east-1?base_url=http://127.0.0.1:4566/",
            {"base_url": "http://127.0.0.1:4566", "name": "ses://127.0.0.1", "secrets": []},
        ),
        ("ses://eu-west-1?ca_file=/etc/ssl/corp.pem", {"ca_file": "/etc/ssl/corp.pem"}),
    ],
    bad_urls=[
        (f"ses://{AKID}:{{key}}@us-east-1?bogus=1", "unknown option"),
        (f"ses://{AKID}@us-east-1", "ACCESS_KEY:SECRET"),
        ("ses://:{key}@us-east-1", "ACCESS_KEY:SECRET"),
        (f"ses://{AKID}:{{key}}@mars", "not an AWS region"),
        (f"ses://{AKID}:{{key}}@us-east-1?profile=mail", "profile="),
        ("ses://default", "no region"),
        ("ses://default?profile=nope", "nope"),
        ("ses://us-east-1?timeout=soon", "not a positive number"),
    ],
    registry=(
        f"ses://{AKID}:{SECRET.replace('/', '%2F')}@eu-west-2",
        {"name": "ses://eu-west-2"},
    ),
    spec=("ses.json", ses_validator),
    password_slot=False,
    may_chain=True,  # a botocore lookup error (an unknown profile) may stand behind a refusal
    isolate=no_ambient_aws,
)


# -- Resend ------------------------------------------------------------------------------

RESEND_ID = "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"


def resend_ok(email_id: str = RESEND_ID) -> httpx.Response:
    """Resend's ``200 {"id": ...}``."""
    return httpx.Response(200, json={"id": email_id})


def resend_error(status: int, name: str, message: str) -> dict[str, Any]:
    """Resend's error body."""
    return {"statusCode": status, "message": message, "name": name}


RESEND_ERRORS = [
    pytest.param(
        400,
        resend_error(400, "validation_error", "Invalid `to` field. Please use our testing email."),
        {},
        PermanentError,
        "validation_error: Invalid `to` field",
        id="400-validation",
    ),
    pytest.param(
        400,
        resend_error(400, "validation_error", "API key is invalid"),
        {},
        RelayError,
        "validation_error: API key is invalid",
        id="400-malformed-key",
    ),
    pytest.param(
        401,
        resend_error(401, "missing_api_key", "Missing API key in the authorization header."),
        {},
        RelayError,
        "missing_api_key: Missing API key",
        id="401-missing-key",
    ),
    pytest.param(
        403,
        resend_error(403, "invalid_api_key", "API key is invalid."),
        {},
        RelayError,
        "invalid_api_key: API key is invalid",
        id="403-bad-key",
    ),
    pytest.param(
        403,
        resend_error(
            403,
            "validation_error",
            "The example.com domain is not verified. Please, add and verify your domain on "
            "https://resend.com/domains",
        ),
        {},
        RelayError,
        "validation_error: The example.com domain is not verified",
        id="403-unverified-domain",
    ),
    pytest.param(
        404,
        resend_error(404, "not_found", "The requested endpoint does not exist."),
        {},
        RelayError,
        "not_found: The requested endpoint does not exist.",
        id="404",
    ),
    pytest.param(
        409,
        resend_error(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload.",
        ),
        {},
        PermanentError,
        "invalid_idempotent_request",
        id="409-different-payload",
    ),
    pytest.param(
        409,
        resend_error(
            409,
            "concurrent_idempotent_requests",
            "Same idempotency key used while original request is still in progress.",
        ),
        {},
        TransientError,
        "concurrent_idempotent_requests",
        id="409-in-progress",
    ),
    pytest.param(
        413, "Request Entity Too Large", {}, PermanentError, "Request Entity Too Large", id="413"
    ),
    pytest.param(
        422,
        resend_error(
            422,
            "invalid_from_address",
            "Invalid `from` field. The email address needs to follow the `email@example.com` or "
            "`Name <email@example.com>` format.",
        ),
        {},
        PermanentError,
        "invalid_from_address: Invalid `from` field",
        id="422-from",
    ),
    pytest.param(
        429,
        resend_error(
            429,
            "rate_limit_exceeded",
            "Too many requests. You can only make 2 requests per second.",
        ),
        {"Retry-After": "1", "ratelimit-reset": "1"},
        TransientError,
        "rate_limit_exceeded: Too many requests",
        id="429-rate",
    ),
    pytest.param(
        429,
        resend_error(
            429, "daily_quota_exceeded", "You have reached your daily email sending quota."
        ),
        {},
        RelayError,
        "daily_quota_exceeded",
        id="429-daily-quota",
    ),
    pytest.param(
        451,
        resend_error(451, "security_error", "The email payload contain invalid characters."),
        {},
        RelayError,
        "security_error",
        id="451",
    ),
    pytest.param(
        500,
        resend_error(500, "application_error", "An unexpected error occurred."),
        {},
        TransientError,
        "application_error: An unexpected error occurred.",
        id="500",
    ),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


RESEND = Row(
    scheme="resend",
    option=(
        {"scheduled_at": "2026-12-05T09:00:00Z"},
        lambda r: body(r)["scheduled_at"],
        "2026-12-05T09:00:00Z",
    ),
    make=ResendTransport,
    endpoint="https://api.resend.com/emails",
    relay="resend://default",
    credentials="{key}",
    host="default",
    success=resend_ok,
    provider_id=RESEND_ID,
    auth=lambda key: {"Authorization": f"Bearer {key}"},
    fail=lambda status, text, headers: httpx.Response(
        status, json=resend_error(status, "validation_error", text), headers=headers
    ),
    classes={404: RelayError},  # a wrong base_url, not this message's fault
    errors=RESEND_ERRORS,
    idempotent=True,
    unsupported=[
        # Tracking is set per domain at this provider: neither value can be honoured.
        ({"track_opens": False}, "per-message open or click tracking"),
        ({"track_clicks": True}, "per-message open or click tracking"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 To recipients"),
        ({"from_": '"Reports, Inc." <reports@example.com>'}, "From display name"),
        ({"from_": "bücher@example.com"}, "non-ASCII local part"),
        ({"bcc": ["bücher@example.com"]}, "non-ASCII local part"),
        ({"tags": ["monthly report"]}, "'monthly report'"),
        ({"metadata": {"email": "a@example.com"}}, "'a@example.com'"),
        ({"tags": ["plan"], "metadata": {"plan": "pro"}}, "both named 'plan'"),
        # 73 tags, the two metadata keys and our mailsdk_message_id
        ({"tags": [f"t{i}" for i in range(73)]}, "76 tags and metadata keys"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
        (
            {
                "attachments": [
                    Attachment(filename="data.txt", content=b"a,b", content_type="text/csv")
                ]
            },
            "would type it text/plain",
        ),
    ],
    urls=[
        (
            "resend://{key}@default",
            {"base_url": "https://api.resend.com", "timeout": 30.0, "name": "resend://default"},
        ),
        ("resend://{key}@default?timeout=12.5", {"timeout": 12.5}),
        (
            "resend://{key}@default?base_url=http://127.0.0.1:8025/rs/",
            {"base_url": "http://127.0.0.1:8025/rs", "name": "resend://127.0.0.1"},
        ),
    ],
    bad_urls=[
        ("resend://{key}@default?bogus=1", "unknown option"),
        ("resend://{key}@default?timeout=soon", "not a positive number"),
        ("resend://{key}@eu", "unknown region 'eu'"),
        ("resend://default", "no API key"),
    ],
    registry=(
        "resend://{key}@default",
        {"name": "resend://default"},
    ),
    spec=("resend.yaml", lambda spec: resend_validator(spec).validate),
)


# -- Brevo -------------------------------------------------------------------------------

BREVO_ID = "<202601011200.12345678901@smtp-relay.mailin.fr>"
PDF = Attachment(filename="report.pdf", content=b"%PDF-1.4 fake", content_type="application/pdf")


def brevo_created(message_id: str = BREVO_ID) -> httpx.Response:
    """Brevo's ``201 {"messageId": ...}``."""
    return httpx.Response(201, json={"messageId": message_id})


LOGO = Attachment(filename="logo.png", content=b"\x89PNG fake", inline=True, cid="logo@example.com")


def brevo_error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


BREVO_ERRORS = [
    pytest.param(
        400,
        brevo_error("invalid_parameter", "email is not valid in to"),
        {},
        PermanentError,
        "invalid_parameter: email is not valid in to",
        id="400-invalid-parameter",
    ),
    pytest.param(
        400,
        brevo_error("missing_parameter", "sender is missing"),
        {},
        PermanentError,
        "missing_parameter: sender is missing",
        id="400-missing-parameter",
    ),
    pytest.param(
        401,
        brevo_error("unauthorized", "Key not found"),
        {},
        RelayError,
        "unauthorized: Key not found",
        id="401-bad-key",
    ),
    pytest.param(
        402,
        brevo_error("not_enough_credits", "Not enough credit, plan upgrade needed"),
        {},
        RelayError,
        "not_enough_credits: Not enough credit",
        id="402-no-credits",
    ),
    pytest.param(
        403,
        brevo_error(
            "permission_denied",
            "Unable to send email. Your SMTP account is not yet activated.",
        ),
        {},
        RelayError,
        "permission_denied: Unable to send email",
        id="403-not-activated",
    ),
    pytest.param(
        400,
        brevo_error("account_under_validation", "Your account is under validation"),
        {},
        RelayError,
        "account_under_validation",
        id="400-account-under-validation",
    ),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        429,
        brevo_error("too_many_requests", "The expected rate limit is exceeded."),
        {"Retry-After": "7"},
        TransientError,
        "The expected rate limit is exceeded.",
        id="429",
    ),
    pytest.param(500, brevo_error("internal_error", "oops"), {}, TransientError, "oops", id="500"),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


BREVO = Row(
    scheme="brevo",
    option=(
        {"scheduledAt": "2026-12-05T09:00:00+00:00", "headers": {"X-Tenant": "acme"}},
        lambda r: (
            body(r)["scheduledAt"],
            body(r)["headers"]["X-Tenant"],
            "idempotencyKey" in body(r)["headers"],
        ),
        ("2026-12-05T09:00:00+00:00", "acme", True),
    ),
    make=BrevoTransport,
    endpoint="https://api.brevo.com/v3/smtp/email",
    relay="brevo://default",
    credentials="{key}",
    host="default",
    message={"attachments": [PDF]},  # Brevo takes no inline images
    success=brevo_created,
    provider_id=BREVO_ID,
    auth=lambda key: {"api-key": key},
    fail=lambda status, text, headers: httpx.Response(
        status, json=brevo_error("invalid_parameter", text), headers=headers
    ),
    errors=BREVO_ERRORS,
    idempotent=True,
    unsupported=[
        # Tracking is set per account at this provider: neither value can be honoured.
        ({"track_opens": False}, "per-message open or click tracking"),
        ({"track_clicks": True}, "per-message open or click tracking"),
        ({"attachments": [PDF, LOGO]}, "inline images"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"html": None}, "without an HTML body"),
        ({"html": ""}, "without an HTML body"),
        ({"subject": ""}, "without a subject"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"headers": {"X-Note": "café"}}, "non-ASCII characters in the X-Note header"),
        ({"metadata": {"city": "Zürich"}}, "non-ASCII characters in metadata"),
        ({"headers": {"X-Mailin-custom": "x"}}, "metadata together with an X-Mailin-custom"),
        (
            {"attachments": [Attachment(filename="run.exe", content=b"MZ")]},
            "'run.exe' \\(Brevo refuses that file type\\)",
        ),
        (
            {"attachments": [Attachment(filename="notes", content=b"x")]},
            "'notes' \\(Brevo refuses that file type\\)",
        ),
        (
            {"attachments": [Attachment(filename="a.txt", content=b"x", content_type="text/csv")]},
            "as text/csv",
        ),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    outcomes=lambda key: [
        (httpx.Response(400, json=brevo_error("duplicate_parameter", f"key {key}")), False)
    ],
    urls=[
        (
            "brevo://{key}@default",
            {"base_url": "https://api.brevo.com", "timeout": 30.0, "name": "brevo://default"},
        ),
        ("brevo://{key}@default?timeout=12.5", {"timeout": 12.5}),
        (
            "brevo://{key}@default?base_url=http://127.0.0.1:8025/brevo/",
            {"base_url": "http://127.0.0.1:8025/brevo", "name": "brevo://127.0.0.1"},
        ),
    ],
    bad_urls=[
        ("brevo://{key}@default?bogus=1", "unknown option"),
        ("brevo://{key}@default?timeout=soon", "not a positive number"),
        ("brevo://{key}@eu", "unknown region 'eu'"),
        ("brevo://default", "no API key"),
    ],
    registry=(
        "brevo://{key}@default",
        {"name": "brevo://default"},
    ),
)


# -- SparkPost ---------------------------------------------------------------------------

TRANSMISSION_ID = "11668787484950529"


def sparkpost_accepted(total: int = 4, rejected: int = 0, **extra: Any) -> httpx.Response:
    """SparkPost's ``200`` with the transmission's counts."""
    results = {
        "total_rejected_recipients": rejected,
        "total_accepted_recipients": total - rejected,
        "id": TRANSMISSION_ID,
        **extra,
    }
    return httpx.Response(200, json={"results": results})


def sparkpost_partial(errors: list[dict[str, str]], rejected: int) -> httpx.Response:
    """transmissions.apib: a 200 that created the transmission "but with validation errors"."""
    return httpx.Response(
        200,
        json={
            "errors": [
                {"message": "transmission created, but with validation errors", "code": "2000"}
            ],
            "results": {
                "rcpt_to_errors": errors,
                "total_rejected_recipients": rejected,
                "total_accepted_recipients": 4 - rejected,
                "id": TRANSMISSION_ID,
            },
        },
    )


def sparkpost_errors(message: str, code: str | None = None, description: str | None = None) -> Any:
    error = {"message": message}
    error.update({k: v for k, v in (("code", code), ("description", description)) if v})
    return {"errors": [error]}


SPARKPOST_ERRORS = [
    pytest.param(
        400,
        sparkpost_errors("Invalid domain", "7001", "Unconfigured or unverified sending domain."),
        {},
        RelayError,
        "Invalid domain: Unconfigured or unverified sending domain. (code 7001)",
        None,
        id="400-unverified-domain",
    ),
    pytest.param(
        400,
        sparkpost_errors("invalid data format/type", "1300", "Content is not valid RFC822 MIME"),
        {},
        PermanentError,
        "invalid data format/type: Content is not valid RFC822 MIME (code 1300)",
        None,
        id="400-bad-content",
    ),
    pytest.param(
        401, sparkpost_errors("Unauthorized."), {}, RelayError, "Unauthorized.", None, id="401"
    ),
    pytest.param(
        403,
        sparkpost_errors("Forbidden.", description="API key lacks transmissions:modify"),
        {},
        RelayError,
        "Forbidden.: API key lacks transmissions:modify",
        None,
        id="403",
    ),
    pytest.param(
        404,
        sparkpost_errors("resource not found", "1600", "Resource not found"),
        {},
        RelayError,
        "resource not found: Resource not found (code 1600)",
        None,
        id="404",
    ),
    pytest.param(
        413,
        "<html><body>413 Request Entity Too Large</body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        None,
        id="413-html",
    ),
    pytest.param(
        422,
        sparkpost_errors("required field is missing", "1400", "recipients is a required field"),
        {},
        PermanentError,
        "required field is missing: recipients is a required field (code 1400)",
        None,
        id="422",
    ),
    pytest.param(
        420,
        sparkpost_errors("Exceed Sending Limit (hourly)", "2101"),
        {},
        TransientError,
        "Exceed Sending Limit (hourly) (code 2101)",
        3600.0,
        id="420-hourly",
    ),
    pytest.param(
        420,
        sparkpost_errors("Exceed Sending Limit (daily)", "2102"),
        {},
        TransientError,
        "Exceed Sending Limit (daily)",
        86400.0,
        id="420-daily",
    ),
    pytest.param(
        420,
        sparkpost_errors("Exceed Sending Limit (sandbox)", "2103"),
        {},
        RelayError,
        "Exceed Sending Limit (sandbox)",
        None,
        id="420-sandbox",
    ),
    pytest.param(
        429,
        sparkpost_errors("Too many requests"),
        {"Retry-After": "3"},
        TransientError,
        "Too many requests",
        3.0,
        id="429",
    ),
    pytest.param(
        500,
        sparkpost_errors("internal error"),
        {},
        TransientError,
        "internal error",
        None,
        id="500",
    ),
    pytest.param(
        503,
        sparkpost_errors("Service Unavailable", description="higher than normal levels of traffic"),
        {"Retry-After": "30"},
        TransientError,
        "Service Unavailable: higher than normal levels of traffic",
        30.0,
        id="503",
    ),
]


SPARKPOST = Row(
    scheme="sparkpost",
    tracking=(
        lambda r: body(r)["options"],
        {"open_tracking": True, "click_tracking": False},
    ),
    option=(
        {"campaign_id": "spring", "options": {"transactional": True}},
        lambda r: (body(r)["campaign_id"], body(r)["options"]),
        ("spring", {"transactional": True}),
    ),
    make=SparkPostTransport,
    endpoint="https://api.sparkpost.com/api/v1/transmissions",
    relay="sparkpost://default",
    credentials="{key}",
    host="default",
    success=sparkpost_accepted,
    provider_id=TRANSMISSION_ID,
    auth=lambda key: {"Authorization": key},
    fail=lambda status, text, headers: httpx.Response(
        status, json=sparkpost_errors(text), headers=headers
    ),
    classes={404: RelayError},  # an unknown resource: the base_url is wrong
    errors=SPARKPOST_ERRORS,
    unsupported=[
        ({"subject": "Hello {{name}}"}, "template language"),
        ({"html": "<p>{{{ raw }}}</p>"}, "template language"),
        ({"text": "a }} b"}, "template language"),
        ({"headers": {"X-Note": "{{x}}"}}, "template language"),
        ({"to": ["{{who}} <alice@example.com>"]}, "template language"),
        ({"tags": [f"t{i}" for i in range(11)]}, "11 tags"),
        ({"metadata": {"blob": "x" * 1000}}, "bytes of metadata"),
    ],
    outcomes=lambda key: [
        (sparkpost_partial([{"message": f"echo {key}", "code": "1300"}], 1), True)
    ],
    urls=[
        (
            "sparkpost://{key}@default",
            {
                "base_url": "https://api.sparkpost.com/api/v1",
                "name": "sparkpost://default",
                "subaccount": None,
            },
        ),
        (
            "sparkpost://{key}@eu",
            {"base_url": "https://api.eu.sparkpost.com/api/v1", "name": "sparkpost://eu"},
        ),
        (
            "sparkpost://{key}@default?region=eu",
            {"base_url": "https://api.eu.sparkpost.com/api/v1", "name": "sparkpost://eu"},
        ),
        (
            "sparkpost://{key}@eu?region=eu&subaccount=42",
            {"name": "sparkpost://eu", "subaccount": "42"},
        ),
        (
            "sparkpost://{key}@default?base_url=https://sparkpost.example.com/api/v1&timeout=5",
            {
                "base_url": "https://sparkpost.example.com/api/v1",
                "name": "sparkpost://sparkpost.example.com",
                "timeout": 5.0,
            },
        ),
        ("sparkpost://{key}@eu?ca_file=/etc/ssl/corp.pem", {"ca_file": "/etc/ssl/corp.pem"}),
    ],
    bad_urls=[
        ("sparkpost://{key}@default?bogus=1", "unknown option"),
        ("sparkpost://{key}@eu?region=default", "disagree"),
        ("sparkpost://{key}@default?region=mars", "unknown region 'mars'"),
        ("sparkpost://{key}@default?subaccount=abc", "not a number"),
        ("sparkpost://{key}@default?timeout=0", "not a positive number"),
        ("sparkpost://default", "no API key"),
    ],
    registry=(
        "sparkpost://{key}@eu",
        {"name": "sparkpost://eu"},
    ),
    regions=[("sparkpost://{key}@eu", "https://api.eu.sparkpost.com/api/v1/transmissions")],
)


# -- Mailjet -----------------------------------------------------------------------------

MAILJET_ID = "288230376151711001"
PUBLIC_KEY = "f1e2d3c4b5a697887766554433221100"


def _sent(email: str, message_id: int) -> dict[str, Any]:
    return {
        "Email": email,
        "MessageUUID": f"uuid-{message_id}",
        "MessageID": message_id,
        "MessageHref": f"https://api.mailjet.com/v3/REST/message/{message_id}",
    }


def mailjet_accepted(custom_id: str = "<20260101120000.4242@example.com>") -> httpx.Response:
    """guides/_send-api.md: one result per message, one MessageID per recipient."""
    message = {
        "Status": "success",
        "CustomID": custom_id,
        "To": [
            _sent("alice@example.com", 288230376151711001),
            _sent("jane@example.org", 288230376151711002),
        ],
        "Cc": [_sent("carol@example.net", 288230376151711003)],
        "Bcc": [_sent("audit@example.com", 288230376151711004)],
    }
    return httpx.Response(200, json={"Messages": [message]})


def mailjet_message_error(*errors: dict[str, Any]) -> dict[str, Any]:
    return {"Messages": [{"Status": "error", "Errors": list(errors)}]}


def mailjet_error(code: str, status: int, message: str, *related: str) -> dict[str, Any]:
    return {
        "ErrorIdentifier": "f987008f-251a-4dff-8ffc-40f1583ad7bc",
        "ErrorCode": code,
        "StatusCode": status,
        "ErrorMessage": message,
        "ErrorRelatedTo": list(related),
    }


MAILJET_ERRORS = [
    pytest.param(
        400,
        {
            "ErrorIdentifier": "06df1144-c6f3-4ca7-8885-7ec5d4344113",
            "ErrorCode": "mj-0002",
            "ErrorMessage": "Malformed JSON, please review the syntax and properties types.",
            "StatusCode": 400,
        },
        {},
        PermanentError,
        "mj-0002: Malformed JSON, please review the syntax and properties types.",
        id="400-global",
    ),
    pytest.param(
        400,
        mailjet_message_error(
            mailjet_error(
                "mj-0004", 400, 'Type mismatch. Expected type "array of emails".', "HTMLPart"
            ),
            mailjet_error("mj-0005", 400, "The To is mandatory but missing from the input", "To"),
        ),
        {},
        PermanentError,
        'mj-0004: Type mismatch. Expected type "array of emails". [HTMLPart]; '
        "mj-0005: The To is mandatory but missing from the input [To]",
        id="400-message",
    ),
    pytest.param(
        400,
        mailjet_message_error(
            mailjet_error(
                "send-0008",
                403,
                '"reports@example.com" is not an authorized sender email address for your account.',
                "From",
            )
        ),
        {},
        RelayError,
        'send-0008: "reports@example.com" is not an authorized sender',
        id="400-unauthorised-sender",
    ),
    pytest.param(
        400,
        mailjet_message_error(mailjet_error("mj-0011", 400, "Payload size is over the limit.")),
        {},
        PermanentError,
        "mj-0011: Payload size is over the limit.",
        id="400-too-large",
    ),
    pytest.param(
        401,
        {
            "ErrorIdentifier": "ce3a1b4b-8b8f-4c41-9c5c-6a1d0b4d2c11",
            "ErrorCode": "mj-0015",
            "ErrorMessage": "API key authentication/authorization failure.",
            "StatusCode": 401,
        },
        {},
        RelayError,
        "mj-0015: API key authentication/authorization failure.",
        id="401-bad-key",
    ),
    pytest.param(
        401,
        {"ErrorCode": "mj-0001", "ErrorMessage": "Your API key is suspended.", "StatusCode": 401},
        {},
        RelayError,
        "mj-0001: Your API key is suspended.",
        id="401-suspended",
    ),
    pytest.param(
        403,
        mailjet_message_error(
            mailjet_error("send-0007", 403, "The SenderID provided is not validated.", "SenderID")
        ),
        {},
        RelayError,
        "send-0007: The SenderID provided is not validated.",
        id="403",
    ),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        429,
        {
            "ErrorMessage": "You have reached the maximum number of calls allowed per minute.",
            "StatusCode": 429,
        },
        {"Retry-After": "20"},
        TransientError,
        "maximum number of calls allowed per minute",
        id="429",
    ),
    pytest.param(
        500,
        {
            "ErrorIdentifier": "a3f5c0e2-7b1d-4c8e-9f60-1d2e3f4a5b6c",
            "ErrorCode": "",
            "ErrorMessage": "Internal Server Error",
            "StatusCode": 500,
        },
        {},
        TransientError,
        "Internal Server Error",
        id="500",
    ),
    pytest.param(
        503,
        "Service Unavailable",
        {"Retry-After": "60"},
        TransientError,
        "Service Unavailable",
        id="503",
    ),
]


MAILJET = Row(
    scheme="mailjet",
    tracking=(
        lambda r: {k: body(r)["Messages"][0][k] for k in ("TrackOpens", "TrackClicks")},
        {"TrackOpens": "enabled", "TrackClicks": "disabled"},
    ),
    option=(
        {"MonitoringCategory": "billing"},
        lambda r: body(r)["Messages"][0]["MonitoringCategory"],
        "billing",  # inside the message object, where Mailjet reads it
    ),
    # The key under test plays the secret key; the public API key must not show either.
    make=lambda key: MailjetTransport(PUBLIC_KEY, key),
    endpoint="https://api.mailjet.com/v3.1/send",
    relay="mailjet://default",
    credentials=f"{PUBLIC_KEY}:{{key}}",
    host="default",
    message={"tags": ["reports"]},  # Mailjet has one CustomCampaign
    success=mailjet_accepted,
    provider_id=MAILJET_ID,  # the first To's MessageID
    auth=lambda key: {"Authorization": f"Basic {basic(PUBLIC_KEY, key)}"},
    derived=lambda key: [PUBLIC_KEY, basic(PUBLIC_KEY, key)],
    fail=lambda status, text, headers: httpx.Response(
        status,
        json={"ErrorCode": "mj-0002", "ErrorMessage": text, "StatusCode": status},
        headers=headers,
    ),
    errors=MAILJET_ERRORS,
    unsupported=[
        ({"tags": ["reports", "monthly"]}, "2 tags"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"text": None, "html": None}, "without a text or HTML body"),
        ({"subject": "x" * 256}, "256 characters"),
        ({"headers": {"Date": "Thu, 01 Jan 2026 12:00:00 +0000"}}, "the Date header"),
        ({"headers": {"List-Id": "<news.example.com>"}}, "the List-Id header"),
        ({"headers": {"X-MJ-Vars": "{}"}}, "the X-MJ-Vars header"),
        ({"headers": {"X-Mailjet-Campaign": "c"}}, "the X-Mailjet-Campaign header"),
        ({"headers": {f"X-H{i}": "v" for i in range(51)}}, "51 custom headers"),
        ({"to": [f"r{i}@example.com" for i in range(49)]}, "51 recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    outcomes=lambda key: [
        (
            httpx.Response(
                400,
                json=mailjet_message_error(
                    mailjet_error(
                        "mj-0013", 400, f"echo {key} {basic(PUBLIC_KEY, key)}", "To[0].Email"
                    )
                ),
            ),
            False,
        )
    ],
    urls=[
        (
            f"mailjet://{PUBLIC_KEY}:{{key}}@default",
            {
                "base_url": "https://api.mailjet.com",
                "name": "mailjet://default",
                "sandbox": False,
                "timeout": 30.0,
                "api_key_value": PUBLIC_KEY,
            },
        ),
        (
            f"mailjet://{PUBLIC_KEY}:{{key}}@us",
            {"base_url": "https://api.us.mailjet.com", "name": "mailjet://us"},
        ),
        (
            f"mailjet://{PUBLIC_KEY}:{{key}}@default?sandbox=yes&timeout=9",
            {"sandbox": True, "timeout": 9.0},
        ),
        (
            f"mailjet://{PUBLIC_KEY}:{{key}}@default?base_url=http://localhost:8025",
            {"base_url": "http://localhost:8025", "name": "mailjet://localhost", "sandbox": False},
        ),
        (
            f"mailjet://{PUBLIC_KEY}:{{key}}@default?ca_file=/etc/ssl/corp.pem",
            {"ca_file": "/etc/ssl/corp.pem"},
        ),
    ],
    bad_urls=[
        (f"mailjet://{PUBLIC_KEY}:{{key}}@default?bogus=1", "unknown option"),
        (f"mailjet://{PUBLIC_KEY}:{{key}}@default?sandbox=maybe", "not a boolean"),
        (f"mailjet://{PUBLIC_KEY}:{{key}}@mars", "unknown region 'mars'"),
        (f"mailjet://{PUBLIC_KEY}@default", "secret key"),
        ("mailjet://:{key}@default", "API key and the secret key"),
        ("mailjet://default", "API key and the secret key"),
    ],
    registry=(
        f"mailjet://{PUBLIC_KEY}:{{key}}@default",
        {"name": "mailjet://default"},
    ),
    password_slot=False,
)


# -- Mailtrap ----------------------------------------------------------------------------

MAILTRAP_IDS = [
    "0c7fd939-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93a-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93b-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93c-02cf-11ed-88c2-0a58a9feac02",
]


def mailtrap_sent(ids: list[str] = MAILTRAP_IDS) -> httpx.Response:
    """Mailtrap's ``200`` with one id per recipient."""
    return httpx.Response(200, json={"success": True, "message_ids": ids})


def mailtrap_errors(*messages: str) -> dict[str, Any]:
    return {"success": False, "errors": list(messages)}


MAILTRAP_ERRORS = [
    pytest.param(
        400,
        mailtrap_errors("'from' is required", "'subject' is required"),
        {},
        PermanentError,
        "'from' is required; 'subject' is required",
        id="400-validation",
    ),
    pytest.param(401, mailtrap_errors("Unauthorized"), {}, RelayError, "Unauthorized", id="401"),
    pytest.param(403, mailtrap_errors("Forbidden"), {}, RelayError, "Forbidden", id="403-domain"),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        422,
        {"errors": {"to": ["is invalid", "is too long"]}},
        {},
        PermanentError,
        "to: is invalid, is too long",
        id="422",
    ),
    pytest.param(
        429,
        mailtrap_errors("Too many requests"),
        {"Retry-After": "10"},
        TransientError,
        "Too many requests",
        id="429",
    ),
    pytest.param(
        500,
        mailtrap_errors("Internal server error"),
        {},
        TransientError,
        "Internal server",
        id="500",
    ),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


MAILTRAP = Row(
    scheme="mailtrap",
    option=(
        {"custom_variables": {"tenant": "acme"}},
        lambda r: body(r)["custom_variables"],
        {"account_id": "42", "plan": "pro", "mailsdk_message_id": MESSAGE_ID, "tenant": "acme"},
    ),
    make=MailtrapTransport,
    endpoint="https://send.api.mailtrap.io/api/send",
    relay="mailtrap://default",
    credentials="{key}",
    host="default",
    message={"tags": ["reports"]},  # Mailtrap takes a single category
    success=mailtrap_sent,
    provider_id=",".join(MAILTRAP_IDS),  # one id per recipient, to then cc then bcc
    auth=lambda key: {"Api-Token": key},
    fail=lambda status, text, headers: httpx.Response(
        status, json=mailtrap_errors(text), headers=headers
    ),
    errors=MAILTRAP_ERRORS,
    unsupported=[
        # Tracking is set per domain at this provider: neither value can be honoured.
        ({"track_opens": False}, "per-message open or click tracking"),
        ({"track_clicks": True}, "per-message open or click tracking"),
        ({"tags": ["reports", "monthly"]}, "2 tags \\(Mailtrap takes one category\\)"),
        ({"tags": ["x" * 256]}, "longer than 255"),
        ({"subject": ""}, "without a subject"),
        ({"text": None, "html": None}, "without a body"),
        ({"text": "", "html": ""}, "without a body"),
        ({"to": [f"r{i}@example.com" for i in range(1001)]}, "1001 to recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    outcomes=lambda key: [(httpx.Response(200, json=mailtrap_errors(f"echo {key}")), False)],
    urls=[
        (
            "mailtrap://{key}@default",
            {
                "base_url": "https://send.api.mailtrap.io",
                "inbox_id": None,
                "name": "mailtrap://default",
            },
        ),
        (
            "mailtrap://{key}@bulk",
            {"base_url": "https://bulk.api.mailtrap.io", "name": "mailtrap://bulk"},
        ),
        (
            "mailtrap://{key}@sandbox?inbox_id=42",
            {
                "base_url": "https://sandbox.api.mailtrap.io",
                "inbox_id": "42",
                "name": "mailtrap://sandbox",
            },
        ),
        (
            "mailtrap://{key}@default?base_url=http://127.0.0.1:8025/mt/&timeout=5",
            {
                "base_url": "http://127.0.0.1:8025/mt",
                "name": "mailtrap://127.0.0.1",
                "timeout": 5.0,
            },
        ),
    ],
    bad_urls=[
        ("mailtrap://{key}@default?bogus=1", "unknown option"),
        ("mailtrap://{key}@default?timeout=soon", "not a positive number"),
        ("mailtrap://{key}@eu", "unknown region 'eu'"),
        ("mailtrap://{key}@sandbox", "needs a numeric inbox_id"),
        ("mailtrap://{key}@sandbox?inbox_id=../../api", "needs a numeric inbox_id"),
        ("mailtrap://{key}@default?inbox_id=42", "inbox_id is for the sandbox"),
        ("mailtrap://default", "no API key"),
    ],
    registry=(
        "mailtrap://{key}@bulk",
        {"name": "mailtrap://bulk"},
    ),
    regions=[("mailtrap://{key}@bulk", "https://bulk.api.mailtrap.io/api/send")],
)


# -- MailerSend --------------------------------------------------------------------------

MAILERSEND_ID = "5e42957d51f1d94a1070a733"


def mailersend_accepted(message_id: str = MAILERSEND_ID, **body: Any) -> httpx.Response:
    """MailerSend's ``202``: the body is empty (text/html) unless it has warnings."""
    if body:
        return httpx.Response(202, json=body, headers={"X-Message-Id": message_id})
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def mailersend_fields(**overrides: Any) -> dict[str, Any]:
    """The full message as MailerSend can take it: no ',' in names, no Message-ID of its own,
    no metadata; threading headers added."""
    fields: dict[str, Any] = {
        "to": ["Alice Example <alice@example.com>", "Jane Doe <jane@example.org>"],
        "headers": {
            "X-Campaign": "spring-2026",
            "In-Reply-To": "<order-1234@shop.example.com>",
            "References": "<thread-1@shop.example.com> <order-1234@shop.example.com>",
            "Precedence": "bulk",
        },
        "metadata": {},
    }
    fields.update(overrides)
    return fields


def mailersend_invalid(field: str, message: str) -> dict[str, Any]:
    return {"message": "The given data was invalid.", "errors": {field: [message]}}


MAILERSEND_ERRORS = [
    pytest.param(
        422,
        mailersend_invalid("from.email", "The from.email must be verified. #MS42207"),
        {},
        RelayError,
        "The given data was invalid. from.email: The from.email must be verified. #MS42207",
        id="422-unverified-domain",
    ),
    pytest.param(
        422,
        mailersend_invalid("to", "The trial domain unique recipients limit was reached. #MS42225"),
        {},
        RelayError,
        "#MS42225",
        id="422-trial-cap",
    ),
    pytest.param(
        422,
        mailersend_invalid("to.0.email", "The to.0.email must be a valid email address."),
        {},
        PermanentError,
        "to.0.email: The to.0.email must be a valid email address.",
        id="422-invalid-recipient",
    ),
    pytest.param(
        400,
        {"message": "Bad request."},
        {},
        PermanentError,
        "Bad request.",
        id="400",
    ),
    pytest.param(
        401, {"message": "Unauthenticated."}, {}, RelayError, "Unauthenticated.", id="401"
    ),
    pytest.param(
        403,
        {"message": "This action is unauthorized."},
        {},
        RelayError,
        "This action is unauthorized.",
        id="403",
    ),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        421,
        {"message": "Service isn't available, try again later"},
        {},
        TransientError,
        "try again later",
        id="421-maintenance",
    ),
    pytest.param(
        429,
        {"message": "Too Many Attempts."},
        {"Retry-After": "60", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"},
        TransientError,
        "Too Many Attempts.",
        id="429-per-minute",
    ),
    pytest.param(500, {"message": "Server Error"}, {}, TransientError, "Server Error", id="500"),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


MAILERSEND = Row(
    scheme="mailersend",
    tracking=(
        lambda r: body(r)["settings"],
        {"track_opens": True, "track_clicks": False},
    ),
    option=(
        {"settings": {"track_content": True}, "send_at": 1767261600},
        lambda r: (body(r)["settings"], body(r)["send_at"]),
        ({"track_content": True}, 1767261600),
    ),
    make=MailerSendTransport,
    endpoint="https://api.mailersend.com/v1/email",
    relay="mailersend://default",
    credentials="{key}",
    host="default",
    message=mailersend_fields(headers={}),  # what any plan can send: no custom headers
    success=mailersend_accepted,
    provider_id=MAILERSEND_ID,
    auth=lambda key: {"Authorization": f"Bearer {key}"},
    fail=lambda status, text, headers: httpx.Response(
        status, json=mailersend_invalid("x", text), headers=headers
    ),
    errors=MAILERSEND_ERRORS,
    unsupported=[
        ({"metadata": {"account_id": "42"}}, "cannot send metadata"),
        ({"headers": {"X-Campaign": "x"}}, "custom headers need a Professional or Enterprise"),
        ({"headers": {"Message-ID": "<mine@example.com>"}}, "MailerSend sets the Message-ID"),
        ({"to": ['"Doe, Jane" <jane@example.org>']}, "display name 'Doe, Jane'"),
        ({"cc": ['"Ops; Team" <ops@example.org>']}, "display name 'Ops; Team'"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 to recipients \\(at most 50\\)"),
        ({"bcc": [f"b{i}@example.com" for i in range(11)]}, "11 bcc recipients \\(at most 10\\)"),
        ({"tags": [f"t{i}" for i in range(6)]}, "6 tags \\(at most 5\\)"),
        ({"subject": ""}, "without a subject"),
        ({"subject": "x" * 998}, "a subject of 998 characters \\(at most 997\\)"),
        ({"text": None, "html": None}, "without a body"),
        (
            {"attachments": [Attachment(filename="a.txt", content=b"x", content_type="text/csv")]},
            "as text/csv",
        ),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
    urls=[
        (
            "mailersend://{key}@default",
            {
                "base_url": "https://api.mailersend.com",
                "custom_headers": False,
                "name": "mailersend://default",
            },
        ),
        ("mailersend://{key}@default?custom_headers=true", {"custom_headers": True}),
        ("mailersend://{key}@default?custom_headers=no", {"custom_headers": False}),
        (
            "mailersend://{key}@default?base_url=http://127.0.0.1:8025/ms/&timeout=5",
            {
                "base_url": "http://127.0.0.1:8025/ms",
                "name": "mailersend://127.0.0.1",
                "timeout": 5.0,
            },
        ),
    ],
    bad_urls=[
        ("mailersend://{key}@default?bogus=1", "unknown option"),
        ("mailersend://{key}@default?custom_headers=maybe", "is not a boolean"),
        ("mailersend://{key}@default?timeout=soon", "not a positive number"),
        ("mailersend://{key}@eu", "unknown region 'eu'"),
        ("mailersend://default", "no API key"),
    ],
    registry=(
        "mailersend://{key}@default?custom_headers=true",
        {"custom_headers": True},
    ),
)


ROWS = [SENDGRID, MAILGUN, POSTMARK, SES, RESEND, BREVO, SPARKPOST, MAILJET, MAILTRAP, MAILERSEND]
"""Every provider transport, in the order of docs/providers/index.md."""
