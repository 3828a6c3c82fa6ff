"""The head-to-worker position channel over loopback: batches answered once stored, the token
required, a broken or garbled peer only ever a `ChannelError`."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import given, settings
from hypothesis import strategies as st

from driver_agent.bridge.channel import (
    MAX_FRAME_BYTES,
    ChannelClient,
    ChannelError,
    Hello,
    Positions,
    Stored,
    decode,
    encode,
    receive,
    serve_connection,
)
from driver_agent.bridge.positions import Position

TOKEN = "3f5e0c1d9a7b"
T_MS = 1_900_000_000_000


def positions(n: int, device: str = "van-1") -> list[Position]:
    return [Position(device, 60.17 + k * 1e-4, 24.94, T_MS + k * 1000, 3.5) for k in range(n)]


@asynccontextmanager
async def worker_end(
    store_error: str | None = None, stored: list[list[Position]] | None = None
) -> AsyncIterator[int]:
    """A listener serving the worker's end on loopback; yields its port."""
    kept = stored if stored is not None else []

    async def store(batch: list[Position]) -> str | None:
        kept.append(batch)
        return store_error

    async def handle(stream: anyio.abc.SocketStream) -> None:
        await serve_connection(stream, TOKEN, store)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def test_batches_arrive_whole_and_in_order_and_each_is_answered() -> None:
    stored: list[list[Position]] = []
    async with worker_end(stored=stored) as port:
        client = ChannelClient("127.0.0.1", port, TOKEN)
        assert await client.store(positions(3)) is None
        assert await client.store(positions(1, "van-2")) is None
        await client.close()
    assert stored == [positions(3), positions(1, "van-2")]


async def test_the_workers_reason_comes_back_and_the_connection_stays_usable() -> None:
    async with worker_end(store_error="outbox: disk full") as port:
        client = ChannelClient("127.0.0.1", port, TOKEN)
        assert await client.store(positions(2)) == "outbox: disk full"
        assert await client.store(positions(1)) == "outbox: disk full"
        await client.close()


async def test_a_wrong_token_gets_the_connection_closed_and_nothing_stored() -> None:
    stored: list[list[Position]] = []
    async with worker_end(stored=stored) as port:
        client = ChannelClient("127.0.0.1", port, "not-the-token")
        with pytest.raises(ChannelError, match="closed"):
            await client.store(positions(2))
    assert stored == []


async def test_a_worker_gone_is_a_channel_error_and_the_next_call_connects_again() -> None:
    async with worker_end() as port:
        client = ChannelClient("127.0.0.1", port, TOKEN)
        assert await client.store(positions(1)) is None
    with pytest.raises(ChannelError):  # the listener and its connection are gone
        await client.store(positions(1))
    async with worker_end() as other:
        client.port = other  # the restarted worker's address
        assert await client.store(positions(1)) is None
        await client.close()


async def test_garbage_or_a_huge_frame_closes_the_workers_end_quietly() -> None:
    stored: list[list[Position]] = []
    async with worker_end(stored=stored) as port:
        for junk in (
            b"\x00\x00\x00\x03abc",  # not MessagePack of ours
            struct.pack(">I", MAX_FRAME_BYTES + 1),  # a length past the cap
            encode(Hello(TOKEN)) + encode(Stored()),  # an answer where a batch belongs
        ):
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(junk)
                with anyio.fail_after(5), pytest.raises(ChannelError):
                    await receive(BufferedByteReceiveStream(stream))
    assert stored == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_message_or_a_channel_error(payload: bytes) -> None:
    try:
        message = decode(payload)
    except ChannelError:
        return
    assert isinstance(message, Hello | Positions | Stored)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            Position,
            st.text(min_size=1, max_size=20),
            st.floats(-90, 90),
            st.floats(-180, 180),
            st.integers(0, 2**53),
            st.none() | st.floats(0, 100),
        ),
        max_size=20,
    )
)
def test_a_batch_survives_the_trip_exactly(batch: list[Position]) -> None:
    frame = encode(Positions(batch))
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    assert decode(frame[4:]) == Positions(batch)
