"""An httpx transport with its own HTTP/1.1 keep-alive connections, idle ones kept per origin.

httpcore's pool, for every request, asked every pooled connection whether it had expired, and
its connection (h11 over anyio) cost a no-change cycle 1.7 ms of CPU per 304 on the event loop,
where the fetches wait in turn: with 500 sources that was a quarter of the cycle. Here a request
takes the most recently used idle connection of its own origin, and a connection is a plain
asyncio stream that writes one GET and reads the response head with one ``readuntil``. The pool
does not cap how many connections are open: the :class:`docwatch.fetch.Fetcher`'s global and
per-host semaphores do (at most one connection per request in flight). The TLS context is made
at the first https request, so a cycle over plain http never loads the CA bundle. With a proxy in
the environment the Fetcher uses httpx's own transports instead (httpx honours the environment's
proxies only then).

Errors are httpx's (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError`` …), as its own
transport raises them. Framing follows RFC 9112 §6: no body for 1xx/204/304 (and HEAD),
``Transfer-Encoding: chunked``, ``Content-Length``, else until the server closes (then the
connection is not reused). A response head over :data:`MAX_HEAD` bytes is a protocol error.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time

from docwatch import httpx_without_its_cli

httpx_without_its_cli()
import httpx  # noqa: E402 - after the stand-in for its CLI

log = logging.getLogger(__name__)

DEFAULT_PORTS = {b"http": 80, b"https": 443}
MAX_HEAD = 65536  # bytes of status line + headers
READ_STEP = 65536  # most body bytes handed on at once
NO_BODY = {204, 304}


def _timeout(timeouts: dict, key: str) -> float | None:
    value = timeouts.get(key)
    return None if value is None else float(value)


class _Connection:
    """One HTTP/1.1 connection to one origin; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expiry: float):
        self.reader, self.writer = reader, writer
        self._expiry = expiry
        self.idle_since = time.monotonic()
        self.reusable = False  # set once a response was read to its end and keep-alive holds
        self._keep = False  # this response allows the connection to be kept (HTTP/1.1, no close, framed body)
        self.requests = 0

    @classmethod
    async def open(cls, scheme: bytes, host: bytes, port: int, ctx: ssl.SSLContext | None,
                   timeouts: dict, expiry: float) -> "_Connection":
        name = host.decode("ascii")
        try:
            async with asyncio.timeout(_timeout(timeouts, "connect")):
                reader, writer = await asyncio.open_connection(
                    name, port, ssl=ctx, server_hostname=name if ctx is not None else None, limit=MAX_HEAD)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {name}:{port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return cls(reader, writer, expiry)

    def usable(self) -> bool:
        """Idle, open, not expired and with nothing unread (a server's FIN or stray bytes)."""
        if not self.reusable or self.writer.is_closing() or self.reader.at_eof():
            return False
        if time.monotonic() - self.idle_since > self._expiry:
            return False
        return not self.reader._buffer  # noqa: SLF001 - bytes nobody asked for: the stream is out of step

    def close(self) -> None:
        self.reusable = False
        try:
            self.writer.close()
        except Exception as exc:  # a connection that fails to close is gone either way
            log.debug("closing a connection failed: %s", exc)

    async def send(self, request: httpx.Request, timeouts: dict) -> tuple[int, bytes, bytes, list, str, int | None]:
        """Write ``request``, read the response head: (status, version, reason, headers, framing, length)."""
        self.reusable = False
        self.requests += 1
        url = request.url
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
        lines += [b"%s: %s" % (k, v) for k, v in request.headers.raw]
        body = b"".join([part async for part in request.stream]) if request.method != "GET" else b""
        try:
            async with asyncio.timeout(_timeout(timeouts, "write")):
                self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                await self.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out writing the request") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from None
        while True:
            status, version, reason, headers = await self._head(_timeout(timeouts, "read"))
            if 100 <= status < 200 and status != 101:  # interim (100 Continue, 103 Early Hints): the real one follows
                continue
            break
        framing, length = _framing(request.method, status, headers)
        close = version != b"HTTP/1.1" or any(k.lower() == b"connection" and b"close" in v.lower() for k, v in headers)
        self._keep = not close and framing != "eof"
        return status, version, reason, headers, framing, length

    async def _head(self, read_timeout: float | None) -> tuple[int, bytes, bytes, list]:
        try:
            async with asyncio.timeout(read_timeout):
                raw = await self.reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None
            raise httpx.RemoteProtocolError("peer closed connection in the middle of the response head") from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError(f"response head larger than {MAX_HEAD} bytes") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        first, *rest = raw[:-4].split(b"\r\n")
        parts = first.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
            raise httpx.RemoteProtocolError(f"malformed status line {first[:80]!r}")
        headers = []
        for line in rest:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
            headers.append((name, value.strip(b" \t")))
        return int(parts[1]), parts[0], parts[2] if len(parts) > 2 else b"", headers

    async def body(self, framing: str, length: int | None, timeouts: dict):
        """The response body in pieces; at its end the connection is reusable if keep-alive holds."""
        read_timeout = _timeout(timeouts, "read")
        try:
            if framing == "length":
                left = length or 0
                while left:
                    async with asyncio.timeout(read_timeout):
                        data = await self.reader.read(min(left, READ_STEP))
                    if not data:
                        raise httpx.RemoteProtocolError(
                            f"peer closed connection without sending complete message body: received "
                            f"{length - left} bytes, expected {length}")
                    left -= len(data)
                    yield data
            elif framing == "chunked":
                async for data in self._chunks(read_timeout):
                    yield data
            elif framing == "eof":
                while True:
                    async with asyncio.timeout(read_timeout):
                        data = await self.reader.read(READ_STEP)
                    if not data:
                        break
                    yield data
        except TimeoutError:
            raise httpx.ReadTimeout("timed out reading the response body") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None
        self.reusable = self._keep
        self.idle_since = time.monotonic()

    async def _chunks(self, read_timeout: float | None):
        reader = self.reader
        try:
            while True:
                async with asyncio.timeout(read_timeout):
                    line = await reader.readuntil(b"\r\n")
                size_text = line[:-2].split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise httpx.RemoteProtocolError(f"malformed chunk size {size_text[:40]!r}") from None
                if size < 0:
                    raise httpx.RemoteProtocolError("negative chunk size")
                if size == 0:
                    while True:  # trailer fields, then the empty line
                        async with asyncio.timeout(read_timeout):
                            trailer = await reader.readuntil(b"\r\n")
                        if trailer == b"\r\n":
                            return
                while size:
                    async with asyncio.timeout(read_timeout):
                        data = await reader.read(min(size, READ_STEP))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", size)
                    size -= len(data)
                    yield data
                async with asyncio.timeout(read_timeout):
                    end = await reader.readexactly(2)
                if end != b"\r\n":
                    raise httpx.RemoteProtocolError("chunk not followed by CRLF")
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body "
                                            "(incomplete chunked read)") from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("chunk size line too long") from None


def _framing(method: str, status: int, headers: list) -> tuple[str, int | None]:
    """How the body is delimited: ``none``, ``chunked``, ``length`` (with the length) or ``eof``."""
    if method == "HEAD" or status in NO_BODY or 100 <= status < 200:
        return "none", None
    encodings = [v for k, v in headers if k.lower() == b"transfer-encoding"]
    if encodings:
        last = b",".join(encodings).split(b",")[-1].strip().lower()
        if last != b"chunked":  # an unknown coding: read to the end, never reuse
            return "eof", None
        return "chunked", None
    lengths = {v.strip() for k, v in headers if k.lower() == b"content-length"}
    if lengths:
        values = {x.strip() for v in lengths for x in v.split(b",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise httpx.RemoteProtocolError(f"bad Content-Length {sorted(lengths)!r}")
        return "length", int(next(iter(values)))
    return "eof", None


class _PooledStream(httpx.AsyncByteStream):
    """The response body; closing it hands the connection back (when reusable) or closes it."""

    def __init__(self, pool: "HostPoolTransport", key: tuple, conn: _Connection, framing: str, length: int | None,
                 timeouts: dict):
        self._pool, self._key, self._conn = pool, key, conn
        self._framing, self._length, self._timeouts = framing, length, timeouts
        self._closed = False

    async def __aiter__(self):
        async for part in self._conn.body(self._framing, self._length, self._timeouts):
            yield part

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._framing == "none":  # nothing to read: the head was the whole response
            self._conn.reusable, self._conn.idle_since = self._conn._keep, time.monotonic()  # noqa: SLF001
        self._pool._checkin(self._key, self._conn)  # noqa: SLF001 - an unread body leaves it unusable: closed


class HostPoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections, idle ones kept per origin (at most ``keepalive`` each)."""

    def __init__(self, *, keepalive: int, keepalive_expiry: float = 5.0):
        self._keepalive = max(keepalive, 1)
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], list[_Connection]] = {}  # by origin
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            make = getattr(httpx, "create_ssl_context", None)  # httpx's defaults (certifi, SSL_CERT_FILE)
            self._ssl = make() if make is not None else ssl.create_default_context()
        return self._ssl

    def _checkout(self, key: tuple) -> _Connection | None:
        """The newest idle connection to ``key``'s origin that is still usable, else None."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _checkin(self, key: tuple, conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or not conn.usable() or len(idle) >= self._keepalive:
            conn.close()
        else:
            idle.append(conn)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        key = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
        timeouts = request.extensions.get("timeout") or {}
        conn = self._checkout(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = await _Connection.open(scheme, key[1], key[2],
                                              self._ssl_context() if scheme == b"https" else None, timeouts, self._expiry)
            try:
                status, version, reason, headers, framing, length = await conn.send(request, timeouts)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                conn.close()
                # a kept-alive connection the server closed as this GET went out: the request never
                # reached it, so it goes once more on a new connection (httpcore does the same)
                if reused and request.method == "GET" and (
                        "without sending a response" in str(exc) or isinstance(exc, (httpx.WriteError, httpx.ReadError))):
                    conn, reused = None, False
                    continue
                raise
            except BaseException:  # cancelled mid-request too: the connection's state is unknown
                conn.close()
                raise
        stream = _PooledStream(self, key, conn, framing, length, timeouts)
        return httpx.Response(status_code=status, headers=headers, stream=stream,
                              extensions={"http_version": version, "reason_phrase": reason})

    async def aclose(self) -> None:
        self._closed = True
        pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()
