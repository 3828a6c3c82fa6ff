"""Reading an ASGI request for the sandbox: headers, the body within its cap, the JSON object.

Bodies stay within `jsonbody`'s limits: 16 MB (413 at the first byte past it, the rest unread),
415 for a Content-Type that is not JSON, 400 for bad UTF-8, nesting or numbers, and 400 when
the JSON is not an object. Each refusal is a `BadRequest` carrying the documented answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from driver_agent.core.jsonbody import BodyError, CappedBody, check_json_content_type, decode_json
from driver_agent.sandbox.world import JsonDict, Reply

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 16 * 1024 * 1024  # a 10 MB image in base64, plus the JSON around it


class BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def decode_object(raw: bytes) -> JsonDict:
    """The JSON object of a body (`jsonbody`'s limits); an empty body is `{}`."""
    if not raw.strip():
        return {}
    try:
        value = decode_json(raw)
    except BodyError as e:
        raise BadRequest(body_refusal(e)) from None
    if not isinstance(value, dict):
        raise BadRequest(
            Reply(400, {"success": False, "message": "the JSON body must be an object"})
        )
    return value


def body_refusal(error: BodyError) -> Reply:
    message = error.message.replace("malformed JSON:", "malformed JSON body:", 1)
    if not message.startswith("malformed"):
        message = f"request body: {message}"
    return Reply(error.status, {"success": False, "message": message})


async def read_body(receive: Receive, scope: Scope) -> bytes:
    """The body, refused (413) at the first byte past `MAX_BODY_BYTES`: the rest is not read."""
    capped = CappedBody(MAX_BODY_BYTES)
    try:
        capped.check_declared(header(scope, b"content-length"))
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b""  # disconnected
            capped.add(message.get("body", b""))
            if not message.get("more_body", False):
                return capped.body()
    except BodyError as e:
        raise BadRequest(body_refusal(e)) from None


async def json_body(receive: Receive, scope: Scope) -> JsonDict:
    """A JSON request body: 415 for a Content-Type that is not JSON, 413, 400, or the object."""
    try:
        check_json_content_type(header(scope, b"content-type"))
    except BodyError as e:
        raise BadRequest(body_refusal(e)) from None
    return decode_object(await read_body(receive, scope))


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
