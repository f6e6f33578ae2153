"""HTTP/1.1 on the wire, without I/O: a request's bytes, a response's head, and its body's framing.

Shared by the sync and async connection pools of :mod:`aiml_agent._connection_pool`. What a client must get
right (RFC 9112): a response to ``HEAD`` and a ``1xx``/``204``/``304`` status has no body; ``Transfer-Encoding:
chunked`` wins over ``Content-Length``; two different lengths are an error; a body with neither runs until the
server closes the connection (which then cannot be reused); ``Connection: close`` on either side, or an
HTTP/1.0 answer without ``keep-alive``, ends the connection after the response.
"""

from __future__ import annotations

from collections.abc import Iterable

#: A response head longer than this is refused (a server talking something else, or garbage).
MAX_HEAD_BYTES = 64 * 1024
#: A chunk-size line or trailer line longer than this is refused.
MAX_LINE_BYTES = 8 * 1024


#: What a body cut off by the server is reported as (the in-process scripted model says the same).
INCOMPLETE_BODY = "The server closed the connection before the response body was complete"


class ProtocolViolation(Exception):
    """The server's bytes are not a valid HTTP/1.1 response (mapped to ``httpcore2.RemoteProtocolError``)."""


def request_head(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The request line and headers, ending with the blank line."""
    lines = [b"%s %s HTTP/1.1" % (method, target)]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise ValueError(f"Header {name!r} contains a line break")
        lines.append(b"%s: %s" % (name, value))
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def encoded_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked request body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def request_framing(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """(body is chunked, request asks to close the connection afterwards)."""
    chunked = close = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif lowered == b"connection":
            close = b"close" in value.lower()
    return chunked, close


class ResponseHead:
    """A parsed status line and headers, and how the body that follows is framed.

    ``framing`` is ``"none"``, ``"length"`` (``length`` bytes), ``"chunked"`` or ``"close"`` (until EOF).
    """

    __slots__ = ("framing", "headers", "http_version", "keep_alive", "length", "reason", "status")

    def __init__(self, http_version: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.http_version = http_version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.framing = "close"
        self.length = 0
        self.keep_alive = http_version == b"HTTP/1.1"

    @property
    def informational(self) -> bool:
        """A ``1xx`` answer other than ``101``: another head follows."""
        return 100 <= self.status < 200 and self.status != 101

    def frame(self, method: bytes) -> None:
        """Decide the body's framing and whether the connection stays usable, per RFC 9112 section 6.3."""
        lengths: set[bytes] = set()
        chunked = False
        transfer_encoding = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.update(part.strip() for part in value.split(b","))
            elif lowered == b"transfer-encoding":
                transfer_encoding = True
                chunked = value.strip().lower().endswith(b"chunked")
            elif lowered == b"connection":
                tokens = {token.strip() for token in value.lower().split(b",")}
                if b"close" in tokens:
                    self.keep_alive = False
                elif b"keep-alive" in tokens:
                    self.keep_alive = True
        if method == b"HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.framing = "none"
            if self.status == 101:
                self.keep_alive = False
            return
        if transfer_encoding:
            self.framing = "chunked" if chunked else "close"
        elif lengths:
            if len(lengths) != 1:
                raise ProtocolViolation(f"Conflicting Content-Length values: {sorted(lengths)}")
            (text,) = lengths
            if not text.isdigit():
                raise ProtocolViolation(f"Invalid Content-Length: {text!r}")
            self.framing, self.length = "length", int(text)
        if self.framing == "close":
            self.keep_alive = False


def parse_head(data: bytes) -> ResponseHead:
    """Parse a response head (status line and header lines, without the blank line that ends it)."""
    lines = data.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ProtocolViolation(f"Not an HTTP/1.1 status line: {status_line[:100]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):  # an obsolete folded continuation line
            if not headers:
                raise ProtocolViolation("A header continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise ProtocolViolation(f"Invalid header line: {line[:100]!r}")
        headers.append((name, value.strip()))
    return ResponseHead(parts[0], int(parts[1]), parts[2] if len(parts) == 3 else b"", headers)


class BodyDecoder:
    """Takes the bytes after a response head and gives the body's content, whatever its framing.

    ``feed(data)`` returns the content found in ``data`` (possibly empty); once the body is complete, ``done``
    is True and ``leftover`` holds any bytes received past its end (a reused connection must have none).
    """

    __slots__ = ("_buffer", "_remaining", "_state", "done", "framing", "leftover")

    def __init__(self, head: ResponseHead) -> None:
        self.framing = head.framing
        self.done = head.framing == "none" or (head.framing == "length" and head.length == 0)
        self.leftover = b""
        self._remaining = head.length
        self._buffer = b""
        self._state = "size"  # chunked: "size" -> "data" -> "crlf" -> "size" ... -> "trailer"

    def feed(self, data: bytes) -> bytes:
        if self.done:
            self.leftover += data
            return b""
        if self.framing == "length":
            if len(data) < self._remaining:
                self._remaining -= len(data)
                return data
            content, self.leftover = data[: self._remaining], data[self._remaining :]
            self._remaining = 0
            self.done = True
            return content
        if self.framing == "close":
            return data
        return self._feed_chunked(data)

    def end_of_stream(self) -> None:
        """The server closed the connection: fine for a close-delimited body, a cut body otherwise."""
        if self.framing == "close":
            self.done = True
        elif not self.done:
            raise ProtocolViolation(INCOMPLETE_BODY)

    def _feed_chunked(self, data: bytes) -> bytes:
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        out: list[bytes] = []
        position = 0
        size = len(buffer)
        while position < size and not self.done:
            state = self._state
            if state == "data":
                take = min(self._remaining, size - position)
                out.append(buffer[position : position + take])
                position += take
                self._remaining -= take
                if not self._remaining:
                    self._state = "crlf"
                continue
            end = buffer.find(b"\n", position)
            if end < 0:
                if size - position > MAX_LINE_BYTES:
                    raise ProtocolViolation("A chunk-size line is too long")
                self._buffer = buffer[position:]
                break
            line = buffer[position:end].rstrip(b"\r")
            position = end + 1
            if state == "crlf":
                if line:
                    raise ProtocolViolation("Chunk data is not followed by CRLF")
                self._state = "size"
            elif state == "size":
                text = line.split(b";", 1)[0].strip()
                try:
                    self._remaining = int(text, 16)
                except ValueError:
                    raise ProtocolViolation(f"Invalid chunk size: {text[:40]!r}") from None
                self._state = "data" if self._remaining else "trailer"
            elif not line:  # the empty line that ends the trailer
                self.done = True
        if self.done:
            self.leftover = buffer[position:]
        return b"".join(out) if len(out) != 1 else out[0]
