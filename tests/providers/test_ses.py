"""Amazon SES v2: SigV4 checked independently, the botocore model, replies, credentials, URLs."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.auth
import httpx
import pytest
import respx
from contract_table import (
    AKID,
    SECRET,
    SES,
    Post,
    Refused,
    assert_rendered_in_full,
    aws_error,
    json_request,
    no_ambient_aws,
    sent_json,
    ses_accepted,
    tag_id,
    tags,
)
from schemas import ShapeError, check_shape, ses_send_email_input

from mailsdk import MessageError, PermanentError, RelayError, TransientError, parse_url
from mailsdk.transports.http import ses as ses_module
from mailsdk.transports.http.ses import SESTransport

ROW = SES  # the post fixture answers with its documented success
URL = ROW.endpoint
# The AWS SigV4 test suite's credentials and clock (PROVIDERS.md section 3.2).
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
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """botocore's chain sees only what a test gives it (see contract_table.no_ambient_aws)."""
    no_ambient_aws(monkeypatch, tmp_path)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # SigV4Auth.add_auth reads the time through the name get_current_datetime, which
    # botocore.auth imports from botocore.compat into its own namespace; replacing that name
    # there fixes X-Amz-Date and the credential scope for every signature this test makes.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: FIXED)


@pytest.fixture
def transport(frozen_clock: None) -> SESTransport:
    return SESTransport(AKID, SECRET, region="us-east-1", configuration_set="transactional")


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


async def test_request_carries_every_feature(post: Post, make_outgoing: Callable[..., Any]) -> None:
    outgoing = make_outgoing(envelope_from="bounces@example.com")
    request, body = json_request(await post(outgoing))
    assert request.headers["Host"] == "email.us-east-1.amazonaws.com"
    assert request.headers["X-Amz-Date"] == AMZ_DATE
    assert "X-Amz-Security-Token" not in request.headers
    assert request.headers["Authorization"] == independent_authorization(request)
    assert body == {
        # Bcc is only here: the MIME carries no Bcc header.
        "Destination": {
            "ToAddresses": ["alice@example.com", "jane@example.org"],
            "CcAddresses": ["carol@example.net"],
            "BccAddresses": ["audit@example.com"],
        },
        "Content": {"Raw": {"Data": base64.b64encode(outgoing.raw).decode()}},
        "FeedbackForwardingEmailAddress": "bounces@example.com",
        "ConfigurationSetName": "transactional",
        "EmailTags": tags("Name", "Value"),
    }
    assert_rendered_in_full(outgoing.raw)


async def test_signature_matches_independent_sigv4_with_a_session_token(
    frozen_clock: None, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(AKID, SECRET, session_token=TOKEN, region="us-east-1")
    route = respx_mock.post(URL).mock(return_value=ses_accepted())
    await transport.send(make_outgoing())
    request = route.calls.last.request
    assert request.headers["X-Amz-Security-Token"] == TOKEN
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (request.headers["Authorization"])
    )
    assert request.headers["Authorization"] == independent_authorization(request)


def test_model_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    spec = load_spec("ses.json")
    shapes, root = spec["shapes"], ses_send_email_input(spec)
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
    route = respx_mock.post(URL).mock(return_value=ses_accepted())
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


async def test_a_recipient_in_two_fields_is_listed_once(post: Post) -> None:
    route = await post(cc=["alice@example.com"], bcc=[])
    assert sent_json(route)["Destination"] == {
        "ToAddresses": ["alice@example.com", "jane@example.org"]
    }


async def test_plain_message_sends_only_what_it_has(
    frozen_clock: None, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SESTransport(AKID, SECRET, region="us-east-1")
    route = respx_mock.post(URL).mock(return_value=ses_accepted())
    outgoing = make_outgoing(cc=[], bcc=[], tags=[], metadata={})
    await transport.send(outgoing)
    assert set(sent_json(route)) == {"Destination", "Content", "EmailTags"}
    assert sent_json(route)["EmailTags"] == [
        {"Name": "mailsdk_message_id", "Value": tag_id(outgoing.message_id)}
    ]


# -- refused before any request ----------------------------------------------------------


async def test_too_large_a_message_is_refused(
    refused: Refused, make_outgoing: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ses_module, "_MAX_BASE64", 1000)  # 40 MB of test data is just slow
    await refused(make_outgoing(), r"octets of base64 MIME \(at most 1000\)")


# -- replies -----------------------------------------------------------------------------


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
    route = respx_mock.post(URL).mock(return_value=ses_accepted())
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
            aws_error(
                403,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            ses_accepted(),
        ]
    )
    with pytest.raises(TransientError):
        await transport.send(make_outgoing())
    monkeypatch.setenv("AWS_SESSION_TOKEN", "new-token")
    await transport.send(make_outgoing())
    assert route.calls.last.request.headers["X-Amz-Security-Token"] == "new-token"


# -- secrets -----------------------------------------------------------------------------


async def test_session_token_stays_out_of_botocore_debug_logs(
    frozen_clock: None,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = SESTransport(AKID, SECRET, session_token=TOKEN, region="us-east-1")
    respx_mock.post(URL).mock(return_value=ses_accepted())
    await transport.send(make_outgoing())
    canonical = [r for r in caplog.records if r.name == "botocore.auth"]
    assert any("x-amz-security-token:***" in r.getMessage() for r in canonical)
    for record in caplog.records:
        assert TOKEN not in record.getMessage() + repr(record.args)
        assert SECRET not in record.getMessage() + repr(record.args)
    assert TOKEN not in repr(vars(transport))


# -- URLs --------------------------------------------------------------------------------


def test_default_takes_the_region_botocore_is_configured_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    transport = SESTransport.from_url(parse_url("ses://default"))
    assert (transport.base_url, transport.name) == (
        "https://email.eu-central-1.amazonaws.com",
        "ses://eu-central-1",
    )
    assert transport.secrets() == []  # keys come from the chain, at the first send


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
