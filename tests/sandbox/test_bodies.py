"""sandbox.bodies: a request's JSON object within its caps, each refusal the documented answer."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from driver_agent.sandbox.bodies import MAX_BODY_BYTES, BadRequest, header, json_body

Message = MutableMapping[str, Any]


class Chunks:
    """An ASGI `receive` handing out body chunks; counts the reads."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.reads = 0

    async def __call__(self) -> Message:
        self.reads += 1
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}


def scope(content_type: str | None = "application/json", length: int | None = None) -> Message:
    headers = [] if content_type is None else [(b"content-type", content_type.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"headers": headers}


async def refusal(receive: Chunks, asked: Message) -> tuple[int, str]:
    with pytest.raises(BadRequest) as caught:
        await json_body(receive, asked)
    reply = caught.value.reply
    assert reply.body["success"] is False
    return reply.status, str(reply.body["message"])


async def test_a_body_in_chunks_is_one_object_and_an_empty_one_is_empty() -> None:
    assert await json_body(Chunks(b'{"task_id"', b": 5}"), scope()) == {"task_id": 5}
    assert await json_body(Chunks(b"  "), scope(None)) == {}


async def test_json_that_is_not_an_object_is_a_400() -> None:
    assert await refusal(Chunks(b"[1]"), scope()) == (400, "the JSON body must be an object")


async def test_malformed_json_says_so_as_a_body() -> None:
    status, message = await refusal(Chunks(b'{"a": }'), scope())
    assert (status, message.startswith("malformed JSON body:")) == (400, True)


async def test_another_content_type_is_a_415_before_the_body_is_read() -> None:
    receive = Chunks(b"{}")
    status, message = await refusal(receive, scope("text/plain"))
    assert (status, receive.reads) == (415, 0)
    assert "text/plain" in message


async def test_a_body_past_the_cap_is_refused_at_the_chunk_that_passes_it() -> None:
    half = b" " * (MAX_BODY_BYTES // 2 + 1)
    receive = Chunks(half, half, b"{}")
    status, _ = await refusal(receive, scope())
    assert (status, receive.reads) == (413, 2)  # the third chunk is never read
    declared = Chunks(b"{}")
    assert (await refusal(declared, scope(length=MAX_BODY_BYTES + 1)))[0] == 413
    assert declared.reads == 0


def test_header_finds_the_first_match_or_none() -> None:
    asked = {"headers": [(b"x-a", b"1"), (b"x-a", b"2")]}
    assert (header(asked, b"x-a"), header(asked, b"x-b")) == ("1", None)
