"""Spans and metrics of real sends: the memory transport and in-process SMTP relays (aiosmtpd,
TLS by trustme), recorded by the OTel SDK's in-memory exporter and metric reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from opentelemetry.trace import SpanKind, StatusCode

from mailsdk import (
    AsyncSender,
    DeliveryUnknown,
    MailError,
    Message,
    OutgoingMessage,
    RecipientsRefused,
    Sender,
)
from mailsdk.devserver import LocalRelay
from mailsdk.outbox import Outbox
from mailsdk.retry import RetryPolicy
from mailsdk.transports.failover import FailoverTransport
from mailsdk.transports.memory import MemoryTransport
from tests.conftest import PASSWORD, USER
from tests.telemetry.otel_harness import Otel, StepClock, everything_recorded, instrumented

ADDRESSES = ("app@example.com", "alice@example.com", "bob@example.com", USER, "example.test")


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def otel(clock: StepClock) -> Iterator[Otel]:
    yield from instrumented(clock)


def message(to: list[str] | None = None) -> Message:
    return Message(
        from_="app@example.com", to=to or ["alice@example.com"], subject="hello", text="t"
    )


def assert_no_addresses(otel: Otel) -> None:
    recorded = everything_recorded(otel)
    for address in ADDRESSES:
        assert address not in recorded
    assert PASSWORD not in recorded


async def no_sleep(seconds: float) -> None:
    """Retries wait for nothing: no test sleeps for real."""


def failover(urls: list[str], **policy: object) -> FailoverTransport:
    transport = AsyncSender(urls, retry=RetryPolicy(jitter=0, **policy)).transport  # type: ignore[arg-type]
    assert isinstance(transport, FailoverTransport)
    transport._sleep = no_sleep
    return transport


async def test_a_memory_send_is_a_send_span_with_one_attempt_child(otel: Otel) -> None:
    memory = MemoryTransport()
    async with AsyncSender(memory) as sender:
        result = await sender.send(message(["alice@example.com", "bob@example.com"]))

    (send,) = otel.finished("mailsdk.send")
    (attempt,) = otel.finished("mailsdk.attempt")
    assert attempt.parent is not None
    assert attempt.parent.span_id == send.context.span_id
    assert send.kind is SpanKind.INTERNAL
    assert attempt.kind is SpanKind.CLIENT
    assert send.status.status_code is StatusCode.UNSET
    assert dict(attempt.attributes or {}) == {
        "mailsdk.relay": "memory://",
        "mailsdk.transport": "memory",
        "mailsdk.attempt.number": 1,
        "mailsdk.recipients.count": 2,
        "mailsdk.message.size": len(memory.outbox[0].raw),
        "mailsdk.outcome": "delivered",
        "mailsdk.recipients.accepted": 2,
        "mailsdk.recipients.refused": 0,
    }
    assert dict(send.attributes or {}) == {
        "mailsdk.relays": "memory://",
        "mailsdk.recipients.count": 2,
        "mailsdk.outcome": "delivered",
        "mailsdk.relay": result.relay,
        "mailsdk.recipients.accepted": 2,
        "mailsdk.recipients.refused": 0,
        "mailsdk.attempts": 1,
        "mailsdk.failovers": 0,
        "mailsdk.retries": 0,
        "mailsdk.message.size": len(memory.outbox[0].raw),
    }
    assert_no_addresses(otel)


async def test_metrics_count_sends_and_attempts_and_time_them(otel: Otel) -> None:
    async with AsyncSender(MemoryTransport()) as sender:
        await sender.send_many([message(), message()])

    assert otel.total("mailsdk.sends", mailsdk__outcome="delivered") == 2
    assert otel.total("mailsdk.attempts", mailsdk__relay="memory://") == 2
    assert otel.total("mailsdk.failovers") == 0
    (send_duration,) = otel.points("mailsdk.send.duration")
    (attempt_duration,) = otel.points("mailsdk.attempt.duration")
    assert send_duration.count == 2
    assert attempt_duration.count == 2
    # The step clock moves 1 s a read: an attempt reads it twice, a send around it twice.
    assert attempt_duration.sum == 2.0
    assert send_duration.sum == 2 * 3.0
    assert dict(attempt_duration.attributes) == {
        "mailsdk.relay": "memory://",
        "mailsdk.transport": "memory",
        "mailsdk.outcome": "delivered",
    }


async def test_the_send_span_is_a_child_of_the_callers_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request") as request:
        async with AsyncSender(MemoryTransport()) as sender:
            await sender.send(message())
    (send,) = otel.finished("mailsdk.send")
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id


async def test_smtp_attempt_names_the_relay_without_its_user(otel: Otel, relay: LocalRelay) -> None:
    async with AsyncSender(relay.url(USER, PASSWORD)) as sender:
        await sender.send(message())

    (attempt,) = otel.finished("mailsdk.attempt")
    attributes = attempt.attributes or {}
    assert attributes["mailsdk.relay"] == f"smtp://127.0.0.1:{relay.port}"
    assert attributes["mailsdk.transport"] == "smtp"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == relay.port
    assert attributes["mailsdk.outcome"] == "delivered"
    assert_no_addresses(otel)


async def test_failover_is_two_attempt_spans_an_event_and_a_counter(
    otel: Otel, relay_factory: Callable[..., LocalRelay]
) -> None:
    primary, secondary = relay_factory(tls="none"), relay_factory(tls="none")
    primary.data_reply = "554 5.7.1 Rejected by policy for alice@example.com"
    transport = failover([primary.url(), secondary.url()], attempts=1)

    await transport.send(OutgoingMessage(message()))

    (send,) = otel.finished("mailsdk.send")
    first, second = otel.finished("mailsdk.attempt")
    assert {first.parent.span_id, second.parent.span_id} == {send.context.span_id}  # type: ignore[union-attr]
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "PermanentError 554 5.7.1"
    assert (first.attributes or {})["mailsdk.smtp.status_code"] == 554
    assert (first.attributes or {})["mailsdk.smtp.enhanced_status_code"] == "5.7.1"
    assert (first.attributes or {})["error.type"] == "PermanentError"
    assert (first.attributes or {})["mailsdk.outcome"] == "permanent"
    (exception,) = first.events
    assert dict(exception.attributes or {}) == {
        "exception.type": "PermanentError",
        "exception.message": "PermanentError 554 5.7.1",
    }
    assert (second.attributes or {})["mailsdk.relay"] == f"smtp://127.0.0.1:{secondary.port}"
    assert (second.attributes or {})["mailsdk.outcome"] == "delivered"
    assert send.status.status_code is StatusCode.UNSET
    assert (send.attributes or {})["mailsdk.failovers"] == 1
    assert (send.attributes or {})["mailsdk.attempts"] == 2
    (event,) = send.events
    assert event.name == "mailsdk.failover"
    assert dict(event.attributes or {}) == {
        "mailsdk.relay.from": f"smtp://127.0.0.1:{primary.port}",
        "mailsdk.relay.to": f"smtp://127.0.0.1:{secondary.port}",
        "error.type": "PermanentError",
    }
    assert otel.total("mailsdk.failovers") == 1
    assert otel.total("mailsdk.attempts", mailsdk__outcome="permanent") == 1
    assert otel.total("mailsdk.attempts", mailsdk__outcome="delivered") == 1
    assert_no_addresses(otel)


async def test_retries_are_numbered_attempts_and_counted(
    otel: Otel, relay_factory: Callable[..., LocalRelay]
) -> None:
    throttled, spare = relay_factory(tls="none"), relay_factory(tls="none")
    throttled.mail_reply = "421 4.7.0 Try again later"
    transport = failover([throttled.url(), spare.url()], attempts=2)

    await transport.send(OutgoingMessage(message()))

    attempts = otel.finished("mailsdk.attempt")
    assert [(a.attributes or {})["mailsdk.attempt.number"] for a in attempts] == [1, 2, 3]
    assert [(a.attributes or {})["mailsdk.outcome"] for a in attempts] == [
        "transient",
        "transient",
        "delivered",
    ]
    assert (attempts[0].attributes or {})["mailsdk.smtp.status_code"] == 421
    (send,) = otel.finished("mailsdk.send")
    assert [e.name for e in send.events] == ["mailsdk.retry", "mailsdk.failover"]
    assert otel.total("mailsdk.retries") == 1
    assert (send.attributes or {})["mailsdk.retries"] == 1
    assert otel.total("mailsdk.failovers") == 1


async def test_a_partly_refused_send_counts_refusals_without_naming_them(
    otel: Otel, relay_factory: Callable[..., LocalRelay]
) -> None:
    smtp = relay_factory(tls="none")
    smtp.rcpt_replies["bob@example.com"] = "550 5.1.1 <bob@example.com>: no such user"
    async with AsyncSender(smtp.url()) as sender:
        result = await sender.send(message(["alice@example.com", "bob@example.com"]))
    assert list(result.refused) == ["bob@example.com"]

    (send,) = otel.finished("mailsdk.send")
    attributes = send.attributes or {}
    assert attributes["mailsdk.outcome"] == "partial"
    assert attributes["mailsdk.recipients.accepted"] == 1
    assert attributes["mailsdk.recipients.refused"] == 1
    assert otel.total("mailsdk.recipients.refused") == 1
    assert otel.total("mailsdk.sends", mailsdk__outcome="partial") == 1
    assert_no_addresses(otel)


async def test_a_refused_send_is_an_error_span_with_safe_text(
    otel: Otel, relay_factory: Callable[..., LocalRelay]
) -> None:
    smtp = relay_factory(tls="none")
    smtp.rcpt_replies["alice@example.com"] = "550 5.1.1 <alice@example.com>: no such user"
    async with AsyncSender(smtp.url(), retry=RetryPolicy(attempts=1)) as sender:
        with pytest.raises(RecipientsRefused) as caught:
            await sender.send(message())
    assert "alice@example.com" in str(caught.value)  # why exception messages stay out

    (send,) = otel.finished("mailsdk.send")
    assert send.status.status_code is StatusCode.ERROR
    assert send.status.description == "RecipientsRefused 550"
    attributes = send.attributes or {}
    assert attributes["mailsdk.outcome"] == "refused"
    assert attributes["error.type"] == "RecipientsRefused"
    assert attributes["mailsdk.recipients.refused"] == 1
    (attempt,) = otel.finished("mailsdk.attempt")
    assert (attempt.attributes or {})["mailsdk.outcome"] == "refused"
    assert otel.total("mailsdk.sends", mailsdk__outcome="refused") == 1
    assert otel.total("mailsdk.recipients.refused") == 1
    assert_no_addresses(otel)


async def test_a_failover_group_inside_another_is_one_send(otel: Otel) -> None:
    inner = FailoverTransport([MemoryTransport("memory://a"), MemoryTransport("memory://b")])
    outer = FailoverTransport([inner, MemoryTransport("memory://c")])

    await outer.send(OutgoingMessage(message()))

    (send,) = otel.finished("mailsdk.send")
    (attempt,) = otel.finished("mailsdk.attempt")
    assert (attempt.attributes or {})["mailsdk.relay"] == "memory://a"
    assert attempt.parent is not None
    assert attempt.parent.span_id == send.context.span_id
    assert otel.total("mailsdk.sends") == 1


async def test_outbox_depth_is_an_observable_gauge(otel: Otel, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "mail.sqlite3")
    outbox.enqueue(message())
    outbox.enqueue(message(["bob@example.com"]))

    # Outboxes of earlier tests may still be alive in this process: read this one's point.
    mine = {"mailsdk.outbox": str((tmp_path / "mail.sqlite3").resolve())}

    def depth() -> float:
        (point,) = [p for p in otel.points("mailsdk.outbox.depth") if dict(p.attributes) == mine]
        return float(point.value)

    assert depth() == 2

    async with AsyncSender(MemoryTransport()) as sender:
        await outbox.arun(sender, until_empty=True)
    assert depth() == 0
    assert otel.total("mailsdk.sends", mailsdk__outcome="delivered") == 2


async def test_an_http_provider_attempt_carries_the_http_status_and_no_key(
    otel: Otel, respx_mock: respx.MockRouter
) -> None:
    key = "pm-key-0123456789"
    respx_mock.post("https://api.postmarkapp.com/email").mock(
        return_value=httpx.Response(401, json={"ErrorCode": 10, "Message": "Bad key"})
    )
    async with AsyncSender(f"postmark://{key}@default", retry=RetryPolicy(attempts=1)) as sender:
        with pytest.raises(MailError):
            await sender.send(message())

    (attempt,) = otel.finished("mailsdk.attempt")
    attributes = attempt.attributes or {}
    assert attributes["mailsdk.transport"] == "postmark"
    assert attributes["http.response.status_code"] == 401
    assert "mailsdk.smtp.status_code" not in attributes
    assert "mailsdk.message.size" not in attributes  # a JSON API: no MIME rendered for it
    assert attempt.status.status_code is StatusCode.ERROR
    (send,) = otel.finished("mailsdk.send")
    assert (send.attributes or {})["mailsdk.outcome"] == "failed"
    assert key not in everything_recorded(otel)
    assert_no_addresses(otel)


def test_a_sync_send_is_a_child_of_the_callers_span(otel: Otel) -> None:
    # The loop thread runs the send in a copy of the calling thread's context.
    tracer = otel.tracer_provider.get_tracer("app")
    with Sender(MemoryTransport()) as sender, tracer.start_as_current_span("request") as request:
        sender.send(message())
    (send,) = otel.finished("mailsdk.send")
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id


async def test_a_lost_reply_is_an_unknown_send(
    otel: Otel, relay_factory: Callable[..., LocalRelay]
) -> None:
    smtp = relay_factory(tls="none")
    smtp.drop_after_data = True
    async with AsyncSender(smtp.url(), retry=RetryPolicy(attempts=1)) as sender:
        with pytest.raises(DeliveryUnknown):
            await sender.send(message())

    (send,) = otel.finished("mailsdk.send")
    assert (send.attributes or {})["mailsdk.outcome"] == "unknown"
    assert (send.attributes or {})["error.type"] == "DeliveryUnknown"
    assert send.status.status_code is StatusCode.ERROR
    (attempt,) = otel.finished("mailsdk.attempt")
    assert (attempt.attributes or {})["mailsdk.outcome"] == "unknown"
    assert otel.total("mailsdk.sends", mailsdk__outcome="unknown") == 1
    assert_no_addresses(otel)
