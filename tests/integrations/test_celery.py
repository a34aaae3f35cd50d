"""The Celery integration against a real Redis broker and real ``celery worker`` processes.

Each worker is a subprocess (``celery -A celery_worker_app worker --pool=solo``) that sends to
an SMTP relay running in this process; the relay counts every message it accepted, by
Message-ID, so "exactly once" is counted where it matters. Workers are killed with SIGKILL
while the relay holds them at a chosen point of the SMTP dialogue.
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from mailsdk import (
    ConfigurationError,
    DeliveryUnknown,
    Message,
    MessageError,
    TaskFailed,
    TransientError,
)
from mailsdk.integrations import celery as mail_celery
from mailsdk.integrations._background import with_message_id
from tests.peers.redis import RedisServer

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


# -- the relay ---------------------------------------------------------------------------------


class ControlledRelay:
    """An SMTP relay (no TLS) that counts accepted messages by Message-ID and can hold a client
    at RCPT (before the message is handed over) or after the final dot (the message is
    accepted, the reply not yet sent), until released."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, float, bytes]] = []
        self.mail_replies: list[str] = []
        self.refuse: dict[str, str] = {}
        self.hold_at: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    def start(self) -> ControlledRelay:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}?tls=none&timeout=20"

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(mid for mid, _, _ in self.accepted)

    def wait_for(self, message_id: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.counts()[message_id] < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message_id} did not arrive")
            time.sleep(0.05)

    async def _hold(self, point: str) -> None:
        if self.hold_at == point:
            self.hold_at = None
            self.holding.set()
            await asyncio.to_thread(self.release.wait, 60)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self._lock:
            reply = self.mail_replies.pop(0) if self.mail_replies else None
        if reply:
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await self._hold("rcpt")
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        message_id = email.message_from_bytes(data)["Message-ID"]
        # Like an MTA, the message is ours once the final dot arrived, reply or no reply.
        with self._lock:
            self.accepted.append((message_id, time.time(), data))
        await self._hold("data")
        return "250 OK queued"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def relay() -> Iterator[ControlledRelay]:
    relay = ControlledRelay().start()
    yield relay
    relay.stop()


class Worker:
    """One ``celery worker`` process (solo pool: the task runs in the process we kill)."""

    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self.log = log
        self.name = name
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "celery_worker_app", "worker",
                "--pool=solo", "--loglevel=INFO", "-n", f"{name}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> Worker:
        deadline = time.monotonic() + timeout
        while " ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        # The test is over: a cold stop (its Redis database is flushed before the next test)
        # saves the warm shutdown's seconds.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture
def celery_env(
    redis_server: RedisServer, relay: ControlledRelay, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment for this test's app and workers: a clean Redis database, short timeouts."""
    redis.Redis.from_url(redis_server.url()).flushdb()
    env = {
        "TEST_REDIS_URL": redis_server.url(),
        "TEST_VISIBILITY_TIMEOUT": "2",
        "TEST_LEASE": "3",
        "TEST_BACKOFF": "0.3",
        "MAILSDK_URL": relay.url,
        "MAILSDK_RETRY_ATTEMPTS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MAILSDK_FROM", raising=False)
    pythonpath = os.pathsep.join([str(REPO), str(HERE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, **env, "PYTHONPATH": pythonpath}


@pytest.fixture
def app(celery_env: dict[str, str]) -> Any:
    import celery_worker_app

    return celery_worker_app.make_app()


@pytest.fixture
def workers(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(name: str, **extra_env: str) -> Worker:
        worker = Worker({**celery_env, **extra_env}, name, tmp_path / f"{name}.log")
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.stop()


def message(n: int = 1, **fields: Any) -> Message:
    base: dict[str, Any] = {
        "from_": "shop@example.com",
        "to": [f"customer{n}@example.com"],
        "subject": f"order {n}",
        "text": "Thank you.",
    }
    base.update(fields)
    return Message(**base)


def delivered(relay: ControlledRelay, message_id: str) -> int:
    return relay.counts()[message_id]


# -- behaviour -----------------------------------------------------------------------------------


def test_send_later_delivers_through_a_worker_and_returns_the_result(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    workers("w1")
    result = mail_celery.send_later(message(), app=app)
    outcome = result.get(timeout=30)
    message_id = outcome["message_id"]
    assert outcome["accepted"] == ["customer1@example.com"]
    assert outcome["refused"] == {}
    assert delivered(relay, message_id) == 1
    # The same message (same Message-ID, the idempotency key) queued again is not re-sent:
    # the second task returns what the first one recorded.
    again = Message.model_validate_json(
        message(headers={"Message-ID": message_id}).model_dump_json()
    )
    assert mail_celery.send_later(again, app=app).get(timeout=30) == outcome
    assert delivered(relay, message_id) == 1


def test_refused_recipients_fail_the_task_with_their_statuses(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    relay.refuse["customer7@example.com"] = "550 5.1.1 no such user"
    workers("w1")
    result = mail_celery.send_later(message(7), app=app)
    with pytest.raises(TaskFailed) as info:
        result.get(timeout=30)
    error = info.value
    assert error.error == "RecipientsRefused"
    assert error.recipients == {
        "customer7@example.com": {"code": 550, "text": "5.1.1 no such user"}
    }
    assert result.state == "FAILURE"
    assert relay.accepted == []


def test_transient_failure_is_retried_by_celery_then_delivered(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    relay.mail_replies = ["451 4.3.0 try later", "451 4.3.0 try later"]
    worker = workers("w1")
    outcome = mail_celery.send_later(message(3), app=app).get(timeout=30)
    assert delivered(relay, outcome["message_id"]) == 1
    assert worker.text().count("Task mailsdk.send[") >= 3  # received, retried, retried…
    assert "failed (DeliveryFailed); trying again" in worker.text()


def test_a_named_sender_is_used(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    bulk = ControlledRelay().start()
    try:
        workers("w1", TEST_BULK_URL=bulk.url)
        outcome = mail_celery.send_later(message(4), sender="bulk", app=app).get(timeout=30)
        assert delivered(bulk, outcome["message_id"]) == 1
        assert relay.accepted == []
    finally:
        bulk.stop()


def test_worker_killed_after_the_final_dot_does_not_send_twice(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    relay.hold_at = "data"  # the relay has the message; the worker waits for its reply
    first = workers("w1")
    result = mail_celery.send_later(message(5), app=app)
    assert relay.holding.wait(20)
    first.kill()
    relay.release.set()
    (message_id,) = relay.counts()
    # The task was never acknowledged: the broker hands it to the next worker once the
    # visibility timeout passes, and the hand-over record says it may have been delivered.
    second = workers("w2")
    with pytest.raises(TaskFailed) as info:
        result.get(timeout=30)
    assert info.value.error == "DeliveryUnknown"
    assert "Task mailsdk.send[" in second.text()  # the redelivered task did run there
    assert delivered(relay, message_id) == 1


def test_worker_killed_before_the_dot_is_replaced_and_the_message_sent_once(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    relay.hold_at = "rcpt"  # nothing handed over yet
    first = workers("w1")
    result = mail_celery.send_later(message(6), app=app)
    assert relay.holding.wait(20)
    first.kill()
    relay.release.set()
    workers("w2")
    outcome = result.get(timeout=30)
    assert delivered(relay, outcome["message_id"]) == 1
    assert list(relay.counts().values()) == [1]


def test_eta_beyond_the_visibility_timeout_delivers_once_and_not_early(
    app: Any, relay: ControlledRelay, workers: Callable[..., Worker]
) -> None:
    started = [workers("w1"), workers("w2")]
    send_at = datetime.now(timezone.utc) + timedelta(seconds=4)
    # send_later waits in hops shorter than the visibility timeout (2 s) ...
    hopped = mail_celery.send_later(message(8), send_at=send_at, app=app)
    # ... while a task queued by hand with a 4 s countdown is redelivered by the broker
    # (the Redis visibility-timeout trap): only the hand-over record stops a second send.
    raw = with_message_id(message(9))
    trapped = app.tasks[mail_celery.TASK_NAME].apply_async(
        args=(raw.model_dump_json(),), countdown=4
    )
    first = hopped.get(timeout=30)
    second = trapped.get(timeout=30)
    time.sleep(2.0)  # room for a late duplicate to arrive
    counts = relay.counts()
    assert counts[first["message_id"]] == 1
    assert counts[second["message_id"]] == 1
    arrival = next(t for mid, t, _ in relay.accepted if mid == first["message_id"])
    assert arrival >= send_at.timestamp()
    receipts = sum(w.text().count(f"Task mailsdk.send[{trapped.id}] received") for w in started)
    assert receipts >= 2, "the broker did not redeliver: the trap was not exercised"


# -- bad input is refused before anything is queued ---------------------------------------------


def test_send_later_refuses_a_naive_send_at(app: Any) -> None:
    with pytest.raises(MessageError, match="timezone-aware"):
        mail_celery.send_later(message(), send_at=datetime(2030, 1, 1), app=app)


def test_send_later_validates_a_dict_message(app: Any) -> None:
    with pytest.raises(MessageError):
        mail_celery.send_later({"from": "shop@example.com", "to": "not an address"}, app=app)


def test_send_later_needs_the_task_registered() -> None:
    from celery import Celery

    bare = Celery("bare", broker="memory://", set_as_current=False)
    with pytest.raises(ConfigurationError, match="register"):
        mail_celery.send_later(message(), app=bare)


def test_register_needs_a_shared_store() -> None:
    from celery import Celery

    bare = Celery("bare", broker="memory://", backend="cache+memory://", set_as_current=False)
    with pytest.raises(ConfigurationError, match="store="):
        mail_celery.register(bare)


def test_message_id_is_fixed_once_and_kept() -> None:
    fixed = with_message_id(message())
    assert with_message_id(fixed) is fixed
    (name,) = [h for h in fixed.headers if h.lower() == "message-id"]
    assert fixed.headers[name].endswith("@example.com>")


# -- the retry decision --------------------------------------------------------------------------


class _Retry(Exception):
    def __init__(self, countdown: float, kwargs: dict[str, Any]) -> None:
        self.countdown = countdown
        self.kwargs = kwargs


class _RecordingTask:
    """Stands in for the bound Celery task: records what retry() was asked."""

    def retry(self, *, countdown: float, kwargs: dict[str, Any]) -> _Retry:
        return _Retry(countdown, kwargs)


class _NullStore:
    def __init__(self) -> None:
        self.released: list[str] = []

    def release(self, key: str, run: str) -> None:
        self.released.append(key)


def _config(**overrides: Any) -> Any:
    from mailsdk import RetryPolicy

    fields: dict[str, Any] = {
        "senders": {},
        "store": _NullStore(),
        "on_unknown": "fail",
        "backoff": RetryPolicy(
            backoff=60.0, max_backoff=3600.0, jitter=0.0, max_retry_after=7200.0
        ),
        "max_age": 3 * 86400.0,
        "max_hop": None,
    }
    fields.update(overrides)
    return mail_celery._Config(**fields)


KW = {"sender": "default", "not_before": None, "first_try": 1000.0, "failures": 0}


def test_retry_after_from_the_relay_lengthens_the_backoff() -> None:
    config = _config()
    error = TransientError("slow down", retry_after=900.0, code=429)
    with pytest.raises(_Retry) as info:
        mail_celery._after_failure(_RecordingTask(), config, error, "<k@x>", "run", KW, 1000.0)
    assert info.value.countdown == 900.0
    assert info.value.kwargs["failures"] == 1
    assert info.value.kwargs["not_before"] == 1900.0
    assert config.store.released == ["<k@x>"]


def test_backoff_waits_are_cut_into_hops_below_the_visibility_timeout() -> None:
    config = _config(max_hop=1800.0)
    error = TransientError("try later", retry_after=7200.0)
    with pytest.raises(_Retry) as info:
        mail_celery._after_failure(_RecordingTask(), config, error, "<k@x>", "run", KW, 1000.0)
    assert info.value.countdown == 1800.0
    assert info.value.kwargs["not_before"] == 8200.0  # the task waits again until then


def test_transient_failures_give_up_after_max_age() -> None:
    config = _config(max_age=3600.0)
    with pytest.raises(TaskFailed) as info:
        mail_celery._after_failure(
            _RecordingTask(), config, TransientError("down"), "<k@x>", "run", KW, 1000.0 + 3600
        )
    assert info.value.error == "TransientError"


def test_unknown_outcome_is_not_retried_by_default_and_is_with_at_least_once() -> None:
    lost = DeliveryUnknown("connection lost after the dot")
    config = _config()
    with pytest.raises(TaskFailed) as info:
        mail_celery._after_failure(_RecordingTask(), config, lost, "<k@x>", "run", KW, 1000.0)
    assert info.value.error == "DeliveryUnknown"
    assert config.store.released == []  # the record keeps saying "handed over"
    retrying = _config(on_unknown="retry")
    with pytest.raises(_Retry):
        mail_celery._after_failure(_RecordingTask(), retrying, lost, "<k@x>", "run", KW, 1000.0)
    assert retrying.store.released == ["<k@x>"]


def test_task_failed_survives_celery_json_result_serialisation(app: Any) -> None:
    error = TaskFailed(
        "RecipientsRefused",
        "all recipients refused",
        "<k@x>",
        {"a@x.com": {"code": 550, "text": "no"}},
    )
    backend = app.backend
    rebuilt = backend.exception_to_python(backend.prepare_exception(error, "json"))
    assert isinstance(rebuilt, TaskFailed)
    assert (rebuilt.error, rebuilt.message_id, rebuilt.recipients) == (
        error.error,
        error.message_id,
        error.recipients,
    )


class _FlakyStore:
    """A hand-over store whose Redis is down for claim() or for hand_over()."""

    def __init__(self, down_at: str) -> None:
        self.down_at = down_at
        self.released: list[str] = []

    def claim(self, key: str, run: str, *, take_over_unknown: bool = False) -> Any:
        from mailsdk.integrations.handover import Claim

        if self.down_at == "claim":
            raise redis.exceptions.ConnectionError("Redis is down")
        return Claim("claimed")

    def hand_over(self, key: str, run: str) -> bool:
        raise redis.exceptions.ConnectionError("Redis is down")

    def finish(self, key: str, run: str, result: dict[str, Any]) -> None:
        raise AssertionError("never reached")

    def release(self, key: str, run: str) -> None:
        self.released.append(key)


class _BoundTask(_RecordingTask):
    def __init__(self, config: Any) -> None:
        self.mailsdk_config = config
        self.request = type("Request", (), {"id": "task-1"})()


@pytest.mark.parametrize("down_at", ["claim", "hand_over"])
def test_an_unreachable_store_means_no_send_and_a_retry(down_at: str) -> None:
    from mailsdk import MemoryTransport, Sender

    memory = MemoryTransport()
    config = _config(store=_FlakyStore(down_at), senders={"default": Sender(memory)})
    payload = with_message_id(message()).model_dump_json()
    with pytest.raises(_Retry) as info:
        mail_celery._send_task(_BoundTask(config), payload)
    assert memory.outbox == []  # stopped before the hand-over: nothing left
    assert info.value.countdown >= 60.0  # the backoff, not a hot loop
    config.senders["default"].close()


def test_register_defaults_to_celerys_current_app(redis_server: RedisServer) -> None:
    from celery import Celery, current_app

    previous = current_app._get_current_object()
    app = Celery("current", broker=redis_server.url(5), set_as_current=True)
    try:
        task = mail_celery.register()
        assert app.tasks[mail_celery.TASK_NAME] is task
        assert task.acks_late
        assert task.reject_on_worker_lost
    finally:
        app.close()
        previous.set_current()


def test_a_sender_url_password_stays_out_of_the_task_config_repr() -> None:
    config = _config(senders={"bulk": "smtp://user:s3cret-pass@mail.example.com:587"})
    assert "s3cret-pass" not in repr(config)


class _ClaimingStore(_FlakyStore):
    def __init__(self) -> None:
        super().__init__("nowhere")


def test_an_unknown_sender_name_fails_the_task_without_sending(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no mailsdk.toml naming relays here
    monkeypatch.delenv("MAILSDK_CONFIG", raising=False)
    store = _ClaimingStore()
    config = _config(store=store)
    payload = with_message_id(message()).model_dump_json()
    with pytest.raises(TaskFailed) as info:
        mail_celery._send_task(_BoundTask(config), payload, sender="no-such-sender")
    assert info.value.error == "ConfigurationError"
    assert "no-such-sender" in str(info.value)
    assert store.released == [info.value.message_id]


def test_a_named_sender_may_be_given_as_sender_options() -> None:
    from mailsdk import MemoryTransport, SenderOptions

    memory = MemoryTransport()
    config = _config(senders={"bulk": SenderOptions(memory)})
    sender = config.sender("bulk")
    try:
        assert config.sender("bulk") is sender  # built once per worker process
        sender.send(message())
        assert len(memory.outbox) == 1
    finally:
        sender.close()
