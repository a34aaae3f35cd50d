"""Outbox state machine: enqueue, keys, scheduling, backoff, per-recipient retries, leases.

A scripted transport plays the relay (it announces the hand-over as a real one does) and an
injected clock drives time; the SMTP crash behaviour is in tests/integration.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import respx

from mailsdk import (
    DeliveryUnknown,
    MemoryTransport,
    Message,
    MessageError,
    Outbox,
    PermanentError,
    RecipientsRefused,
    Sender,
    SendResult,
    TransientError,
    Transport,
)
from mailsdk.mime import OutgoingMessage

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


Step = Callable[[OutgoingMessage], SendResult]


class Scripted(Transport):
    """Plays one scripted step per send; records what each send carried."""

    name = "scripted://relay"

    def __init__(self, *steps: Step | BaseException) -> None:
        self.steps = list(steps)
        self.seen: list[tuple[str, tuple[str, ...]]] = []
        self.before_handover: Callable[[], None] | None = None

    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        step = self.steps.pop(0) if self.steps else accept
        if self.before_handover is not None:
            self.before_handover()
        await outgoing.handing_over()
        self.seen.append((outgoing.message_id, outgoing.envelope.rcpt_to))
        if isinstance(step, BaseException):
            raise step
        return step(outgoing)


def accept(outgoing: OutgoingMessage) -> SendResult:
    return SendResult(outgoing.message_id, "scripted://relay", list(outgoing.envelope.rcpt_to))


def partly(refused: dict[str, tuple[int, str]]) -> Step:
    def step(outgoing: OutgoingMessage) -> SendResult:
        ok = [r for r in outgoing.envelope.rcpt_to if r not in refused]
        return SendResult(outgoing.message_id, "scripted://relay", ok, refused=dict(refused))

    return step


def message(n: int = 0, to: tuple[str, ...] = ("bob@example.com",)) -> Message:
    return Message(from_="alice@example.com", to=list(to), subject=f"#{n}", text="hello")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", clock=clock)


async def drain(outbox: Outbox, transport: Transport) -> None:
    await outbox.arun(transport, poll_interval=0.01)


def test_enqueue_stores_the_message_as_queued(outbox: Outbox, tmp_path: Path) -> None:
    msg = message()
    entry_id = outbox.enqueue(msg)

    entry = outbox.get(entry_id)
    assert entry is not None
    assert (entry.state, entry.attempts, entry.key, entry.result, entry.error) == (
        "queued",
        0,
        None,
        None,
        None,
    )
    assert entry.created_at == entry.next_attempt_at == START
    assert entry.message == msg
    assert entry.message_id.endswith("@example.com>")
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_the_same_key_stores_one_entry(outbox: Outbox) -> None:
    first = outbox.enqueue(message(1), key="invoice-2026-0042")
    again = outbox.enqueue(message(2), key="invoice-2026-0042")
    many = outbox.enqueue_many([message(3), message(4)], keys=["invoice-2026-0042", "other"])

    assert again == first == many[0]
    assert outbox.counts()["queued"] == 2
    assert outbox.get("invoice-2026-0042").message.subject == "#1"  # type: ignore[union-attr]


def test_enqueue_many_is_all_or_nothing(outbox: Outbox) -> None:
    with pytest.raises(MessageError):
        outbox.enqueue_many([message(1), {"from": "alice@example.com", "to": ["not an address"]}])
    assert sum(outbox.counts().values()) == 0


def test_send_at_must_be_timezone_aware(outbox: Outbox) -> None:
    with pytest.raises(MessageError, match="timezone-aware"):
        outbox.enqueue(message(), send_at=datetime(2026, 3, 2, 9, 0))


async def test_a_scheduled_entry_waits_and_does_not_hold_the_worker(
    outbox: Outbox, clock: Clock
) -> None:
    entry_id = outbox.enqueue(message(), send_at=START + timedelta(hours=1))
    relay = Scripted()

    await drain(outbox, relay)
    assert relay.seen == []
    assert outbox.get(entry_id).state == "queued"  # type: ignore[union-attr]

    clock.advance(hours=1)
    await drain(outbox, relay)
    assert outbox.get(entry_id).state == "sent"  # type: ignore[union-attr]


async def test_a_transient_failure_backs_off_honouring_retry_after(
    outbox: Outbox, clock: Clock
) -> None:
    first = outbox.enqueue(message(1))
    relay = Scripted(TransientError("busy", code=451))
    await drain(outbox, relay)
    entry = outbox.get(first)
    assert entry is not None
    assert entry.state == "queued"
    assert entry.attempts == 1
    assert "busy" in (entry.error or "")
    assert timedelta(seconds=60) <= entry.next_attempt_at - START <= timedelta(seconds=66)

    second = outbox.enqueue(message(2))
    await drain(outbox, Scripted(TransientError("slow down", code=429, retry_after=900)))
    assert outbox.get(second).next_attempt_at - START == timedelta(seconds=900)  # type: ignore[union-attr]


async def test_transient_failures_end_failed_after_max_age(tmp_path: Path, clock: Clock) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", clock=clock, max_age=timedelta(hours=6))
    entry_id = outbox.enqueue(message())
    relay = Scripted(*[TransientError("down") for _ in range(50)])
    delays = []
    while outbox.get(entry_id).state == "queued":  # type: ignore[union-attr]
        entry = outbox.get(entry_id)
        assert entry is not None
        clock.now = max(clock.now, entry.next_attempt_at)
        await drain(outbox, relay)
        after = outbox.get(entry_id)
        assert after is not None
        delays.append((after.next_attempt_at - clock.now).total_seconds())

    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "failed"
    assert "max_age" in (entry.error or "")
    assert clock.now - START <= timedelta(hours=6)
    # Minutes first, then doubling towards hours.
    assert 60 <= delays[0] <= 66
    assert all(b > a for a, b in itertools.pairwise(delays[:-1]))


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (PermanentError("554 policy", code=554), "failed"),
        (RecipientsRefused({"bob@example.com": (550, "no such user")}), "refused"),
        (DeliveryUnknown("lost after the dot"), "unknown"),
    ],
)
async def test_final_states(outbox: Outbox, error: Exception, state: str) -> None:
    entry_id = outbox.enqueue(message())
    await drain(outbox, Scripted(error))
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == state
    assert type(error).__name__ in (entry.error or "")


async def test_at_least_once_requeues_unknown(tmp_path: Path, clock: Clock) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", clock=clock, on_unknown="retry")
    entry_id = outbox.enqueue(message())
    relay = Scripted(DeliveryUnknown("lost after the dot"))
    await drain(outbox, relay)
    assert outbox.get(entry_id).state == "queued"  # type: ignore[union-attr]
    clock.advance(hours=1)
    await drain(outbox, relay)
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "sent"
    assert relay.seen[0][0] == relay.seen[1][0] == entry.message_id


async def test_only_deferred_recipients_are_sent_again(outbox: Outbox, clock: Clock) -> None:
    entry_id = outbox.enqueue(message(to=("a@example.com", "b@example.com", "c@example.com")))
    relay = Scripted(partly({"b@example.com": (450, "mailbox busy"), "c@example.com": (550, "no")}))

    await drain(outbox, relay)
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "queued"
    assert {r: o.status for r, o in entry.recipients.items()} == {
        "a@example.com": "accepted",
        "b@example.com": "pending",
        "c@example.com": "refused",
    }

    clock.advance(hours=1)
    await drain(outbox, relay)
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "sent"
    assert relay.seen == [
        (entry.message_id, ("a@example.com", "b@example.com", "c@example.com")),
        (entry.message_id, ("b@example.com",)),
    ]
    assert entry.recipients["b@example.com"].status == "accepted"
    assert entry.result is not None
    assert sorted(entry.result.accepted) == ["a@example.com", "b@example.com"]
    assert entry.result.refused == {"c@example.com": (550, "no")}


async def test_a_worker_that_lost_its_lease_stops_before_the_hand_over(
    outbox: Outbox, tmp_path: Path
) -> None:
    entry_id = outbox.enqueue(message())
    relay = Scripted()

    def steal() -> None:  # another worker took the entry over while this one was slow
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
            db.execute("UPDATE entries SET lease_owner = 'someone-else'")

    relay.before_handover = steal
    with pytest.raises(TimeoutError):
        # The entry stays leased by the other (absent) worker; until_empty waits for it.
        async with asyncio.timeout(0.5):
            await drain(outbox, relay)
    assert relay.seen == []
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "sending"
    assert entry.handover is None


async def test_an_expired_lease_returns_the_entry_or_marks_it_unknown(
    outbox: Outbox, clock: Clock, tmp_path: Path
) -> None:
    quiet, handed = outbox.enqueue(message(1)), outbox.enqueue(message(2))
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        db.execute(
            "UPDATE entries SET state = 'sending', lease_owner = 'dead', lease_until = ?",
            (START.timestamp() + 60,),
        )
        db.execute("UPDATE entries SET handover = 'final_dot' WHERE id = ?", (handed,))
    clock.advance(seconds=61)
    relay = Scripted()
    await drain(outbox, relay)
    assert outbox.get(quiet).state == "sent"  # type: ignore[union-attr]
    assert outbox.get(handed).state == "unknown"  # type: ignore[union-attr]
    assert len(relay.seen) == 1


async def test_retry_and_purge(outbox: Outbox, clock: Clock) -> None:
    failed = outbox.enqueue(message(1))
    await drain(outbox, Scripted(PermanentError("554 no")))
    sent = outbox.enqueue(message(2))
    await drain(outbox, Scripted())

    assert outbox.retry(sent) is False  # a sent entry is never sent again
    assert outbox.retry("no-such-id") is False
    assert outbox.retry(failed) is True
    assert outbox.get(failed).state == "queued"  # type: ignore[union-attr]
    await drain(outbox, Scripted())
    assert outbox.get(failed).state == "sent"  # type: ignore[union-attr]

    assert outbox.purge("sent", older_than=timedelta(days=7)) == 0
    clock.advance(days=8)
    assert outbox.purge("sent", older_than=timedelta(days=7)) == 2
    assert list(outbox.entries()) == []
    with pytest.raises(ValueError, match="finished"):
        outbox.purge("queued")


def test_entries_lists_by_state(outbox: Outbox) -> None:
    ids = outbox.enqueue_many([message(n) for n in range(1200)])
    assert [e.id for e in outbox.entries()] == ids
    assert [e.id for e in outbox.entries(state="queued", limit=3)] == ids[:3]
    assert list(outbox.entries(state="sent")) == []
    with pytest.raises(ValueError, match="state"):
        list(outbox.entries(state="lost"))  # type: ignore[arg-type]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(sqlite3.DatabaseError, match="upgrade mailsdk"):
        Outbox(path)


def test_run_with_a_sync_sender(outbox: Outbox, clock: Clock) -> None:
    memory = MemoryTransport()
    ids = outbox.enqueue_many([message(n) for n in range(30)])
    with Sender(memory) as sender:
        stats = outbox.run(sender, concurrency=4, poll_interval=0.01)
    assert stats.sent == 30
    assert len(memory.outbox) == 30
    assert {o.message_id for o in memory.outbox} == {outbox.get(i).message_id for i in ids}  # type: ignore[union-attr]


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_unknown"):
        Outbox(tmp_path / "o", on_unknown="twice")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease"):
        Outbox(tmp_path / "o", lease=0)


@respx.mock
async def test_an_http_provider_send_is_recorded_as_handed_over_before_the_request(
    outbox: Outbox, tmp_path: Path
) -> None:
    from mailsdk.transports.http.postmark import PostmarkTransport

    sent_id, lost_id = outbox.enqueue(message(1)), outbox.enqueue(message(2))
    seen: list[tuple[str, str | None]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        subject = json.loads(request.content)["Subject"]
        with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
            handover = db.execute(
                "SELECT handover FROM entries WHERE state = 'sending'"
            ).fetchone()[0]
        seen.append((subject, handover))
        if subject == "#2":
            raise httpx.ReadTimeout("the reply never came", request=request)
        return httpx.Response(
            200,
            json={
                "To": "bob@example.com",
                "SubmittedAt": "2026-03-01T12:00:00Z",
                "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
                "ErrorCode": 0,
                "Message": "OK",
            },
        )

    respx.post("https://api.postmarkapp.com/email").mock(side_effect=reply)
    async with PostmarkTransport("server-token") as relay:
        await outbox.arun(relay, concurrency=1, poll_interval=0.01)

    assert seen == [("#1", "handed_over"), ("#2", "handed_over")]
    sent, lost = outbox.get(sent_id), outbox.get(lost_id)
    assert sent is not None
    assert lost is not None
    assert sent.state == "sent"
    assert sent.result is not None
    assert sent.result.provider_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert lost.state == "unknown"  # the request left: never sent again by default


async def test_a_live_worker_renews_its_leases_while_it_sends(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", lease=1.0)  # renewed every third of a second
    entry_id = outbox.enqueue(message())

    def lease_until() -> float:
        with sqlite3.connect(tmp_path / "o.sqlite3") as db:
            value = db.execute("SELECT lease_until FROM entries").fetchone()[0]
        # None: the lease lapsed and went back to the queue; the hand-over check then stops
        # this send and the entry is sent once by the next claim.
        return float("inf") if value is None else float(value)

    class Slow(Scripted):
        async def send(self, outgoing: OutgoingMessage) -> SendResult:
            first = lease_until()
            async with asyncio.timeout(30):  # only a broken renewer gets here
                while lease_until() <= first:  # noqa: ASYNC110 - polling another connection
                    await asyncio.sleep(0.02)
            return await super().send(outgoing)

    relay = Slow()
    await outbox.arun(relay, poll_interval=0.01)
    assert outbox.get(entry_id).state == "sent"  # type: ignore[union-attr]
    assert len(relay.seen) == 1


def test_a_stale_claim_of_the_same_worker_cannot_hand_over(outbox: Outbox) -> None:
    # A worker whose lease lapsed and who claimed the entry again holds two claims; only the
    # newer one may hand the message over or store an outcome.
    from mailsdk._outbox_store import Store

    entry_id = outbox.enqueue(message())
    store = Store(outbox.path)
    now = START.timestamp()
    (first,) = store.claim("worker-1", now, now + 60, 10)
    assert store.recover_expired(now + 61, resend_unknown=False) == 1
    (second,) = store.claim("worker-1", now + 61, now + 121, 10)
    assert (first.attempts, second.attempts) == (1, 2)

    assert store.mark_handover(entry_id, "worker-1", first.attempts, "handed_over") is False
    assert store.mark_handover(entry_id, "worker-1", second.attempts, "handed_over") is True
    outcome = {"now": now, "next_attempt_at": None, "recipients": None, "result": None}
    assert (
        store.finish(entry_id, "worker-1", first.attempts, state="sent", error=None, **outcome)
        is False
    )
    assert store.finish(entry_id, "worker-1", second.attempts, state="sent", error=None, **outcome)
    assert outbox.get(entry_id).state == "sent"  # type: ignore[union-attr]


class _Broken(Transport):
    """A transport with a defect: it raises something that is not a MailError."""

    name = "broken://relay"

    def __init__(self, *, after_handover: bool) -> None:
        self.after_handover = after_handover

    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        if self.after_handover:
            await outgoing.handing_over()
        raise RuntimeError("a defect")


@pytest.mark.parametrize(("after_handover", "state"), [(False, "queued"), (True, "unknown")])
async def test_a_transport_defect_requeues_the_entry_unless_it_was_handed_over(
    outbox: Outbox, after_handover: bool, state: str
) -> None:
    entry_id = outbox.enqueue(message())
    await drain(outbox, _Broken(after_handover=after_handover))
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == state
    assert entry.error is not None
    assert "RuntimeError: a defect" in entry.error


async def test_a_partly_refused_result_is_stored_with_its_statuses(
    outbox: Outbox, clock: Clock
) -> None:
    entry_id = outbox.enqueue(message(to=("a@example.com", "c@example.com")))
    await drain(outbox, Scripted(partly({"c@example.com": (550, "5.1.1 no such user")})))
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.result is not None
    status = entry.result.refused["c@example.com"]
    assert (status.code, status.text, status.enhanced_code, status.permanent) == (
        550,
        "5.1.1 no such user",
        "5.1.1",
        True,
    )


async def test_a_worker_defect_after_the_send_does_not_hold_the_lease_forever(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailsdk import _outbox_worker

    def broken(result: SendResult) -> str:
        raise TypeError("not serialisable")

    monkeypatch.setattr(_outbox_worker, "_result_to_json", broken)
    entry_id = outbox.enqueue(message())
    async with asyncio.timeout(30):  # until_empty used to wait for the dead claim forever
        await drain(outbox, Scripted())
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state == "unknown"  # it was handed over: never sent twice
    assert entry.error is not None
    assert "TypeError: not serialisable" in entry.error
