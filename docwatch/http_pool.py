"""An httpx transport that keeps idle keep-alive connections per origin.

httpcore's own pool, for every request, asks every pooled connection whether it has expired
(a socket poll through anyio's attribute lookup): with 16-32 connections that was a third of a
500-source no-change cycle. Here a request takes the most recently used idle connection of its
own origin and checks that one only. The pool does not cap how many connections are open: the
:class:`docwatch.fetch.Fetcher`'s global and per-host semaphores do (at most one connection per
request in flight). The TLS context is made at the first https request, so a cycle over plain
http never loads the CA bundle. With a proxy in the environment the Fetcher uses httpx's own
transports instead (httpx honours the environment's proxies only then).
"""
from __future__ import annotations

import contextlib
import logging
import ssl

import httpcore
import httpx

log = logging.getLogger(__name__)

DEFAULT_PORTS = {b"http": 80, b"https": 443}


HTTPCORE_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError,
                   httpcore.UnsupportedProtocol, httpcore.ConnectionNotAvailable)


@contextlib.contextmanager
def httpx_errors():
    """httpcore errors as the httpx exception of the same name (``ReadTimeout``,
    ``RemoteProtocolError`` …), as httpx's own transport raises them."""
    try:
        yield
    except HTTPCORE_ERRORS as exc:
        mapped = next((c for c in (getattr(httpx, k.__name__, None) for k in type(exc).__mro__)
                       if isinstance(c, type) and issubclass(c, httpx.TransportError)), httpx.TransportError)
        raise mapped(str(exc)) from exc


async def _close(conn: httpcore.AsyncHTTPConnection) -> None:
    try:
        await conn.aclose()
    except Exception as exc:  # a connection that fails to close is gone either way
        log.debug("closing a connection failed: %s", exc)


class _PooledStream(httpx.AsyncByteStream):
    """The response body; closing it hands the connection back (when reusable) or closes it."""

    def __init__(self, pool: "HostPoolTransport", origin: httpcore.Origin, conn, stream):
        self._pool, self._origin, self._conn, self._stream = pool, origin, conn, stream
        self._closed = False

    async def __aiter__(self):
        with httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with httpx_errors():
                await self._stream.aclose()
        except BaseException:
            await _close(self._conn)
            raise
        await self._pool._checkin(self._origin, self._conn)


class HostPoolTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections, idle ones kept per origin (at most ``keepalive`` each)."""

    def __init__(self, *, keepalive: int, keepalive_expiry: float = 5.0):
        self._keepalive = max(keepalive, 1)
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}  # by origin
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            make = getattr(httpx, "create_ssl_context", None)  # httpx's defaults (certifi, SSL_CERT_FILE)
            self._ssl = make() if make is not None else ssl.create_default_context()
        return self._ssl

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        """The newest idle connection to ``origin`` that is still usable, else a new one."""
        idle = self._idle.get((origin.scheme, origin.host, origin.port))
        while idle:
            conn = idle.pop()
            if conn.is_available() and not conn.has_expired():
                return conn
            await _close(conn)
        return httpcore.AsyncHTTPConnection(origin=origin, keepalive_expiry=self._expiry,
                                            ssl_context=self._ssl_context() if origin.scheme == b"https" else None)

    async def _checkin(self, origin: httpcore.Origin, conn: httpcore.AsyncHTTPConnection) -> None:
        idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), [])
        if self._closed or not conn.is_idle() or len(idle) >= self._keepalive:
            await _close(conn)
        else:
            idle.append(conn)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or DEFAULT_PORTS.get(url.raw_scheme, 80))
        req = httpcore.Request(method=request.method,
                               url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                                target=url.raw_path),
                               headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        conn = await self._checkout(origin)
        try:
            with httpx_errors():
                resp = await conn.handle_async_request(req)
        except BaseException:  # cancelled mid-request too: the connection's state is unknown
            await _close(conn)
            raise
        return httpx.Response(status_code=resp.status, headers=resp.headers,
                              stream=_PooledStream(self, origin, conn, resp.stream), extensions=resp.extensions)

    async def aclose(self) -> None:
        self._closed = True
        pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                await _close(conn)
