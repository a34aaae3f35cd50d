"""Amazon SES v2: SigV4 checked independently, the botocore model, replies, credentials, URLs."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.auth
import httpx
import pytest
import respx

from mailsdk import (
    ConfigurationError,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http import ses as ses_module
from mailsdk.transports.http.ses import SESTransport

URL = "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails"
MESSAGE_ID = "<20260101120000.4242@example.com>"
SES_ID = "0100019a2b3c4d5e-6f7a8b9c-1d2e-3f4a-5b6c-7d8e9f0a1b2c-000000"
REGISTRY_ENTRY = "mailsdk.transports.http.ses:SESTransport"
# The AWS SigV4 test suite's credentials and clock (PROVIDERS.md section 3.2).
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
FIXED = datetime.datetime(2015, 8, 30, 12, 36, 0)
AMZ_DATE = "20150830T123600Z"


# -- an independent SigV4, from the published steps (PROVIDERS.md 3.1), not from botocore ----


@dataclass
class Signed:
    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    region: str,
    service: str,
    access_key: str = AKID,
    secret_key: str = SECRET,
    amz_date: str = AMZ_DATE,
    query: str = "",
) -> Signed:
    """Sign with hashlib/hmac only. *headers* are exactly the headers to sign; *path* must
    already be canonical (the paths used here need no normalising or escaping)."""
    lowered = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in sorted(lowered))
    signed_headers = ";".join(sorted(lowered))
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [method, path, query, canonical_headers, signed_headers, payload_hash]
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    request_hash = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, request_hash])
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Signed(canonical_request, string_to_sign, signature, authorization)


def _suite(method: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Signed:
    base = {"Host": "example.amazonaws.com", "X-Amz-Date": AMZ_DATE}
    return sigv4(
        method=method,
        path="/",
        headers={**(headers or {}), **base},
        body=body,
        region="us-east-1",
        service="service",
    )


def test_independent_signer_reproduces_get_vanilla() -> None:
    # aws4_testsuite get-vanilla (.creq, .sts, .authz), quoted in PROVIDERS.md 3.2.
    signed = _suite("GET")
    assert signed.canonical_request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert signed.string_to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    assert signed.authorization == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


@pytest.mark.parametrize(
    ("name", "signed", "request_hash", "signature"),
    [
        (
            "post-vanilla",
            lambda: _suite("POST"),
            "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        (
            "post-x-www-form-urlencoded",
            lambda: _suite(
                "POST", {"Content-Type": "application/x-www-form-urlencoded"}, b"Param1=value1"
            ),
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        (
            "get-vanilla-with-session-token",
            lambda: _suite("GET", {"X-Amz-Security-Token": TOKEN}),
            "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        ),
    ],
)
def test_independent_signer_reproduces_official_vectors(
    name: str, signed: Callable[[], Signed], request_hash: str, signature: str
) -> None:
    result = signed()
    assert result.string_to_sign.splitlines()[-1] == request_hash, name
    assert result.signature == signature, name


def test_independent_signer_reproduces_the_ses_example() -> None:
    # Not an official vector: PROVIDERS.md 3.2's SES request, cross-checked there with botocore.
    body = (
        b'{"Content":{"Simple":{"Body":{"Text":{"Data":"Hello"}},"Subject":{"Data":"Hi"}}},'
        b'"Destination":{"ToAddresses":["to@example.com"]},"FromEmailAddress":"from@example.com"}'
    )
    signed = sigv4(
        method="POST",
        path="/v2/email/outbound-emails",
        headers={
            "Content-Type": "application/json",
            "Host": "email.us-east-1.amazonaws.com",
            "X-Amz-Date": AMZ_DATE,
        },
        body=body,
        region="us-east-1",
        service="ses",
    )
    assert signed.string_to_sign.endswith(
        "46f725e227bf290388979a2160822cab87fcf686a113f935af55b1c4e75bd82d"
    )
    assert signed.signature == "3707a3f0a2b7601d09f3c3b0683cdebc93524cdb86460e8c461d1cb0931a5e23"


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
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


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # SigV4Auth.add_auth reads the time through the name get_current_datetime, which
    # botocore.auth imports from botocore.compat into its own namespace; replacing that name
    # there fixes X-Amz-Date and the credential scope for every signature this test makes.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: FIXED)


@pytest.fixture
def transport(frozen_clock: None) -> SESTransport:
    return SESTransport(AKID, SECRET, region="us-east-1", configuration_set="transactional")


def accepted(message_id: str = SES_ID) -> httpx.Response:
    return httpx.Response(
        200, json={"MessageId": message_id}, headers={"x-amzn-RequestId": "a1b2c3d4"}
    )


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def independent_authorization(request: httpx.Request, **keys: str) -> str:
    """What the request's Authorization must be, worked out by :func:`sigv4` from the bytes
    and headers actually sent. The signed set is fixed here, not read back from the header."""
    headers = {
        "Content-Type": request.headers["Content-Type"],
        "Host": request.headers["Host"],
        "X-Amz-Date": request.headers["X-Amz-Date"],
    }
    if "X-Amz-Security-Token" in request.headers:
        headers["X-Amz-Security-Token"] = request.headers["X-Amz-Security-Token"]
    return sigv4(
        method=request.method,
        path=request.url.path,
        headers=headers,
        body=request.content,
        region="us-east-1",
        service="ses",
        **keys,
    ).authorization


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: SESTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    outgoing = make_outgoing(envelope_from="bounces@example.com")
    await transport.send(outgoing)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == "email.us-east-1.amazonaws.com"
    assert request.headers["X-Amz-Date"] == AMZ_DATE
    assert "X-Amz-Security-Token" not in request.headers
    assert request.headers["Authorization"] == independent_authorization(request)
    assert json.loads(request.content) == {
        # Bcc is only here: the MIME carries no Bcc header.
        "Destination": {
            "ToAddresses": ["alice@example.com", "jane@example.org"],
            "CcAddresses": ["carol@example.net"],
            "BccAddresses": ["audit@example.com"],
        },
        "Content": {"Raw": {"Data": base64.b64encode(outgoing.raw).decode()}},
        "FeedbackForwardingEmailAddress": "bounces@example.com",
        "ConfigurationSetName": "transactional",
        "EmailTags": [
            {"Name": "reports", "Value": "true"},
            {"Name": "monthly", "Value": "true"},
            {"Name": "account_id", "Value": "42"},
            {"Name": "plan", "Value": "pro"},
        ],
    }
    raw = outgoing.raw
    assert b"\r\nBcc:" not in raw
    assert b"audit@example.com" not in raw
    for piece in (
        b"From: Reports Bot <reports@example.com>",
        b'"Doe, Jane" <jane@example.org>',
        b"Reply-To: Support <support@example.com>",
        b"X-Campaign: spring-2026",
        f"Message-ID: {MESSAGE_ID}".encode(),
        b"Content-ID: <logo@example.com>",
        b'filename="report.pdf"',
    ):
        assert piece in raw


async def test_signature_matches_independent_sigv4_with_a_session_token(
    frozen_clock: None, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(AKID, SECRET, session_token=TOKEN, region="us-east-1")
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing())
    request = route.calls.last.request
    assert request.headers["X-Amz-Security-Token"] == TOKEN
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (request.headers["Authorization"])
    )
    assert request.headers["Authorization"] == independent_authorization(request)


class ShapeError(AssertionError):
    """A value does not fit a botocore model shape."""


def check_shape(shapes: dict[str, Any], name: str, value: Any, path: str = "$") -> None:
    """Walk a botocore JSON model shape: required members, unknown members, types, limits."""
    shape = shapes[name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            raise ShapeError(f"{path}: {name} must be an object")
        members = shape.get("members", {})
        if unknown := set(value) - set(members):
            raise ShapeError(f"{path}: {name} has no member(s) {sorted(unknown)}")
        if missing := set(shape.get("required", [])) - set(value):
            raise ShapeError(f"{path}: {name} lacks required {sorted(missing)}")
        for key, item in value.items():
            check_shape(shapes, members[key]["shape"], item, f"{path}.{key}")
        return
    if kind == "list":
        if not isinstance(value, list):
            raise ShapeError(f"{path}: {name} must be a list")
        if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
            raise ShapeError(f"{path}: {name} has {len(value)} items")
        for index, item in enumerate(value):
            check_shape(shapes, shape["member"]["shape"], item, f"{path}[{index}]")
        return
    if kind == "blob":  # rest-json sends blobs as base64 text
        if not isinstance(value, str):
            raise ShapeError(f"{path}: {name} must be base64 text")
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ShapeError(f"{path}: {name} is not base64") from exc
        return
    if kind == "string":
        if not isinstance(value, str):
            raise ShapeError(f"{path}: {name} must be a string")
        if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
            raise ShapeError(f"{path}: {name} has length {len(value)}")
        if "enum" in shape and value not in shape["enum"]:
            raise ShapeError(f"{path}: {value!r} is not one of {shape['enum']}")
        if "pattern" in shape and not re.search(shape["pattern"], value):
            raise ShapeError(f"{path}: {value!r} does not match {shape['pattern']}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ShapeError(f"{path}: {name} must be a boolean")
        return
    raise ShapeError(f"{path}: the checker does not know shape type {kind!r}")


def _send_email_input(spec: dict[str, Any]) -> str:
    operation = spec["operations"]["SendEmail"]
    assert operation["http"] == {"method": "POST", "requestUri": "/v2/email/outbound-emails"}
    assert spec["metadata"]["signingName"] == "ses"
    return str(operation["input"]["shape"])


async def test_body_fits_the_botocore_model(
    transport: SESTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    load_spec: Callable[[str], Any],
) -> None:
    spec = load_spec("ses.json")
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing(envelope_from="bounces@example.com"))
    check_shape(spec["shapes"], _send_email_input(spec), sent_json(route))


def test_model_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    spec = load_spec("ses.json")
    shapes, root = spec["shapes"], _send_email_input(spec)
    good = {"Content": {"Raw": {"Data": "SGk="}}, "Destination": {"ToAddresses": ["a@b.c"]}}
    check_shape(shapes, root, good)
    for bad in (
        {"Destination": {"ToAddresses": ["a@b.c"]}},  # Content is required
        {"Content": {"Raw": {}}},  # Raw.Data is required
        {"Content": {"Raw": {"Data": "not base64!"}}},
        {"Content": {"Raw": {"Data": "SGk="}}, "Destination": {"ToAddresses": "a@b.c"}},
        {"Content": {"Raw": {"Data": "SGk="}}, "EmailTags": [{"Name": "x"}]},
        {"Content": {"Raw": {"Data": "SGk="}}, "Bogus": 1},
    ):
        with pytest.raises(ShapeError):
            check_shape(shapes, root, bad)


async def test_failover_subset_goes_to_destination_alone(
    transport: SESTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # A retry of deferred recipients: same bytes, but SES must deliver to these two only.
    route = respx_mock.post(URL).mock(return_value=accepted())
    full = make_outgoing()
    subset = full.restricted_to(["carol@example.net", "audit@example.com"])
    result = await transport.send(subset)
    body = sent_json(route)
    assert body["Destination"] == {
        "CcAddresses": ["carol@example.net"],
        "BccAddresses": ["audit@example.com"],
    }
    assert base64.b64decode(body["Content"]["Raw"]["Data"]) == full.raw
    assert result.accepted == ["carol@example.net", "audit@example.com"]


async def test_a_recipient_in_two_fields_is_listed_once(
    transport: SESTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing(cc=["alice@example.com"], bcc=[]))
    assert sent_json(route)["Destination"] == {
        "ToAddresses": ["alice@example.com", "jane@example.org"]
    }


async def test_plain_message_sends_only_what_it_has(
    frozen_clock: None, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(AKID, SECRET, region="us-east-1")
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing(cc=[], bcc=[], tags=[], metadata={}))
    assert set(sent_json(route)) == {"Destination", "Content"}


# -- refused before any request ----------------------------------------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"to": ["bücher@example.com"]}, "non-ASCII local part"),
        ({"to": [f"r{i}@example.com" for i in range(49)]}, "51 recipients"),
        ({"tags": ["with space"]}, "tag text 'with space'"),
        ({"metadata": {"plan": "pro+"}}, "tag text 'pro\\+'"),
        ({"tags": ["x" * 257]}, "at most 256"),
        ({"tags": ["plan"], "metadata": {"plan": "pro"}}, "both named 'plan'"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: SESTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**overrides))
    assert info.value.relay == "ses://us-east-1"  # only this relay lacks it: fail over
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_too_large_a_message_is_refused(
    transport: SESTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ses_module, "_MAX_BASE64", 1000)  # 40 MB of test data is just slow
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=r"octets of base64 MIME \(at most 1000\)"):
        await transport.send(make_outgoing())
    assert not route.called


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: SESTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=accepted())
    result = await transport.send(make_outgoing())
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == SES_ID
    assert result.relay == "ses://us-east-1"
    assert result.accepted == [
        "alice@example.com",
        "jane@example.org",
        "carol@example.net",
        "audit@example.com",
    ]
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code) == ("delivered", 200)


def _aws_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    # SES v2 (rest-json) names the error in x-amzn-ErrorType, with a ":<namespace>" suffix.
    error_type = f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
    return httpx.Response(
        status,
        json={"message": message},
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": "r-1", **(headers or {})},
    )


ERROR_CASES = [
    pytest.param(
        _aws_error(
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
        _aws_error(400, "MessageRejected", "Illegal header 'X-Bad'."),
        PermanentError,
        None,
        id="400-message-rejected",
    ),
    pytest.param(
        _aws_error(400, "BadRequestException", "Invalid configuration set name."),
        PermanentError,
        None,
        id="400-bad-request",
    ),
    pytest.param(
        _aws_error(400, "ThrottlingException", "Maximum sending rate exceeded."),
        TransientError,
        None,
        id="400-send-rate",
    ),
    pytest.param(
        _aws_error(400, "ThrottlingException", "Daily message quota exceeded."),
        TransientError,
        3600.0,
        id="400-daily-quota",
    ),
    pytest.param(
        _aws_error(400, "LimitExceededException", "Too many requests."),
        TransientError,
        None,
        id="400-limit-exceeded",
    ),
    pytest.param(
        _aws_error(400, "AccountSuspendedException", "Your account has been suspended."),
        RelayError,
        None,
        id="400-account-suspended",
    ),
    pytest.param(
        _aws_error(400, "SendingPausedException", "Sending is paused for this account."),
        RelayError,
        None,
        id="400-sending-paused",
    ),
    pytest.param(
        _aws_error(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified."),
        RelayError,
        None,
        id="400-mail-from-domain",
    ),
    pytest.param(
        _aws_error(
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
        _aws_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        RelayError,
        None,
        id="403-bad-key",
    ),
    pytest.param(
        _aws_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
        RelayError,
        None,
        id="403-signature",
    ),
    pytest.param(
        _aws_error(
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
        _aws_error(404, "NotFoundException", "Configuration set <transactional> does not exist."),
        RelayError,
        None,
        id="404-configuration-set",
    ),
    pytest.param(
        _aws_error(429, "TooManyRequestsException", "Too many requests.", {"Retry-After": "2"}),
        TransientError,
        2.0,
        id="429",
    ),
    pytest.param(
        _aws_error(500, "InternalFailure", "The request processing has failed."),
        TransientError,
        None,
        id="500",
    ),
    pytest.param(
        _aws_error(503, "ServiceUnavailable", "Service is unable to handle request."),
        TransientError,
        None,
        id="503",
    ),
]


@pytest.mark.parametrize(("reply", "error", "retry_after"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: SESTransport,
    respx_mock: respx.MockRouter,
    assert_maps_to: Callable[..., None],
    make_outgoing: Callable[..., Any],
    reply: httpx.Response,
    error: type[MailError],
    retry_after: float | None,
) -> None:
    respx_mock.post(URL).mock(return_value=reply)
    with pytest.raises(MailError) as info:
        await transport.send(make_outgoing())
    code = reply.headers["x-amzn-ErrorType"].split(":")[0]
    text = f"{code}: {reply.json()['message']}"
    assert_maps_to(
        info.value,
        error,
        code=reply.status_code,
        relay="ses://us-east-1",
        text=text,
        retry_after=retry_after,
    )
    assert info.value.server_text == text


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(
            400,
            json={"__type": "com.amazonaws.sesv2#BadRequestException", "message": "Invalid input"},
        ),
        httpx.Response(400, json={"code": "BadRequestException", "message": "Invalid input"}),
    ],
)
async def test_error_code_may_come_from_the_body(
    transport: SESTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    reply: httpx.Response,
) -> None:
    respx_mock.post(URL).mock(return_value=reply)
    with pytest.raises(PermanentError) as info:
        await transport.send(make_outgoing())
    assert info.value.server_text == "BadRequestException: Invalid input"


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: SESTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown):
        await transport.send(make_outgoing())


# -- the credential chain ----------------------------------------------------------------


def _env_keys(monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)


async def test_chain_credentials_sign_and_are_looked_up_off_the_loop(
    frozen_clock: None,
    monkeypatch: pytest.MonkeyPatch,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    _env_keys(monkeypatch, TOKEN)
    transport = SESTransport.from_url(parse_url("ses://us-east-1"))
    threads: list[str] = []
    real = transport._session.get_credentials

    def spy() -> Any:
        threads.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(transport._session, "get_credentials", spy)
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing())
    await transport.send(make_outgoing())
    assert len(threads) == 1  # once: the second send reuses the keys
    assert threads[0] != threading.main_thread().name
    request = route.calls.last.request
    assert request.headers["X-Amz-Security-Token"] == TOKEN
    assert request.headers["Authorization"] == independent_authorization(request)


@pytest.mark.respx(assert_all_called=False)
async def test_no_credentials_anywhere_is_a_relay_error(
    respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(region="eu-west-1")
    route = respx_mock.post("https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails")
    with pytest.raises(RelayError, match="no AWS credentials"):
        await transport.send(make_outgoing())
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_a_bad_message_fails_before_the_credential_lookup(
    respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(region="eu-west-1")  # no credentials either: MessageError wins
    with pytest.raises(MessageError, match="non-ASCII local part"):
        await transport.send(make_outgoing(to=["bücher@example.com"]))


async def test_expired_chain_keys_are_looked_up_again(
    frozen_clock: None,
    monkeypatch: pytest.MonkeyPatch,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    _env_keys(monkeypatch, "old-token")
    transport = SESTransport(region="us-east-1")
    route = respx_mock.post(URL).mock(
        side_effect=[
            _aws_error(
                403,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            accepted(),
        ]
    )
    with pytest.raises(TransientError):
        await transport.send(make_outgoing())
    monkeypatch.setenv("AWS_SESSION_TOKEN", "new-token")
    await transport.send(make_outgoing())
    assert route.calls.last.request.headers["X-Amz-Security-Token"] == "new-token"


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    frozen_clock: None,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    # The conftest key stands in for the AWS secret, so secret_logs checks it in every record.
    transport = SESTransport.from_url(parse_url(f"ses://{AKID}:{api_key}@us-east-1"))
    assert_secret_free(transport, api_key)
    assert AKID not in transport.name
    echo = f"key {AKID} secret {api_key}"
    outcomes: list[httpx.Response | Exception] = [
        accepted(),
        *(
            _aws_error(status, code, echo, {"Retry-After": "1"})
            for status, code in (
                (400, "MessageRejected"),
                (403, "InvalidSignatureException"),
                (404, "NotFoundException"),
                (429, "TooManyRequestsException"),
                (500, "InternalFailure"),
            )
        ),
        httpx.ConnectError(f"proxy refused {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, make_outgoing, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key, AKID)
    assert any(r.name == "mailsdk" for r in secret_logs.records)


async def test_session_token_stays_out_of_botocore_debug_logs(
    frozen_clock: None,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = SESTransport(AKID, SECRET, session_token=TOKEN, region="us-east-1")
    respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing())
    canonical = [r for r in caplog.records if r.name == "botocore.auth"]
    assert any("x-amz-security-token:***" in r.getMessage() for r in canonical)
    for record in caplog.records:
        assert TOKEN not in record.getMessage() + repr(record.args)
        assert SECRET not in record.getMessage() + repr(record.args)
    assert TOKEN not in repr(vars(transport))


# -- URLs --------------------------------------------------------------------------------


@pytest.fixture
def region_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")


@pytest.mark.parametrize(
    ("url", "base_url", "name", "static"),
    [
        (
            f"ses://{AKID}:{SECRET.replace('/', '%2F')}@us-east-1",
            URL.rsplit("/v2", 1)[0],
            "ses://us-east-1",
            True,
        ),
        ("ses://eu-west-1", "https://email.eu-west-1.amazonaws.com", "ses://eu-west-1", False),
        ("ses://default", "https://email.eu-central-1.amazonaws.com", "ses://eu-central-1", False),
        (
            "ses://us-gov-west-1?timeout=5",
            "https://email.us-gov-west-1.amazonaws.com",
            "ses://us-gov-west-1",
            False,
        ),
        (
            "ses://us-east-1?base_url=http://127.0.0.1:4566/",
            "http://127.0.0.1:4566",
            "ses://127.0.0.1",
            False,
        ),
    ],
)
def test_from_url(region_from_env: None, url: str, base_url: str, name: str, static: bool) -> None:
    transport = SESTransport.from_url(parse_url(url))
    assert (transport.base_url, transport.name) == (base_url, name)
    assert (transport._static is not None) == static
    if static:
        assert transport.secrets() == [AKID, SECRET]


def test_options_from_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    config = tmp_path / "config"
    config.write_text("[profile mail]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    transport = SESTransport.from_url(
        parse_url("ses://default?profile=mail&configuration_set=tx&timeout=7.5")
    )
    assert (transport.region, transport.configuration_set, transport.timeout) == (
        "ap-southeast-2",
        "tx",
        7.5,
    )


def test_ca_file_option(tmp_path: Any) -> None:
    ca = str(tmp_path / "ca.pem")
    transport = SESTransport.from_url(parse_url(f"ses://eu-west-1?ca_file={ca}"))
    assert transport.ca_file == ca


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ses://{akid}:{key}@us-east-1?bogus=1", "unknown option"),
        ("ses://{akid}@us-east-1", "ACCESS_KEY:SECRET"),
        ("ses://:{key}@us-east-1", "ACCESS_KEY:SECRET"),
        ("ses://{akid}:{key}@mars", "not an AWS region"),
        ("ses://{akid}:{key}@us-east-1?profile=mail", "profile="),
        ("ses://default", "no region"),
        ("ses://default?profile=nope", "nope"),
        ("ses://us-east-1?timeout=soon", "not a positive number"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        SESTransport.from_url(parse_url(url.format(akid=AKID, key=api_key)))
    # A botocore lookup error (an unknown profile, say) may stand behind the refusal.
    assert_secret_free(info.value, api_key, AKID, may_chain=True)


def test_registry_entry_builds_the_transport(from_registry: Callable[[str, str], Any]) -> None:
    # The line this module asks for in mailsdk.config._REGISTRY.
    transport = from_registry(
        REGISTRY_ENTRY, f"ses://{AKID}:{SECRET.replace('/', '%2F')}@eu-west-2"
    )
    assert isinstance(transport, SESTransport)
    assert transport.name == "ses://eu-west-2"
