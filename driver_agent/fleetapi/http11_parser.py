"""`ResponseParser`: one HTTP/1.1 answer read from a socket's bytes, framed by llhttp.

llhttp (through httptools' `HttpResponseParser`) does the framing: status line, header syntax,
Content-Length, chunked coding. It is strict by default (no lenient flags are set here) and
refuses, among others: duplicate Content-Length (even with equal values), Content-Length together
with Transfer-Encoding, chunk sizes that are not hex digits (`-6`, `0x3`, `1_0`, `+3`, spaces) or
that overflow 64 bits, chunk data not followed by CRLF, bare LF or bare CR line endings, obs-fold
continuation lines, whitespace before a header's colon, control characters in values.

Our own rules on top, where llhttp is lenient or has no notion of a limit:
- Transfer-Encoding must be exactly `chunked` (case-insensitive), in one header field. llhttp reads
  `xchunked` or `chunked, gzip` as "body until close" and `gzip, chunked` as chunked; we never ask
  for transfer codings (no TE header), so any other coding is a framing error, not a guess.
- Only HTTP/1.0 and HTTP/1.1 answers; `101 Switching Protocols` is refused; other 1xx answers
  are interim and skipped.
- The head (status line and header fields, interim answers included) is at most MAX_HEAD_BYTES;
  trailer fields at most MAX_TRAILER_BYTES (they are read and dropped); chunk framing (size
  line, extensions, CRLFs) at most MAX_CHUNK_FRAMING_BYTES per chunk on average plus that much
  again, so a size line of endless leading zeros or a huge extension is an error.
- The body is capped (`max_body_bytes`): a Content-Length above the cap fails at once, a chunked
  or close-delimited body fails at the first byte beyond it, so memory stays bounded.
- Any byte after the answer (other than the empty lines llhttp skips between messages) is an
  error: the connection is out of step.
- `Connection` is a comma-separated, case-insensitive token list: `close` ends keep-alive;
  HTTP/1.0 keeps alive only with `keep-alive`; a body delimited by the close never keeps alive.

Every violation raises `httpx.RemoteProtocolError` (`ResponseTooLargeError` for the cap), with
no request attached: the engine attaches it, and closes the socket. A bug in our own callbacks
is raised as itself, never dressed as a protocol error.

One parser per connection: `begin()` readies it for the next answer; llhttp resets itself after
each complete answer and is replaced only after a HEAD answer or an error; `close()` drops it
when the socket goes (llhttp holds our bound callbacks: a cycle refcounting cannot free, and a
new pair per answer cost the engine ~15 % of its requests per CPU second in collector work).
"""

from __future__ import annotations

import httpx
from httptools import HttpParserCallbackError, HttpParserError, HttpResponseParser

MAX_HEAD_BYTES = 64 * 1024
MAX_TRAILER_BYTES = 8 * 1024
MAX_CHUNK_FRAMING_BYTES = 256

Headers = list[tuple[bytes, bytes]]


class ResponseTooLargeError(httpx.RemoteProtocolError):
    """The answer's body exceeded `max_response_bytes`; the socket was closed."""


class Answer:
    """A parsed response: status, reason, raw headers, body, and whether to keep the socket."""

    __slots__ = ("body", "headers", "keep_alive", "reason", "status")

    def __init__(
        self, status: int, reason: bytes, headers: Headers, body: bytes, keep_alive: bool
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class _HeadOnly(Exception):  # a signal, not an error: stops llhttp after the head
    pass


def _violation(message: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"malformed answer: {message}")


_CLOSED = HttpResponseParser(object())  # stands in for llhttp once the socket is gone


class ResponseParser:
    """Feed it the socket's bytes; `feed` returns the `Answer` once complete, else None."""

    __slots__ = (
        "_body",
        "_body_bytes",
        "_chunked",
        "_chunks",
        "_close",
        "_done",
        "_expect_body",
        "_field_bytes",
        "_framing_bytes",
        "_head_bytes",
        "_head_done",
        "_headers",
        "_heads_in_feed",
        "_interim",
        "_keep_alive_token",
        "_length",
        "_max_body",
        "_parser",
        "_reason",
        "_reusable",
        "_status",
        "_tail",
        "_trailer_bytes",
        "started",
    )

    def __init__(self, *, expect_body: bool = True, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes
        self._parser = HttpResponseParser(self)
        self._reusable = True
        self.begin(expect_body)

    def begin(self, expect_body: bool) -> None:
        """Get ready for the next answer on the same socket (llhttp is reused when it can be)."""
        if not self._reusable:
            self._parser = HttpResponseParser(self)
            self._reusable = True
        self._expect_body = expect_body
        self.started = False  # any byte of the answer arrived
        self._done: Answer | None = None
        self._head_bytes = 0  # wire bytes seen while reading heads
        self._field_bytes = 0  # status line and header fields, interim answers included
        self._head_done = False  # the final (non-1xx) head is complete
        self._heads_in_feed = 0
        self._tail = b""  # the last bytes of the head seen so far (a CRLFCRLF may straddle)
        self._status = 0
        self._reason = b""
        self._headers: Headers = []
        self._length = -1
        self._chunked = False
        self._close = False
        self._keep_alive_token = False
        self._interim = False
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._chunks = 0
        self._framing_bytes = 0
        self._trailer_bytes = 0

    def close(self) -> None:
        """Drop llhttp, which holds our bound callbacks: a cycle refcounting alone cannot free."""
        self._parser = _CLOSED
        self._reusable = False

    def _reset_message(self) -> None:
        """Forget an interim (1xx) answer's fields; the real answer follows."""
        self._reason = b""
        self._headers = []
        self._length = -1
        self._chunked = False
        self._close = False
        self._keep_alive_token = False
        self._interim = False

    # -- feeding ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> Answer | None:
        """The answer once these bytes complete it; RemoteProtocolError on a violation."""
        try:
            return self._feed(data)
        except BaseException:
            self._reusable = False  # llhttp is in an error state now
            raise

    def _feed(self, data: bytes) -> Answer | None:
        if self._done is not None:
            raise _violation("bytes after the end of the answer")
        self.started = True
        in_head = not self._head_done
        if in_head:
            self._heads_in_feed = 0
            self._head_bytes += len(data)
        else:
            self._framing_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _HeadOnly):
                return self._head_only(data)
            if isinstance(cause, Exception):  # ours, or a bug in a callback: raised as it is
                raise cause from None
            raise _violation(str(exc)) from None  # pragma: no cover  # httptools sets the cause
        except HttpParserError as exc:
            raise _violation(str(exc) or type(exc).__name__) from None
        if in_head:
            if not self._head_done:
                if self._head_bytes > MAX_HEAD_BYTES:
                    raise _violation(f"head longer than {MAX_HEAD_BYTES} bytes")
                self._tail = (self._tail + data)[-3:]
                return self._done
            if self._chunked:  # count the framing that followed the head in this feed
                self._framing_bytes += len(data) - self._head_end(data)
        if self._chunked:
            framing = self._framing_bytes - self._body_bytes - self._trailer_bytes
            if framing > (self._chunks + 1) * MAX_CHUNK_FRAMING_BYTES:
                raise _violation(
                    f"chunk framing longer than {MAX_CHUNK_FRAMING_BYTES} bytes per chunk "
                    "(chunk size line or extensions too long)"
                )
        return self._done

    def _head_end(self, data: bytes) -> int:
        """Offset in `data` just past the final head (the feed's last head terminator)."""
        buffer = self._tail + data
        at = -4
        for _ in range(self._heads_in_feed):
            at = buffer.find(b"\r\n\r\n", at + 4)
            if at < 0:  # pragma: no cover  # llhttp completed a head, so its end is here
                return 0
        return max(0, at + 4 - len(self._tail))

    def _head_only(self, data: bytes) -> Answer:
        self._reusable = False  # llhttp stopped inside the head: a fresh one for the next answer
        answer = self._answer(keep_alive=not self._close)
        if len(data) > self._head_end(data):
            raise _violation("bytes after the end of the answer")
        return answer

    def eof(self) -> Answer | None:
        """The connection closed: the answer if its body was delimited by the close."""
        if self._done is None and self._head_done and self._close_delimited():
            return self._answer(keep_alive=False)
        return None

    def _close_delimited(self) -> bool:
        return self._length < 0 and not self._chunked

    def _answer(self, keep_alive: bool) -> Answer:
        body = self._body
        content = body[0] if len(body) == 1 else b"".join(body)
        answer = Answer(self._status, self._reason, self._headers, content, keep_alive)
        self._done = answer
        return answer

    # -- llhttp callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._done is not None:
            raise _violation("bytes after the end of the answer")
        if self._interim:  # the answer after a 1xx one
            self._reset_message()

    def on_status(self, reason: bytes) -> None:
        self._reason += reason
        self._field_bytes += len(reason)
        if self._field_bytes > MAX_HEAD_BYTES:
            raise _violation(f"head longer than {MAX_HEAD_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        if self._head_done:  # a trailer field: size-checked, then dropped
            self._trailer_bytes += size
            if self._trailer_bytes > MAX_TRAILER_BYTES:
                raise _violation(f"trailer fields longer than {MAX_TRAILER_BYTES} bytes")
            return
        self._field_bytes += size  # wire bytes are counted per feed; this bounds one read
        if self._field_bytes > MAX_HEAD_BYTES:
            raise _violation(f"head longer than {MAX_HEAD_BYTES} bytes")
        length = len(name)
        if length == 14 or length == 17 or length == 10:
            lower = name.lower()
            if lower == b"content-length":
                self._length = int(value)  # llhttp checked: digits only, once
            elif lower == b"transfer-encoding":
                if self._chunked or value.strip().lower() != b"chunked":
                    raise _violation(
                        f"Transfer-Encoding {value[:40]!r}: only a single 'chunked' is accepted"
                    )
                self._chunked = True
                return  # the body handed on is de-chunked
            elif lower == b"connection":
                for token in value.lower().split(b","):
                    token = token.strip()
                    if token == b"close":
                        self._close = True
                    elif token == b"keep-alive":
                        self._keep_alive_token = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._heads_in_feed += 1
        parser = self._parser
        status = parser.get_status_code()
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _violation(f"HTTP/{version} is not HTTP/1.x")
        self._status = status
        if status < 200:
            if status == 101:
                raise _violation("protocol switch (101) not supported")
            self._interim = True  # 1xx: the real answer follows
            return
        self._head_done = True
        if version == "1.0" and not self._keep_alive_token:
            self._close = True
        if not self._expect_body:
            raise _HeadOnly
        if status == 204 or status == 304:
            return
        if self._length > self._max_body:
            raise ResponseTooLargeError(
                f"answer body of {self._length} bytes exceeds max_response_bytes ({self._max_body})"
            )
        if self._close_delimited():
            self._close = True

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            raise ResponseTooLargeError(
                f"answer body exceeded max_response_bytes ({self._max_body} bytes)"
            )
        self._body.append(body)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_message_complete(self) -> None:
        if self._interim:
            return
        self._answer(keep_alive=not self._close)
