"""The provider contract: every HTTP provider transport, row by row of ``contract_table.ROWS``.

Each check here holds for every provider: the request goes to the documented endpoint with
its credentials (and fits the provider's published description where ``shared/specs`` has
one); a documented success yields the provider's id, every envelope recipient and one attempt;
HTTP statuses and the provider's documented error bodies map onto the error tree
(DESIGN.md decision 4); network failures and timeouts are transient or unknown; the send's
deadline bounds every timeout; no secret shows in a name, repr, error, result or log; what a
provider cannot express is refused before any request; URLs build the transport (or are
refused without echoing the key) and the registry record builds it too.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from contract_table import ROWS, Row

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
from mailsdk.config import transport_from_url
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http.base import HTTPTransport, JSONPayload, Payload

EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
# DESIGN.md decision 4, for a reply whose body says nothing more than its status.
STATUS_CLASSES: dict[int, type[MailError]] = {
    400: PermanentError,
    401: RelayError,
    403: RelayError,
    404: PermanentError,
    413: PermanentError,
    422: PermanentError,
    429: TransientError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
}
# Every status a provider documents, each echoing the secrets back (for the secrets check).
ECHOED = (400, 401, 402, 403, 404, 409, 413, 420, 421, 422, 429, 451, 500, 502, 503)


def by_row(cases: Callable[[Row], list[Any]]) -> list[Any]:
    """``pytest.param(row, *case)`` for every case of every row, named ``scheme-case``."""
    params = []
    for row in ROWS:
        for index, case in enumerate(cases(row)):
            if isinstance(case, tuple):
                params.append(pytest.param(row, *case, id=f"{row.scheme}-{index}"))
            else:  # a pytest.param of the row's own
                params.append(pytest.param(row, *case.values, id=f"{row.scheme}-{case.id}"))
    return params


@pytest.fixture(params=ROWS, ids=[row.scheme for row in ROWS])
def row(request: pytest.FixtureRequest) -> Row:
    """Each provider's row in turn."""
    row: Row = request.param
    return row


@pytest.fixture(autouse=True)
def isolated(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whatever the row needs kept out of the test (SES: the machine's AWS configuration)."""
    callspec = getattr(request.node, "callspec", None)
    row = callspec.params.get("row") if callspec is not None else None
    if isinstance(row, Row) and row.isolate is not None:
        row.isolate(monkeypatch, tmp_path)


@pytest.fixture
def transport(row: Row, api_key: str, isolated: None) -> HTTPTransport:
    """The row's transport with default settings and the key under test."""
    return row.make(api_key)


@pytest.fixture
def outgoing(row: Row, make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """The full test message, as far as the row's provider can send it."""
    return make_outgoing(**row.message)


# -- the request -------------------------------------------------------------------------


async def _sent(
    row: Row,
    transport: HTTPTransport,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    load_spec: Callable[[str], Any],
) -> httpx.Request:
    """The request *transport* made for *outgoing* (answered with the row's success), its
    body checked against the provider's published API description when there is one."""
    route = respx_mock.post(row.endpoint).mock(return_value=row.success())
    await transport.send(outgoing)
    request: httpx.Request = route.calls.last.request
    if row.spec is not None:
        name, check = row.spec
        check(load_spec(name))(json.loads(request.content))
    return request


async def test_request_goes_to_the_endpoint_with_credentials(
    row: Row,
    transport: HTTPTransport,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    api_key: str,
    load_spec: Callable[[str], Any],
) -> None:
    request = await _sent(row, transport, outgoing, respx_mock, load_spec)
    assert (request.method, str(request.url)) == ("POST", row.endpoint)
    for name, value in row.auth(api_key).items():
        assert request.headers[name] == value
    assert request.headers["User-Agent"].startswith("mailsdk")
    # The timeout a request carries is the transport's, connect capped at 10 s.
    assert request.extensions["timeout"] == {
        "connect": 10.0,
        "read": 30.0,
        "write": 30.0,
        "pool": 30.0,
    }


@pytest.mark.parametrize(("row", "url", "endpoint"), by_row(lambda row: list(row.regions)))
async def test_each_region_posts_to_its_own_host(
    row: Row,
    url: str,
    endpoint: str,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    api_key: str,
) -> None:
    route = respx_mock.post(endpoint).mock(return_value=row.success())
    transport = type(row.make(api_key)).from_url(parse_url(url.format(key=api_key)))
    result = await transport.send(outgoing)
    assert route.called
    assert result.relay == transport.name == url.replace("{key}@", "")


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    row: Row, transport: HTTPTransport, outgoing: OutgoingMessage, respx_mock: respx.MockRouter
) -> None:
    reply = row.success()
    respx_mock.post(row.endpoint).mock(return_value=reply)
    result = await transport.send(outgoing)
    # The message's own Message-ID (MailerSend's row sends none, so one was made).
    assert result.message_id == outgoing.message_id
    assert outgoing.message_id == outgoing.message.headers.get("Message-ID", outgoing.message_id)
    assert result.provider_id == row.provider_id
    assert result.relay == transport.name == row.relay
    assert result.accepted == EVERYONE
    assert result.refused == {}
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.relay, attempt.outcome, attempt.code) == (
        row.relay,
        "delivered",
        reply.status_code,
    )
    if row.success_text is not None:
        assert attempt.text == row.success_text


@pytest.mark.parametrize("status", sorted(STATUS_CLASSES))
async def test_status_classification(
    row: Row,
    transport: HTTPTransport,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    assert_maps_to: Callable[..., None],
    status: int,
) -> None:
    text = f"refused with {status}, nothing more said"
    headers = {"Retry-After": "7"} if status in (429, 503) else {}
    response = row.fail(status, text, headers)
    if status == 502:  # a proxy's HTML page, not the provider's body
        text = "Bad Gateway"
        headers = {"Retry-After": "120", "Content-Type": "text/html"}
        response = httpx.Response(status, text=f"<html><body>{text}</body></html>", headers=headers)
    respx_mock.post(row.endpoint).mock(return_value=response)
    with pytest.raises(MailError) as info:
        await transport.send(outgoing)
    error = row.classes.get(status, STATUS_CLASSES[status])
    retry_after = headers.get("Retry-After")
    assert_maps_to(
        info.value, error, code=status, relay=row.relay, text=text, retry_after=retry_after
    )


def documented(row: Row) -> list[Any]:
    """The row's documented error replies, one param each."""
    return [pytest.param(row, case, id=f"{row.scheme}-{case.id}") for case in row.errors]


@pytest.mark.parametrize(("row", "case"), [p for r in ROWS for p in documented(r)])
async def test_documented_error_replies_map_to_the_error_tree(
    row: Row,
    case: Any,
    transport: HTTPTransport,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
) -> None:
    if len(case.values) == 3:  # (reply, error, retry_after): the row derives the text
        response, error, retry_after = case.values
        assert row.error_text is not None
        text = row.error_text(response)
    else:  # (status, body, headers, error, text[, retry_after])
        status, body, headers, error, text, *rest = case.values
        response = reply(status, body, headers)
        retry_after = rest[0] if rest else headers.get("Retry-After")
    respx_mock.post(row.endpoint).mock(return_value=response)
    with pytest.raises(MailError) as info:
        await transport.send(outgoing)
    assert_maps_to(
        info.value,
        error,
        code=response.status_code,
        relay=row.relay,
        text=text,
        retry_after=retry_after,
    )
    if row.error_text is not None:
        assert info.value.server_text == text


# -- the network -------------------------------------------------------------------------


async def test_connect_errors_are_transient(
    row: Row, transport: HTTPTransport, outgoing: OutgoingMessage, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(row.endpoint).mock(
        side_effect=[
            httpx.ConnectError("[Errno 111] Connection refused"),
            httpx.ConnectTimeout("timed out connecting"),
        ]
    )
    with pytest.raises(TransientError, match="Connection refused") as refused:
        await transport.send(outgoing)
    with pytest.raises(TransientError, match="ConnectTimeout") as slow:
        await transport.send(outgoing)
    # Nothing reached the provider: another try, here or on the next relay, is safe.
    assert refused.value.relay == slow.value.relay == row.relay


async def test_a_lost_reply_is_unknown_unless_an_idempotency_key_makes_a_resend_safe(
    row: Row, transport: HTTPTransport, outgoing: OutgoingMessage, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(row.endpoint).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(MailError) as info:
        await transport.send(outgoing)
    if row.idempotent:
        assert type(info.value) is TransientError
    else:  # a resend could deliver twice
        assert type(info.value) is DeliveryUnknown
        assert "may have been delivered" in str(info.value)


# -- the deadline ------------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_deadline_bounds_every_timeout_and_a_passed_one_sends_nothing(
    row: Row, transport: HTTPTransport, outgoing: OutgoingMessage, respx_mock: respx.MockRouter
) -> None:
    clock = Clock()
    transport.clock = clock
    route = respx_mock.post(row.endpoint).mock(return_value=row.success())
    await transport.send(outgoing, deadline=clock.now + 2.5)
    assert route.calls.last.request.extensions["timeout"] == {
        "connect": 2.5,
        "read": 2.5,
        "write": 2.5,
        "pool": 2.5,
    }
    # A far deadline leaves the transport's own timeouts as they are.
    await transport.send(outgoing, deadline=clock.now + 3600)
    assert route.calls.last.request.extensions["timeout"]["read"] == transport.timeout == 30.0
    assert route.calls.last.request.extensions["timeout"]["connect"] == 10.0
    # A deadline already passed fails before any request: another relay gets the time left.
    with pytest.raises(TransientError, match="deadline passed") as info:
        await transport.send(outgoing, deadline=clock.now)
    assert info.value.relay == row.relay
    assert route.call_count == 2


# -- secrets -----------------------------------------------------------------------------


async def test_no_secret_in_name_repr_errors_results_or_logs(
    row: Row,
    api_key: str,
    isolated: None,
    outgoing: OutgoingMessage,
    respx_mock: respx.MockRouter,
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    secrets = row.secrets(api_key)
    transport = type(row.make(api_key)).from_url(parse_url(row.url.format(key=api_key)))
    assert_secret_free(transport, *secrets)
    echo = "echo " + " ".join(secrets)
    extra = row.outcomes(api_key)
    outcomes: list[httpx.Response | Exception] = [
        row.success(),
        *(row.fail(status, echo, {"Retry-After": "1"}) for status in ECHOED),
        *(reply for reply, _ in extra),
        httpx.ConnectError(f"proxy refused {echo}"),
        httpx.ReadTimeout(f"timed out {echo}"),
    ]
    route = respx_mock.post(row.endpoint).mock(side_effect=outcomes)
    results, errors = await send_each(transport, lambda: outgoing, len(outcomes))
    assert len(results) == 1 + sum(delivered for _, delivered in extra)
    assert len(errors) == len(outcomes) - len(results)
    for error in errors:
        assert_secret_free(error, *secrets)
    for result in results:
        shown = repr(result) + "".join(str(a.text) for a in result.attempts)
        assert all(secret not in shown for secret in secrets)
    for record in secret_logs.records:
        text = logging.Formatter().format(record) + repr(record.args)
        assert all(secret not in text for secret in secrets), f"a {record.name} record leaks"
    assert any(r.name == "mailsdk" for r in secret_logs.records)
    # The credentials did go where they belong.
    for name, value in row.auth(api_key).items():
        assert route.calls.last.request.headers[name] == value


# -- what a provider cannot express ------------------------------------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(("row", "overrides", "feature"), by_row(lambda row: list(row.unsupported)))
async def test_unsupported_features_raise_before_any_request(
    row: Row,
    transport: HTTPTransport,
    make_outgoing: Callable[..., OutgoingMessage],
    respx_mock: respx.MockRouter,
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(row.endpoint).mock(return_value=row.success())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**{**row.message, **overrides}))
    assert info.value.relay == row.relay  # only this relay lacks it: another may take it
    assert not route.called


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "url", "expected"), by_row(lambda row: list(row.urls)))
def test_from_url(
    row: Row, isolated: None, api_key: str, url: str, expected: dict[str, Any]
) -> None:
    transport = type(row.make(api_key)).from_url(parse_url(url.format(key=api_key)))
    for name, value in expected.items():
        attribute = getattr(transport, name)
        assert (attribute() if callable(attribute) else attribute) == value, name
    if "{key}" in url:
        assert api_key in transport.secrets()
        if row.password_slot:  # a single key: the API key itself
            assert transport.api_key_value() == api_key


def test_ca_file_option(row: Row, isolated: None, api_key: str) -> None:
    cls = type(row.make(api_key))
    url = row.url.format(key=api_key)
    assert cls.from_url(parse_url(url)).ca_file is None
    sep = "&" if "?" in url else "?"
    assert (
        cls.from_url(parse_url(f"{url}{sep}ca_file=/etc/ssl/corp.pem")).ca_file
        == "/etc/ssl/corp.pem"
    )


@pytest.mark.parametrize(
    "row",
    [pytest.param(r, id=r.scheme) for r in ROWS if r.password_slot],  # not key pairs
)
def test_the_key_may_sit_in_the_password_slot(row: Row, isolated: None, api_key: str) -> None:
    transport = type(row.make(api_key)).from_url(parse_url(f"{row.scheme}://:{api_key}@{row.host}"))
    assert transport.api_key is not None
    assert transport.api_key.get_secret_value() == api_key


@pytest.mark.parametrize(("row", "url", "complaint"), by_row(lambda row: list(row.bad_urls)))
def test_bad_urls_are_refused_without_echoing_the_key(
    row: Row,
    isolated: None,
    api_key: str,
    assert_secret_free: Callable[..., None],
    url: str,
    complaint: str,
) -> None:
    cls = type(row.make(api_key))
    with pytest.raises(ConfigurationError, match=complaint) as info:
        cls.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, *row.secrets(api_key), may_chain=row.may_chain)


def test_the_registry_record_builds_the_transport(row: Row, isolated: None, api_key: str) -> None:
    url, expected = row.registry
    transport = transport_from_url(url.format(key=api_key))
    assert type(transport) is type(row.make(api_key))
    for name, value in expected.items():
        assert getattr(transport, name) == value


def test_no_provider_overrides_a_private_method_of_the_base(row: Row, api_key: str) -> None:
    transport = row.make(api_key)
    for cls, bases in (
        (type(transport), [HTTPTransport]),
        (transport.payload_class, [Payload, JSONPayload]),
    ):
        # (_abc_impl is abc's own bookkeeping, set on every subclass)
        private = {n for b in bases for n in vars(b) if n.startswith("_") and n[-2:] != "__"} - {
            "_abc_impl"
        }
        assert not private & set(vars(cls)), f"{cls.__name__} overrides {private & set(vars(cls))}"


# -- provider options --------------------------------------------------------------------


@pytest.mark.parametrize("row", [r for r in ROWS if r.tracking], ids=lambda r: r.scheme)
async def test_tracking_toggles_reach_the_request(
    row: Row,
    transport: HTTPTransport,
    make_outgoing: Callable[..., OutgoingMessage],
    respx_mock: respx.MockRouter,
    load_spec: Callable[[str], Any],
) -> None:
    assert row.tracking is not None
    read, expected = row.tracking
    outgoing = make_outgoing(**{**row.message, "track_opens": True, "track_clicks": False})
    request = await _sent(row, transport, outgoing, respx_mock, load_spec)
    assert read(request) == expected


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.scheme)
async def test_provider_options_are_merged_into_this_providers_request_only(
    row: Row,
    transport: HTTPTransport,
    make_outgoing: Callable[..., OutgoingMessage],
    respx_mock: respx.MockRouter,
    load_spec: Callable[[str], Any],
) -> None:
    assert row.option is not None, "every provider row shows one of its own options"
    options, read, expected = row.option
    # Another provider's entry is that provider's: it must not reach this request.
    others = {"zz-other": {"must_not_appear": "x"}}
    given = {row.scheme: copy.deepcopy(dict(options)), **others}
    outgoing = make_outgoing(**{**row.message, "provider_options": given})
    request = await _sent(row, transport, outgoing, respx_mock, load_spec)
    assert read(request) == expected
    assert b"must_not_appear" not in request.content
    # The merge changed nothing the message holds (a second relay gets the same options).
    assert outgoing.message.provider_options == {row.scheme: options, **others}
