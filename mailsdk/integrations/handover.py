"""Hand-over records: which run of a background send owns a message, and whether it left.

A task queue delivers a task *at least* once: a worker killed mid-task, or a Redis broker's
visibility timeout passing under a task that waits for its ``eta``, makes the broker hand the
same task out again. For an email that would be a second delivery. So each background send
keeps one record per idempotency key (the Message-ID) in a store every worker shares:

``claimed``  a run owns the message until its lease ends (it renews nothing: a send is short);
``handed``   that run reached the point of no return (SMTP's final dot, the HTTP request) and
             wrote this *before* it: from now on the message may have been delivered;
``sent``     the relay accepted it; the record keeps the result for the copies that follow.

A second run that finds ``sent`` returns the stored result; finds a live lease, waits for it;
finds ``handed`` with an expired lease (its run died after the dot), reports
:class:`~mailsdk.DeliveryUnknown` and does not send again unless at-least-once was chosen; finds
``claimed`` with an expired lease (its run died before the dot), sends. A run whose claim was
taken over by another stops before its final dot (:meth:`HandoverStore.hand_over` refuses).
Each step is one atomic Redis script, and times come from the Redis server's clock, so workers
whose clocks disagree still agree on leases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import redis

__all__ = ["Claim", "HandoverStore", "RedisHandoverStore"]

ClaimOutcome = Literal["claimed", "busy", "handed", "sent"]
"""What :meth:`HandoverStore.claim` found (see the module docstring)."""


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: ``outcome``; for ``busy`` the seconds until the other run's
    lease ends; for ``sent`` the result that run stored."""

    outcome: ClaimOutcome
    wait: float = 0.0
    result: dict[str, Any] | None = None


class HandoverStore(Protocol):
    """Where hand-over records live. :class:`RedisHandoverStore` is the one mailsdk ships;
    another store must make each method atomic for one key across every worker."""

    def claim(self, key: str, run: str, *, take_over_unknown: bool = False) -> Claim:
        """Claim *key* for *run*, unless another run owns it or it was sent or handed over."""

    def hand_over(self, key: str, run: str) -> bool:
        """Record that *run* is about to hand the message over; False if the claim was lost."""

    def finish(self, key: str, run: str, result: dict[str, Any]) -> None:
        """Record that the message was accepted, keeping *result* for later copies."""

    def release(self, key: str, run: str) -> None:
        """Forget *run*'s claim: the message was definitely not delivered, a retry may send."""


_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] key; ARGV run, lease_ms, take_over_unknown ("1"/"0"), keep_ms
_CLAIM = (
    _NOW_MS
    + """
local cur = redis.call('GET', KEYS[1])
if cur then
  local rec = cjson.decode(cur)
  if rec.state == 'sent' then return {'sent', cur} end
  if rec['until'] > now then return {'busy', tostring(rec['until'] - now)} end
  if rec.state == 'handed' and ARGV[3] ~= '1' then return {'handed', cur} end
end
local rec = {state = 'claimed', run = ARGV[1]}
rec['until'] = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(rec), 'PX', ARGV[4])
return {'claimed', ''}
"""
)

# KEYS[1] key; ARGV run, lease_ms, keep_ms
_HAND_OVER = (
    _NOW_MS
    + """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local rec = cjson.decode(cur)
if rec.run ~= ARGV[1] or rec.state == 'sent' then return 0 end
rec.state = 'handed'
rec['until'] = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(rec), 'PX', ARGV[3])
return 1
"""
)

# KEYS[1] key; ARGV run
_RELEASE = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local rec = cjson.decode(cur)
if rec.run == ARGV[1] and rec.state ~= 'sent' then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisHandoverStore:
    """Hand-over records in Redis (usually the broker's own Redis).

    Args:
        client: a ``redis.Redis`` client.
        lease: seconds a run owns a message after claiming it, and again after handing it
            over. Make it longer than one send can take, reply after the final dot included
            (an SMTP relay may take minutes to answer the dot): a copy that finds a live lease
            waits for it rather than report an unknown outcome too early.
        keep: seconds a record is kept: the window in which a copy of the task is recognised.
        prefix: prepended to each key.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        lease: float = 600.0,
        keep: float = 7 * 86400.0,
        prefix: str = "mailsdk:handover:",
    ) -> None:
        self.client = client
        self.lease_ms = max(1, int(lease * 1000))
        self.keep_ms = max(self.lease_ms, int(keep * 1000))
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._hand_over = client.register_script(_HAND_OVER)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisHandoverStore:
        """A store on the Redis at *url* (``redis://``, ``rediss://`` or ``unix://``)."""
        import redis

        return cls(redis.Redis.from_url(url), **options)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def claim(self, key: str, run: str, *, take_over_unknown: bool = False) -> Claim:
        """See :meth:`HandoverStore.claim`."""
        outcome, detail = self._claim(
            keys=[self._key(key)],
            args=[run, self.lease_ms, "1" if take_over_unknown else "0", self.keep_ms],
        )
        found = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if found == "busy":
            return Claim("busy", wait=int(detail) / 1000)
        if found == "sent":
            return Claim("sent", result=json.loads(detail).get("result"))
        if found == "handed":
            return Claim("handed")
        return Claim("claimed")

    def hand_over(self, key: str, run: str) -> bool:
        """See :meth:`HandoverStore.hand_over`."""
        return bool(self._hand_over(keys=[self._key(key)], args=[run, self.lease_ms, self.keep_ms]))

    def finish(self, key: str, run: str, result: dict[str, Any]) -> None:
        """See :meth:`HandoverStore.finish`."""
        record = json.dumps({"state": "sent", "run": run, "until": 0, "result": result})
        self.client.set(self._key(key), record, px=self.keep_ms)

    def release(self, key: str, run: str) -> None:
        """See :meth:`HandoverStore.release`."""
        self._release(keys=[self._key(key)], args=[run])

    def __repr__(self) -> str:
        return f"RedisHandoverStore(prefix={self.prefix!r})"
