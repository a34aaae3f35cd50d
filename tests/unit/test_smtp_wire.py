"""The wire's reply parser: whatever a relay sends, however it is split, the wire either
yields well-formed replies or drops the connection, and never buffers more than its bounds."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailsdk.transports._smtp_wire import (
    _KNOWN_REPLIES,
    MAX_LINE,
    MAX_REPLY_BYTES,
    MAX_REPLY_LINES,
    Reply,
    Wire,
    WireLost,
    WireTimeout,
)


class _Transport(asyncio.Transport):
    """Just enough of a transport for the wire's parser: it records what the wire does."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False
        self.written = bytearray()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0


def _feed(chunks: list[bytes]) -> tuple[Wire, _Transport, int]:
    """Feed *chunks* to a fresh wire; return it, its transport and the most it buffered."""
    transport = _Transport()
    wire = Wire(transport)
    most = 0
    for chunk in chunks:
        wire.data_received(chunk)
        held = len(wire._buffer) + sum(len(line) for line in wire._lines)
        most = max(most, held)
    return wire, transport, most


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if a < b]


@given(st.binary(max_size=4000), st.lists(st.integers(min_value=0), max_size=20))
@example(b"250-" + b"x" * 3000 + b"\r\n", [])
@example(b"250 ok\r\n" * 3, [1, 9])
async def test_any_bytes_any_split_stay_within_bounds(data: bytes, cuts: list[int]) -> None:
    wire, transport, most = _feed(_split(data, cuts))
    chunk = max((len(c) for c in _split(data, cuts)), default=0)
    assert most <= MAX_REPLY_BYTES + MAX_LINE + chunk
    for reply in wire._replies:
        assert 0 <= reply.code <= 999
    if wire.lost is not None:
        assert transport.aborted


@given(st.lists(st.tuples(st.integers(200, 599), st.text(max_size=50)), min_size=1, max_size=20))
async def test_well_formed_replies_come_back_in_order(replies: list[tuple[int, str]]) -> None:
    raw = b"".join(
        f"{code}-{text}\r\n{code} end\r\n".encode() for code, text in replies if "\n" not in text
    )
    wanted = [(code, f"{text}\nend") for code, text in replies if "\n" not in text]
    wire, _, _ = _feed(_split(raw, [7, 13, 101]))
    got = []
    while wire._replies:
        reply = await wire.read(1.0)
        got.append((reply.code, reply.text))
    assert [c for c, _ in got] == [c for c, _ in wanted]


@given(
    st.lists(st.integers(200, 599), min_size=1, max_size=60),
    st.lists(st.integers(1, 500), min_size=1),
    st.lists(st.integers(0, 70), min_size=1),
)
async def test_replies_already_here_are_taken_in_order_then_read_waits(
    codes: list[int], cuts: list[int], counts: list[int]
) -> None:
    # A pipelined batch's replies arrive in chunks: take(n) hands out at most n of those
    # already here, in the order read() would, and never waits; read() waits for the next.
    wire = Wire(_Transport())
    chunks = _split(b"".join(f"{c} ok\r\n".encode() for c in codes), cuts)
    got: list[Reply] = []
    for i, chunk in enumerate(chunks):
        wire.data_received(chunk)
        taken = wire.take(counts[i % len(counts)])
        assert len(taken) <= counts[i % len(counts)]
        got += taken
    while len(got) < len(codes):
        got.append(await wire.read(1.0))
    assert [r.code for r in got] == codes
    assert wire.take(5) == []
    pending = asyncio.ensure_future(wire.read(1.0))
    await asyncio.sleep(0)
    assert not pending.done()  # nothing here: read() waits
    wire.data_received(b"250 later\r\n")
    assert await pending == Reply(250, "later")


async def test_one_line_replies_seen_before_are_the_same_reply() -> None:
    # A relay answers most RCPTs with the same line: the reply is parsed once per
    # connection (up to a few distinct lines), and is equal to a freshly parsed one.
    distinct = [f"250 2.0.0 queued as Q{i}\r\n".encode() for i in range(40)]
    wire, _, _ = _feed([b"250 2.1.5 Ok\r\n" * 3, *distinct, b"250 2.1.5 Ok\r\n"])
    got = wire.take(100)
    assert [r.text for r in got] == ["2.1.5 Ok"] * 3 + [
        f"2.0.0 queued as Q{i}" for i in range(40)
    ] + ["2.1.5 Ok"]
    assert got[0] is got[1] is got[2] is got[-1]
    assert len(wire._known) == _KNOWN_REPLIES


async def test_a_known_line_ending_a_multi_line_reply_stays_part_of_it() -> None:
    wire, _, _ = _feed([b"250 x\r\n", b"250-y\r\n250 x\r\n"])
    assert wire.take(5) == [Reply(250, "x"), Reply(250, "y\nx")]


async def test_an_endless_reply_is_cut_at_the_line_limit() -> None:
    wire, transport, most = _feed([b"250-more\r\n" * 50] * (MAX_REPLY_LINES // 50 + 2))
    assert transport.aborted
    assert most <= MAX_REPLY_BYTES
    with pytest.raises(WireLost, match="longer than"):
        await wire.read(1.0)


async def test_an_endless_line_is_cut_at_the_line_limit() -> None:
    wire, transport, most = _feed([b"250 " + b"x" * 1000] * 10)
    assert transport.aborted
    assert most <= MAX_LINE + 1000
    with pytest.raises(WireLost, match="line longer"):
        await wire.read(1.0)


async def test_trickled_bytes_do_not_extend_a_read() -> None:
    wire, _, _ = _feed([])
    loop = asyncio.get_running_loop()

    async def trickle() -> None:
        for byte in b"250 slowly, never ending":
            wire.data_received(bytes([byte]))
            await asyncio.sleep(0.05)

    task = loop.create_task(trickle())
    started = loop.time()
    with pytest.raises(WireTimeout):
        await wire.read(0.1)
    # Reset by each byte, the read would end after the whole trickle (1.2 s) and more.
    assert loop.time() - started < 1.0
    task.cancel()


async def test_a_read_ends_at_the_wire_deadline() -> None:
    wire, _, _ = _feed([])
    wire.deadline = asyncio.get_running_loop().time() + 0.05
    with pytest.raises(WireTimeout):
        await wire.read(30.0)
    wire.data_received(b"250 late\r\n")
    assert await wire.read(30.0) == Reply(250, "late")  # a reply already here is returned
