"""HTTPTransport and Payload: the walk, refusing features, error mapping, the client, secrets.

These use a made-up provider, "acme", so the base is specified apart from any real API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import pytest
import respx
import trustme

from mailsdk import (
    Address,
    Attachment,
    ConfigurationError,
    DeliveryUnknown,
    MailError,
    MessageError,
    OutgoingMessage,
    PermanentError,
    RecipientsRefused,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http.base import (
    ErrorReply,
    HTTPRequest,
    HTTPTransport,
    Payload,
    RecipientKind,
    SuccessReply,
    encode_message_id,
    response_json,
)

URL = "https://api.acme.test/v1/send"


class BarePayload(Payload["AcmeTransport"]):
    """Knows only from, recipients, subject and a text body; records every hook call."""

    def __init__(self, transport: AcmeTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.body: dict[str, Any] = {}
        transport.calls = []

    def set_from(self, address: Address) -> None:
        self.transport.calls.append("from")
        self.body["from"] = str(address)

    def set_recipients(self, kind: RecipientKind, addresses: Sequence[Address]) -> None:
        self.transport.calls.append(kind)
        self.body[kind] = [a.email for a in addresses]

    def set_subject(self, subject: str) -> None:
        self.transport.calls.append("subject")
        self.body["subject"] = subject

    def set_text(self, text: str) -> None:
        self.transport.calls.append("text")
        self.body["text"] = text

    def build(self) -> HTTPRequest:
        idempotent = self.transport.idempotent
        headers = {"Idempotency-Key": self.idempotency_key()} if idempotent else {}
        return HTTPRequest(
            "POST", "/v1/send", json=self.body, headers=headers, idempotent=idempotent
        )


class AcmePayload(BarePayload):
    """Also takes headers (which every message has: its Message-ID)."""

    def set_headers(self, headers: Mapping[str, str]) -> None:
        self.transport.calls.append("headers")
        self.body["headers"] = dict(headers)


class FullPayload(AcmePayload):
    """Takes every feature, recording the order the walk calls the hooks in."""

    def set_envelope_from(self, address: Address) -> None:
        self.transport.calls.append("envelope_from")

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        self.transport.calls.append("reply_to")

    def set_html(self, html: str) -> None:
        self.transport.calls.append("html")

    def add_attachment(self, attachment: Attachment) -> None:
        self.transport.calls.append(f"attachment:{attachment.filename}")

    def add_inline(self, attachment: Attachment) -> None:
        self.transport.calls.append(f"inline:{attachment.cid}")

    def set_tags(self, tags: Sequence[str]) -> None:
        self.transport.calls.append("tags")

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        self.transport.calls.append("metadata")


class RawPayload(Payload["AcmeTransport"]):
    """A provider that takes the rendered MIME plus tags and metadata."""

    takes_raw_mime = True

    def __init__(self, transport: AcmeTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.fields: dict[str, Any] = {}

    def set_raw_message(self, raw: bytes) -> None:
        self.fields["raw"] = raw.decode()

    def set_tags(self, tags: Sequence[str]) -> None:
        self.fields["tags"] = list(tags)

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        self.fields["metadata"] = dict(metadata)

    def build(self) -> HTTPRequest:
        return HTTPRequest("POST", "/v1/send", json=self.fields)


class AcmeTransport(HTTPTransport):
    scheme = "acme"
    regions = {"default": "https://api.acme.test", "eu": "https://api.eu.acme.test"}
    payload_class: ClassVar[type[Payload[Any]]] = FullPayload

    def __init__(self, api_key: str, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.idempotent = False
        self.calls: list[str] = []
        self.refused: dict[str, tuple[int, str]] = {}

    def parse_success(self, response: httpx.Response, outgoing: OutgoingMessage) -> SuccessReply:
        body = response_json(response)
        if isinstance(body, dict) and body.get("status") == "failed":
            raise PermanentError("acme said failed", relay=self.name)
        if isinstance(body, dict) and body.get("status") == "garbled":
            raise KeyError("id")
        return SuccessReply(provider_id=body["id"] if body else None, refused=self.refused)


class LimitedAcme(AcmeTransport):
    payload_class = AcmePayload


class BareAcme(AcmeTransport):
    payload_class = BarePayload


class RawAcme(AcmeTransport):
    payload_class = RawPayload


def ok(**body: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": "acme-1", **body})


@pytest.fixture
def transport(api_key: str) -> AcmeTransport:
    return AcmeTransport(api_key)


@pytest.fixture
def limited(api_key: str) -> LimitedAcme:
    return LimitedAcme(api_key)


@pytest.fixture
def simple(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """A message Acme can express: no html, reply-to, attachments, tags or metadata."""
    return make_outgoing(html=None, reply_to=[], attachments=[], headers={}, tags=[], metadata={})


# -- the walk ----------------------------------------------------------------------------


async def test_walk_calls_each_hook_once_in_order(
    transport: AcmeTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    outgoing = make_outgoing(envelope_from="bounces@example.com")
    await transport.send(outgoing)
    assert transport.calls == [
        "from",
        "envelope_from",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "subject",
        "text",
        "html",
        "headers",
        "attachment:report.pdf",
        "inline:logo@example.com",
        "tags",
        "metadata",
    ]
    # The Message-ID goes first, once, so the id in the result is the one recipients see.
    headers = json.loads(route.calls.last.request.content)["headers"]
    assert list(headers.items()) == [
        ("Message-ID", outgoing.message_id),
        ("X-Campaign", "spring-2026"),
    ]


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"html": "<p>hi</p>"}, "an HTML body"),
        ({"reply_to": ["r@example.com"]}, "reply_to"),
        ({"attachments": [Attachment(filename="a.txt", content=b"a")]}, "attachments"),
        (
            {"attachments": [Attachment(filename="i.png", content=b"i", inline=True)]},
            "inline images",
        ),
        ({"tags": ["t"]}, "tags"),
        ({"metadata": {"k": "v"}}, "metadata"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_a_feature_without_a_hook_is_refused_before_any_request(
    limited: LimitedAcme,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    base: dict[str, Any] = {
        "html": None,
        "reply_to": [],
        "attachments": [],
        "tags": [],
        "metadata": {},
    }
    with pytest.raises(MessageError, match=feature) as info:
        await limited.send(make_outgoing(**{**base, **overrides}))
    assert info.value.relay == "acme://default"
    assert not route.called
    assert limited.clients_created == 0  # not even a client was made


@pytest.mark.respx(assert_all_called=False)
async def test_the_message_id_header_needs_a_header_hook(
    api_key: str, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    with pytest.raises(MessageError, match="custom headers"):
        await BareAcme(api_key).send(simple)


async def test_raw_mime_payload_gets_the_rendered_bytes_plus_tags_and_metadata(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = RawAcme(api_key)
    route = respx_mock.post(URL).mock(return_value=ok())
    outgoing = make_outgoing()
    await transport.send(outgoing)
    assert json.loads(route.calls.last.request.content) == {
        "raw": outgoing.raw.decode(),
        "tags": ["reports", "monthly"],
        "metadata": {"account_id": "42", "plan": "pro", "mailsdk_message_id": outgoing.message_id},
    }


def test_idempotency_key_is_stable_per_message_id(
    transport: AcmeTransport, make_outgoing: Callable[..., Any]
) -> None:
    first = AcmePayload(transport, make_outgoing()).idempotency_key()
    again = AcmePayload(transport, make_outgoing(subject="changed")).idempotency_key()
    other = AcmePayload(transport, make_outgoing(headers={})).idempotency_key()
    assert first == again != other
    assert len(first) == 64


# -- replies -----------------------------------------------------------------------------


async def test_request_has_auth_user_agent_and_our_timeouts(
    transport: AcmeTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    result = await transport.send(make_outgoing())
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {transport.api_key.get_secret_value()}"
    assert request.headers["User-Agent"].startswith("mailsdk")
    timeouts = {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}
    assert request.extensions["timeout"] == timeouts
    assert result.provider_id == "acme-1"
    assert result.relay == "acme://default"
    assert result.attempts[0].code == 200


async def test_per_recipient_refusals_are_reported(
    transport: AcmeTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport.refused = {"Carol@Example.NET": (406, "inactive recipient")}
    respx_mock.post(URL).mock(return_value=ok())
    result = await transport.send(make_outgoing())
    assert result.accepted == ["alice@example.com", "jane@example.org", "audit@example.com"]
    # Named as the envelope names it, whatever case the provider reported it in.
    assert result.refused == {"carol@example.net": (406, "inactive recipient")}
    assert not result.ok


async def test_every_recipient_refused_raises(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    transport.refused = {r: (406, "inactive") for r in simple.envelope.rcpt_to}
    respx_mock.post(URL).mock(return_value=ok())
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(simple)
    assert set(info.value.refused) == set(simple.envelope.rcpt_to)


async def test_a_2xx_the_provider_documents_as_failure_raises_its_error(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=ok(status="failed"))
    with pytest.raises(PermanentError, match="acme said failed"):
        await transport.send(simple)


async def test_an_unreadable_2xx_is_still_a_delivery(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The provider has the message: raising would make failover send it a second time.
    respx_mock.post(URL).mock(return_value=ok(status="garbled"))
    with caplog.at_level(logging.WARNING, logger="mailsdk"):
        result = await transport.send(simple)
    assert result.provider_id is None
    assert result.accepted
    assert "could not be read" in caplog.text


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentError),
        (401, RelayError),
        (403, RelayError),
        (404, PermanentError),
        (413, PermanentError),
        (422, PermanentError),
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
    ],
)
async def test_status_classification(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    status: int,
    error: type[MailError],
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(status, text="  the provider\n says no "))
    with pytest.raises(MailError) as info:
        await transport.send(simple)
    assert type(info.value) is error
    assert info.value.code == status
    assert info.value.server_text == "the provider says no"  # whitespace folded to one line


async def test_retry_after_as_http_date(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    with pytest.raises(TransientError) as info:
        await transport.send(simple)
    assert info.value.retry_after == 0.0  # a date in the past: retry now


async def test_retry_after_as_a_future_http_date_reads_the_transport_clock(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    transport.wall_clock = lambda: 1_445_412_000.0  # Wed, 21 Oct 2015 07:20:00 GMT, frozen
    respx_mock.post(URL).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    with pytest.raises(TransientError) as info:
        await transport.send(simple)
    assert info.value.retry_after == 480.0


async def test_parse_error_may_override_class_and_delay(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        transport, "parse_error", lambda r: ErrorReply("slow down", TransientError, 42.0)
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(400, headers={"Retry-After": "1"}))
    with pytest.raises(TransientError) as info:
        await transport.send(simple)
    assert (info.value.retry_after, info.value.server_text) == (42.0, "slow down")


async def test_a_failing_error_parser_keeps_the_status(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(response: httpx.Response) -> ErrorReply:
        raise KeyError("errors")

    monkeypatch.setattr(transport, "parse_error", broken)
    respx_mock.post(URL).mock(return_value=httpx.Response(401, text="bad key"))
    with pytest.raises(RelayError) as info:
        await transport.send(simple)
    assert info.value.server_text == "bad key"


@pytest.mark.parametrize(
    ("failure", "idempotent", "error"),
    [
        (httpx.ConnectError("refused"), False, TransientError),
        (httpx.ConnectTimeout("timed out"), False, TransientError),
        (httpx.PoolTimeout("no free connection"), False, TransientError),
        (httpx.WriteTimeout("timed out"), False, TransientError),
        (httpx.ReadTimeout("timed out"), False, DeliveryUnknown),
        (httpx.ReadError("reset by peer"), False, DeliveryUnknown),
        (httpx.RemoteProtocolError("Server disconnected"), False, DeliveryUnknown),
        (httpx.ReadTimeout("timed out"), True, TransientError),
        (httpx.RemoteProtocolError("Server disconnected"), True, TransientError),
    ],
)
async def test_network_failures(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    failure: Any,
    idempotent: bool,
    error: type[MailError],
) -> None:
    transport.idempotent = idempotent
    route = respx_mock.post(URL).mock(side_effect=failure)
    with pytest.raises(MailError) as info:
        await transport.send(simple)
    assert type(info.value) is error
    assert info.value.relay == "acme://default"
    # Nothing chained: the httpx error's request carries the credentials.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    if idempotent:
        assert route.calls.last.request.headers["Idempotency-Key"]


async def test_an_untrusted_certificate_is_a_relay_error(
    api_key: str, simple: OutgoingMessage
) -> None:
    # A real TLS handshake against a certificate from a CA the client does not trust: the
    # same certificate will fail on every retry, so this relay is unusable (fail over).
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    transport = AcmeTransport(api_key, base_url=f"https://localhost:{port}")
    try:
        with pytest.raises(RelayError, match="certificate"):
            await transport.send(simple)
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


# -- secrets -----------------------------------------------------------------------------


async def test_secrets_are_scrubbed_from_provider_text_and_network_errors(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    api_key: str,
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
) -> None:
    respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(401, text=f"key {api_key} is revoked"),
            httpx.ConnectError(f"proxy rejected Bearer {api_key}"),
        ]
    )
    for expected in (RelayError, TransientError):
        with pytest.raises(expected) as info:
            await transport.send(simple)
        assert_secret_free(info.value, api_key)
        assert "***" in str(info.value)
    assert_secret_free(transport, api_key)


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name", "base_url"),
    [
        ({}, "acme://default", "https://api.acme.test"),
        ({"region": "eu"}, "acme://eu", "https://api.eu.acme.test"),
        ({"base_url": "https://user:pw@proxy.internal/acme/"}, "acme://proxy.internal", None),
        ({"name": "acme://primary"}, "acme://primary", "https://api.acme.test"),
    ],
)
def test_names_and_base_urls(
    api_key: str, kwargs: dict[str, Any], name: str, base_url: str | None
) -> None:
    transport = AcmeTransport(api_key, **kwargs)
    assert transport.name == name
    assert repr(transport) == f"AcmeTransport({name!r})"
    if base_url:
        assert transport.base_url == base_url


@pytest.mark.parametrize(
    ("args", "kwargs", "complaint"),
    [
        (("",), {}, "API key is empty"),
        (("k",), {"region": "mars"}, "unknown region 'mars'; known: default, eu"),
        (("k",), {"base_url": "api.acme.test"}, "must be an https:// URL"),
        (("k",), {"base_url": "http://api.acme.test"}, "must use https:// for api.acme.test"),
    ],
)
def test_bad_construction(args: tuple[str], kwargs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        AcmeTransport(*args, **kwargs)


def test_from_url_passes_provider_options(
    api_key: str, assert_secret_free: Callable[..., None]
) -> None:
    class Tuned(AcmeTransport):
        url_options = ("pool",)

        def __init__(self, api_key: str, *, pool: str = "main", **kwargs: Any) -> None:
            super().__init__(api_key, **kwargs)
            self.pool = pool

        @classmethod
        def options_from_url(cls, url: Any) -> dict[str, Any]:
            return {"pool": url.option("pool", "main")}

    transport = Tuned.from_url(parse_url(f"acme://{api_key}@eu?pool=bulk&timeout=5"))
    assert (transport.pool, transport.region, transport.timeout) == ("bulk", "eu", 5.0)
    with pytest.raises(ConfigurationError, match="unknown option") as info:
        AcmeTransport.from_url(parse_url(f"acme://{api_key}@eu?pool=bulk"))
    assert_secret_free(info.value, api_key)


# -- the client --------------------------------------------------------------------------


def test_a_new_event_loop_gets_a_new_client(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=ok())
    asyncio.run(transport.send(simple))
    first = transport._client
    asyncio.run(transport.send(simple))
    assert transport.clients_created == 2
    assert transport._client is not first


async def test_a_forked_child_gets_a_new_client(
    transport: AcmeTransport,
    respx_mock: respx.MockRouter,
    simple: OutgoingMessage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    respx_mock.post(URL).mock(return_value=ok())
    await transport.send(simple)
    parent_client = transport._client
    monkeypatch.setattr(os, "getpid", lambda: -1)  # what a forked child sees: another pid
    await transport.send(simple)
    assert transport.clients_created == 2
    assert parent_client is not None
    assert not parent_client.is_closed  # left to the parent
    await transport.aclose()
    await parent_client.aclose()


async def test_an_injected_client_is_used_but_not_closed(
    api_key: str, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=ok())
    async with httpx.AsyncClient(timeout=1.0) as client:
        transport = AcmeTransport(api_key, client=client, timeout=7.0)
        await transport.send(simple)
        await transport.aclose()
        assert not client.is_closed
        assert transport.clients_created == 0
        timeout = respx_mock.calls.last.request.extensions["timeout"]
        assert timeout["read"] == 7.0  # the transport's timeout, not the client's


async def test_aclose_is_idempotent(transport: AcmeTransport) -> None:
    await transport.aclose()
    await transport.aclose()


class RefusingAcme(AcmeTransport):
    """Names the recipients it refuses in its error body, upper-cased, key echoed."""

    def parse_error(self, response: httpx.Response) -> ErrorReply:
        body = response_json(response)
        refused = {a.upper(): (550, f"inactive, key {self.api_key_value()}") for a in body["bad"]}
        return ErrorReply("refused", refused=refused)

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> SuccessReply | ErrorReply:
        body = response_json(response)
        if body.get("ok") is False:  # a 2xx the provider documents as a failure
            return ErrorReply(f"not sent: {body['why']}")
        return super().parse_success(response, outgoing)


async def test_an_error_reply_carries_refusals_named_as_the_envelope_names_them(
    api_key: str, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    transport = RefusingAcme(api_key)
    bad = simple.envelope.rcpt_to[0]
    respx_mock.post(URL).mock(return_value=httpx.Response(422, json={"bad": [bad]}))
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(simple)
    assert info.value.refused == {bad: (550, "inactive, key ***")}
    assert info.value.relay == "acme://default"


async def test_a_2xx_parsed_as_an_error_reply_is_a_permanent_error(
    api_key: str, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    transport = RefusingAcme(api_key)
    respx_mock.post(URL).mock(return_value=ok(ok=False, why=f"sandbox ({api_key})"))
    with pytest.raises(PermanentError) as info:
        await transport.send(simple)
    assert info.value.code == 200
    assert info.value.server_text == "not sent: sandbox (***)"


async def test_a_provider_without_credentials_is_built_without_a_fake_key(
    respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    class Keyless(AcmeTransport):
        requires_api_key = False

        def authenticate(self, request: httpx.Request) -> None:
            request.headers["X-Signed"] = "yes"

    transport = Keyless(None)  # type: ignore[arg-type]
    assert transport.api_key is None
    assert transport.secrets() == []
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(simple)
    assert route.calls.last.request.headers["X-Signed"] == "yes"
    with pytest.raises(ConfigurationError, match="API key is empty"):
        AcmeTransport("")


async def test_the_deadline_is_never_read_from_the_message(
    transport: AcmeTransport, respx_mock: respx.MockRouter, simple: OutgoingMessage
) -> None:
    # The deadline travels beside the message; OutgoingMessage has no slot to carry one.
    assert not hasattr(simple, "deadline")
    transport.clock = lambda: 500.0
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(simple, deadline=501.5)
    assert route.calls.last.request.extensions["timeout"]["read"] == 1.5
    await transport.send(simple, deadline=500.75)
    assert route.calls.last.request.extensions["timeout"]["connect"] == 0.75


# -- provider options --------------------------------------------------------------------


async def test_provider_options_merge_objects_and_replace_the_rest(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    options = {"metadata": {"tenant": "acme"}, "tags": ["only"], "pool": {"name": "p1"}}
    outgoing = make_outgoing(provider_options={"acme": options, "other": {"tags": ["no"]}})
    await RawAcme(api_key).send(outgoing)
    body = json.loads(route.calls.last.request.content)
    assert body["metadata"] == {
        "account_id": "42",
        "plan": "pro",
        "mailsdk_message_id": outgoing.message_id,
        "tenant": "acme",
    }
    assert body["tags"] == ["only"]
    assert body["pool"] == {"name": "p1"}
    assert outgoing.message.provider_options["acme"] == options  # untouched by the merge


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize("toggles", [{"track_opens": False}, {"track_clicks": True}])
async def test_tracking_without_a_hook_is_refused_before_any_request(
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    toggles: dict[str, bool],
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    with pytest.raises(MessageError, match="open or click tracking") as info:
        await RawAcme(api_key).send(make_outgoing(**toggles))
    assert info.value.relay == "acme://default"
    assert not route.called


async def test_metadata_carries_our_message_id_even_when_the_message_has_none(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    outgoing = make_outgoing(metadata={}, tags=[])
    await RawAcme(api_key).send(outgoing)
    body = json.loads(route.calls.last.request.content)
    assert body["metadata"] == {"mailsdk_message_id": outgoing.message_id}
    assert "tags" not in body


def test_encode_message_id_is_tag_safe_and_reversible() -> None:
    value = encode_message_id("<20260101120000.4242@example.com>")
    assert value == "MjAyNjAxMDExMjAwMDAuNDI0MkBleGFtcGxlLmNvbQ"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value)
    padded = value + "=" * (-len(value) % 4)
    assert base64.urlsafe_b64decode(padded) == b"20260101120000.4242@example.com"
