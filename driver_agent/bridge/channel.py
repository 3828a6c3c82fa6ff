"""The position channel from the head of a split bridge to one worker: a TCP connection of its
own, not a Ray call per batch.

Ray places, supervises and restarts the workers; positions, the bulk of the traffic, take this
channel instead: measured on the same rig, a Ray actor call per forwarded batch cost the head
and the worker more than a whole one-process bridge spends on a position (the call crosses
Ray's threads on both sides). Here the head writes a batch as one frame and the worker answers
one frame once the batch is on disk; both ends are plain event-loop code.

Frames: a 4-byte big-endian length, then a MessagePack message (`msgspec`). The head opens with
`Hello` (the run's random token: the worker listens on its node's address, and only the head
may feed it), then sends `Positions` and reads `Stored` (no error: on disk), one batch at a time
per connection. Anything else, a wrong token, or a frame over `MAX_FRAME_BYTES` closes the
connection with a `ChannelError`; nothing a peer sends raises anything else.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import msgspec
from anyio.streams.buffered import BufferedByteReceiveStream

from driver_agent.bridge.positions import Position
from driver_agent.core.errors import DriverAgentError

MAX_FRAME_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class ChannelError(DriverAgentError):
    """The channel broke or the peer sent something that is not a frame of ours."""


class Hello(msgspec.Struct, tag=True, frozen=True):
    token: str


class Positions(msgspec.Struct, tag=True, frozen=True):
    items: list[Position]


class Stored(msgspec.Struct, tag=True, frozen=True):
    error: str | None = None  # None: every position of the batch is on disk


Message = Hello | Positions | Stored

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    payload = _encoder.encode(message)
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> Message:
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ChannelError(f"not a channel message: {exc}") from None


async def receive(reader: BufferedByteReceiveStream) -> Message:
    """One whole frame's message; `ChannelError` when the stream ends or holds garbage."""
    try:
        (length,) = _LENGTH.unpack(await reader.receive_exactly(_LENGTH.size))
        if length > MAX_FRAME_BYTES:
            raise ChannelError(f"a frame of {length} bytes (at most {MAX_FRAME_BYTES})")
        return decode(await reader.receive_exactly(length))
    except (
        anyio.EndOfStream,
        anyio.IncompleteRead,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        OSError,
    ):
        raise ChannelError("the connection closed") from None


Store = Callable[[list[Position]], Awaitable[str | None]]


async def serve_connection(stream: anyio.abc.ByteStream, token: str, store: Store) -> None:
    """The worker's end of one connection: the hello, then batches until the head goes away."""
    reader = BufferedByteReceiveStream(stream)
    async with stream:
        try:
            hello = await receive(reader)
            if not isinstance(hello, Hello) or not hmac.compare_digest(
                hello.token.encode("utf-8", "surrogateescape"), token.encode()
            ):
                return
            while True:
                batch = await receive(reader)
                if not isinstance(batch, Positions):
                    return
                error = await store(batch.items)
                await stream.send(encode(Stored(error)))
        except (ChannelError, anyio.BrokenResourceError, OSError):
            return


class ChannelClient:
    """The head's end: connects on first use, one batch at a time (the caller's group commit
    makes sure), reconnects after a failure."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self._token = token
        self._stream: anyio.abc.SocketStream | None = None
        self._reader: BufferedByteReceiveStream | None = None

    async def store(self, positions: list[Position]) -> str | None:
        """None once the worker has the positions on disk, else the worker's reason;
        `ChannelError` when the connection failed (the batch may or may not be stored)."""
        try:
            if self._stream is None:
                stream = await anyio.connect_tcp(self.host, self.port)
                self._stream, self._reader = stream, BufferedByteReceiveStream(stream)
                await stream.send(encode(Hello(self._token)))
            assert self._reader is not None
            await self._stream.send(encode(Positions(positions)))
            answer = await receive(self._reader)
        except (ChannelError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await self.close()
            raise ChannelError(f"channel to {self.host}:{self.port}: {exc}") from None
        except BaseException:
            await self.close()  # cancelled mid-frame: the stream is out of step
            raise
        if not isinstance(answer, Stored):
            await self.close()
            raise ChannelError(f"channel to {self.host}:{self.port}: an answer of another kind")
        return answer.error

    async def close(self) -> None:
        stream, self._stream, self._reader = self._stream, None, None
        if stream is not None:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
