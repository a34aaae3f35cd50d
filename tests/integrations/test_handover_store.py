"""Hand-over records in a real Redis, step by step (see mailsdk.integrations.handover).

Leases are a fraction of a second here; a test that needs one to end sleeps past it (Redis's
own clock decides, as it does for workers).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from mailsdk.integrations.handover import Claim, RedisHandoverStore
from tests.peers.redis import RedisServer

LEASE = 0.3
KEY = "<order-42@shop.example>"


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisHandoverStore]:
    client = redis.Redis.from_url(redis_server.url(3))
    client.flushdb()
    yield RedisHandoverStore(client, lease=LEASE, keep=60)
    client.close()


def past_the_lease() -> None:
    time.sleep(LEASE + 0.15)


def test_first_claim_wins_and_a_second_run_is_told_to_wait(store: RedisHandoverStore) -> None:
    assert store.claim(KEY, "run-a") == Claim("claimed")
    busy = store.claim(KEY, "run-b")
    assert busy.outcome == "busy"
    assert 0 < busy.wait <= LEASE


def test_an_expired_claim_is_taken_over_and_the_old_run_cannot_hand_over(
    store: RedisHandoverStore,
) -> None:
    store.claim(KEY, "run-a")
    past_the_lease()  # run-a died before its final dot
    assert store.claim(KEY, "run-b").outcome == "claimed"
    assert store.hand_over(KEY, "run-a") is False  # a slow run-a must stop before its dot
    assert store.hand_over(KEY, "run-b") is True


def test_a_handed_over_message_is_unknown_once_its_run_is_gone(
    store: RedisHandoverStore,
) -> None:
    store.claim(KEY, "run-a")
    assert store.hand_over(KEY, "run-a")
    assert store.claim(KEY, "run-b").outcome == "busy"  # run-a may still be reading the reply
    past_the_lease()
    assert store.claim(KEY, "run-b") == Claim("handed")  # at-most-once: never re-sent
    assert store.claim(KEY, "run-c", take_over_unknown=True) == Claim("claimed")  # at-least-once


def test_sent_is_final_and_returns_the_stored_result(store: RedisHandoverStore) -> None:
    store.claim(KEY, "run-a")
    store.hand_over(KEY, "run-a")
    result = {"message_id": KEY, "accepted": ["a@example.com"]}
    store.finish(KEY, "run-a", result)
    past_the_lease()
    assert store.claim(KEY, "run-b", take_over_unknown=True) == Claim("sent", result=result)
    store.release(KEY, "run-a")  # a sent record is never released
    assert store.claim(KEY, "run-b").outcome == "sent"


def test_release_frees_only_the_owners_claim(store: RedisHandoverStore) -> None:
    store.claim(KEY, "run-a")
    store.release(KEY, "run-b")
    assert store.claim(KEY, "run-b").outcome == "busy"
    store.release(KEY, "run-a")
    assert store.claim(KEY, "run-b").outcome == "claimed"


def test_hand_over_without_a_claim_is_refused(store: RedisHandoverStore) -> None:
    assert store.hand_over(KEY, "run-a") is False


def test_records_expire_after_keep(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url(3))
    store = RedisHandoverStore(client, lease=LEASE, keep=60, prefix="t:")
    store.claim(KEY, "run-a")
    assert 0 < client.pttl("t:" + KEY) <= 60_000
    client.close()
