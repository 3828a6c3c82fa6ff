"""Property tests of the HTTP engine's answer parsing, without sockets.

Valid answers (generated status, reason, fields, body by Content-Length, chunked or close, split
at random points into reads) must parse exactly as h11, the reference, parses them. Mutated
answers (bytes flipped, inserted, deleted) must end, fed into the engine's connection protocol
through a test double of asyncio's transport, in an answer or an `httpx.RemoteProtocolError`:
never another exception, never a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import h11
import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from driver_agent.fleetapi.http11 import Answer
from driver_agent.fleetapi.http11_connection import Connection
from driver_agent.fleetapi.http11_parser import ResponseParser

SETTINGS = settings(
    max_examples=300,
    deadline=None,  # no wall-clock bound: pytest-timeout catches a hang
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CAP = 1 << 20

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~",
    min_size=1,
    max_size=12,
)
FIELD_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=20
).flatmap(  # visible characters with single inner spaces; no leading or trailing whitespace
    lambda head: st.lists(
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
        max_size=3,
    ).map(lambda words: " ".join([head, *words]).strip())
)
FRAMED_BY_US = {b"content-length", b"transfer-encoding", b"connection"}


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]], bytes, str]:
    """(wire bytes, status, reason, fields, body, framing) of a valid HTTP/1.1 answer."""
    status = draw(st.sampled_from([200, 201, 202, 204, 304, 400, 401, 404, 409, 429, 500, 503]))
    reason = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC", max_size=20)).strip()
    fields = [
        (name.encode(), value.encode())
        for name, value in draw(st.lists(st.tuples(TOKEN, FIELD_VALUE), max_size=8))
        if name.lower().encode() not in FRAMED_BY_US
    ]
    no_body = status in (204, 304)
    size = 0 if no_body else draw(st.one_of(st.integers(0, 40), st.integers(0, 3000)))
    pattern = draw(st.binary(min_size=1, max_size=16))
    body = (pattern * (size // len(pattern) + 1))[:size]
    framing = "none" if no_body else draw(st.sampled_from(["length", "chunked", "close"]))
    wire = []
    for interim in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2)):
        wire.append(b"HTTP/1.1 %d Wait\r\nX-Interim: %d\r\n\r\n" % (interim, interim))
    wire.append(b"HTTP/1.1 %d %s\r\n" % (status, reason.encode()))
    wire += [name + b": " + value + b"\r\n" for name, value in fields]
    if framing == "length":
        wire.append(b"Content-Length: %d\r\n" % len(body))
    elif framing == "chunked":
        wire.append(b"Transfer-Encoding: chunked\r\n")
    elif framing == "close":
        wire.append(b"Connection: close\r\n")
    wire.append(b"\r\n")
    if framing == "chunked":
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
        at = 0
        for cut in [*cuts, len(body)]:
            if cut > at:
                extension = draw(st.sampled_from([b"", b";a=b", b";x"]))
                wire.append(b"%x%s\r\n%s\r\n" % (cut - at, extension, body[at:cut]))
                at = cut
        wire.append(b"0\r\n")
        if draw(st.booleans()):
            wire.append(b"X-Trailer: " + draw(FIELD_VALUE).encode() + b"\r\n")
        wire.append(b"\r\n")
    else:
        wire.append(body)
    return b"".join(wire), status, reason.encode(), fields, body, framing


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    at = 0
    for cut in sorted({min(c, len(data)) for c in cuts}):
        if cut > at:
            yield data[at:cut]
            at = cut
    if at < len(data):
        yield data[at:]


def h11_reading(wire: bytes, close: bool) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="POST", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(wire)
    if close:
        connection.receive_data(b"")
    response: h11.Response | None = None
    body = b""
    while True:
        event = connection.next_event()
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"h11 stopped at {event!r}")
    assert response is not None
    headers = [(bytes(n), bytes(v)) for n, v in response.headers]
    return response.status_code, bytes(response.reason), headers, body


@SETTINGS
@given(answers(), st.lists(st.integers(0, 3000), max_size=8))
def test_valid_answers_parse_as_h11_parses_them(
    answer: tuple[bytes, int, bytes, list[tuple[bytes, bytes]], bytes, str], cuts: list[int]
) -> None:
    wire, status, _, _, body, framing = answer
    parser = ResponseParser(expect_body=True, max_body_bytes=CAP)
    parsed: Answer | None = None
    for piece in split(wire, cuts):
        assert parsed is None
        parsed = parser.feed(piece)
    if framing == "close":
        assert parsed is None  # the body ends with the connection
        parsed = parser.eof()
    assert parsed is not None
    h11_status, h11_reason, h11_headers, h11_body = h11_reading(wire, framing == "close")
    assert (parsed.status, parsed.reason, parsed.body) == (h11_status, h11_reason, h11_body)
    assert (parsed.status, parsed.body) == (status, body)
    ours = [(name.lower(), value) for name, value in parsed.headers]
    theirs = [(name, value) for name, value in h11_headers if name != b"transfer-encoding"]
    assert ours == theirs  # same fields, same order; the chunked coding is removed
    assert parsed.keep_alive is (framing != "close")


class FakeTransport(asyncio.Transport):
    """A test double for asyncio's socket transport: records writes and closing."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 8)),
    st.tuples(
        st.just("insert"),
        st.integers(0, 1 << 16),
        st.sampled_from(
            [b"\r\n", b"\n", b"\r", b"-", b"0x", b"_", b" ", b"\t", b":", b";", b"\r\n\r\n", b"\0"]
            + [b"%d" % digit for digit in range(10)]
        ),
    ),
)


def mutate(wire: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    data = bytearray(wire)
    for kind, position, argument in mutations:
        at = position % (len(data) + 1)
        if kind == "flip" and at < len(data):
            assert isinstance(argument, int)
            data[at] ^= argument
        elif kind == "insert":
            assert isinstance(argument, bytes)
            data[at:at] = argument
        elif kind == "delete":
            assert isinstance(argument, int)
            del data[at : at + argument]
    return bytes(data)


@SETTINGS
@given(
    answers(),
    st.lists(MUTATION, min_size=1, max_size=4),
    st.lists(st.integers(0, 3000), max_size=8),
    st.booleans(),
)
def test_mutated_answers_end_in_an_answer_or_a_remote_protocol_error(
    loop: asyncio.AbstractEventLoop,
    answer: tuple[bytes, int, bytes, list[tuple[bytes, bytes]], bytes, str],
    mutations: list[tuple[str, int, object]],
    cuts: list[int],
    expect_body: bool,
) -> None:
    wire = mutate(answer[0], mutations)
    assume(wire)  # no byte at all is not an answer but a closed connection (OutcomeUnknown)
    connection = Connection((b"http", "x", 80), loop, max_body=1000)
    transport = FakeTransport()
    connection.connection_made(transport)
    waiter = connection.send(b"POST / HTTP/1.1\r\n\r\n", expect_body)
    assert waiter is not None
    for piece in split(wire, cuts):
        if waiter.done():
            break
        connection.data_received(piece)
    if waiter.done() and waiter.exception() is not None:
        assert transport.closing  # a violation closes the socket at once
    connection.connection_lost(None)  # the server goes away: the waiter must be settled now
    assert waiter.done()
    error = waiter.exception()
    if error is None:
        assert isinstance(waiter.result(), Answer)
    else:
        assert isinstance(error, httpx.RemoteProtocolError), repr(error)


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_arbitrary_bytes_raise_only_remote_protocol_error(data: bytes, cuts: list[int]) -> None:
    parser = ResponseParser(expect_body=True, max_body_bytes=100)
    try:
        for piece in split(b"HTTP/1.1 " + data, cuts):
            if parser.feed(piece) is not None:
                break
        parser.eof()
    except httpx.RemoteProtocolError:
        pass


def test_a_socket_found_closing_gets_nothing_written(loop: asyncio.AbstractEventLoop) -> None:
    connection = Connection((b"http", "x", 80), loop, max_body=1000)
    transport = FakeTransport()
    connection.connection_made(transport)
    transport.closing = True  # closed under us, before the request: provably never sent
    assert connection.send(b"POST / HTTP/1.1\r\n\r\n", True) is None
    assert transport.written == []
    assert connection.uses == 0
