"""Whatever arrives, a parser raises only WebhookSignatureError or WebhookPayloadError.

Arbitrary bytes and headers (mostly refused unsigned), and arbitrary JSON that is properly
signed or authenticated, so that it reaches the payload readers; the JSON is biased towards
each provider's own field names so that the deep branches are explored too.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsdk.webhooks import PROVIDERS, WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import (
    BASIC_SECRET,
    SVIX_SECRET,
    SendGridKeys,
    SnsSigner,
    basic,
    clock,
    hex_hmac,
    mailgun_body,
    svix_headers,
)

SG = SendGridKeys()
SNS = SnsSigner()
HMAC = "fuzz-secret"
SECRETS: dict[str, Any] = {
    "sendgrid": SG.verification_key,
    "mailgun": HMAC,
    "resend": SVIX_SECRET,
    "ses": None,
    "mailersend": HMAC,
    "mailtrap": HMAC,
    "postmark": BASIC_SECRET,
    "brevo": BASIC_SECRET,
    "sparkpost": BASIC_SECRET,
    "mailjet": BASIC_SECRET,
}

KEYS = [
    "event",
    "type",
    "timestamp",
    "email",
    "data",
    "recipient",
    "severity",
    "message",
    "headers",
    "message-id",
    "RecordType",
    "Type",
    "Email",
    "Recipient",
    "BouncedAt",
    "DeliveredAt",
    "created_at",
    "to",
    "bounce",
    "tags",
    "msys",
    "message_event",
    "bounce_class",
    "rcpt_to",
    "time",
    "MessageID",
    "hard_bounce",
    "error",
    "ts_epoch",
    "ts_event",
    "ts",
    "events",
    "event_id",
    "mail",
    "eventType",
    "notificationType",
    "bouncedRecipients",
    "emailAddress",
    "destination",
    "commonHeaders",
    "messageId",
    "delivery-status",
    "user-variables",
    "id",
    "morph",
    "recipient",
    "Metadata",
    "custom_variables",
    "rcpt_meta",
    "sg_event_id",
    "smtp-id",
]
VALUES = [
    "bounce",
    "failed",
    "delivered",
    "email.bounced",
    "activity.hard_bounced",
    "Bounce",
    "Delivery",
    "Complaint",
    "hard_bounce",
    "spam",
    "Permanent",
    "permanent",
    "10",
    "bounce",
    "2024-01-01T00:00:00Z",
    "2024-13-99T99:99Z",
    "1711527488",
    "",
    "a@b.c",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(VALUES)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


def _signed(provider: str, value: Any) -> tuple[bytes, dict[str, str], dict[str, Any]]:
    try:
        body = json.dumps(value).encode()
    except ValueError:  # NaN is not JSON for every provider; send Python's spelling anyway
        body = json.dumps(value, allow_nan=True).encode()
    if provider == "sendgrid":
        return body, SG.headers(body), {}
    if provider == "mailgun":
        return mailgun_body(HMAC, value), {}, {}
    if provider == "resend":
        return body, svix_headers(body), {}
    if provider == "ses":
        return (
            SNS.notification(value) if isinstance(value, dict) else SNS.notification({"x": value}),
            {},
            {"fetch_certificate": SNS.fetch},
        )
    if provider == "mailersend":
        return body, {"Signature": hex_hmac(HMAC, body)}, {}
    if provider == "mailtrap":
        return body, {"Mailtrap-Signature": hex_hmac(HMAC, body)}, {}
    return body, basic(), {}


def _only_our_errors(call: Callable[[], object]) -> None:
    with contextlib.suppress(WebhookSignatureError, WebhookPayloadError):
        call()


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    provider=st.sampled_from(PROVIDERS),
    body=st.binary(max_size=300),
    headers=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=4),
)
def test_arbitrary_requests(provider: str, body: bytes, headers: dict[str, str]) -> None:
    def call() -> object:
        return (
            parse(
                provider,
                body=body,
                headers=headers,
                secret=SECRETS[provider],
                now=clock(),
                fetch_certificate=SNS.fetch,
            )
            if provider == "ses"
            else parse(provider, body=body, headers=headers, secret=SECRETS[provider], now=clock())
        )

    _only_our_errors(call)


@FUZZ
@given(provider=st.sampled_from(PROVIDERS), value=json_values)
def test_authentic_arbitrary_json(provider: str, value: Any) -> None:
    body, headers, options = _signed(provider, value)
    _only_our_errors(
        lambda: parse(
            provider, body=body, headers=headers, secret=SECRETS[provider], now=clock(), **options
        )
    )


@FUZZ
@given(
    provider=st.sampled_from(PROVIDERS),
    value=st.lists(
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8), min_size=1, max_size=3
    ),
)
def test_authentic_event_shaped_json(provider: str, value: list[dict[str, Any]]) -> None:
    shaped: Any = value
    if provider in ("mailgun", "resend", "mailersend", "postmark", "ses"):
        shaped = value[0]
    elif provider == "mailtrap":
        shaped = {"events": value}
    elif provider == "sparkpost":
        shaped = [{"msys": {"message_event": v}} for v in value]
    body, headers, options = _signed(provider, shaped)
    _only_our_errors(
        lambda: parse(
            provider, body=body, headers=headers, secret=SECRETS[provider], now=clock(), **options
        )
    )
