"""Polite, defensive HTTP fetching (httpx, async).

Every request goes through :meth:`Fetcher.fetch`: only http/https to allowed hosts (each
redirect hop is followed by hand and checked again, so a redirect cannot reach another
host or port: no SSRF), conditional GET (ETag / Last-Modified → 304), retries with exponential
backoff + jitter on timeouts, connection resets, truncated bodies, 5xx and 429 (Retry-After
honoured, capped), a streamed size cap that also bounds gzip/deflate decoding, a total
deadline per fetch (``fetch.total_timeout``: a trickling server cannot hold a cycle), and a
content-type check. :meth:`Fetcher.cancel` (or :func:`cancel_all`, thread-safe) ends
in-flight fetches at once for shutdown. A failure is a
:class:`FetchResult` with ``status="failed"`` and a short reason, never an exception:
the cycle records it and infers nothing from it.

Also here: discovery of a Learn page's source markdown (``original_content_git_url`` meta)
and its doc commit, ``[!INCLUDE]`` reference scanning, and the "does this body look like
an error page" check.
"""
from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import posixpath
import random
import re
import threading
import time
import urllib.request
import weakref
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from docwatch import httpx_without_its_cli

httpx_without_its_cli()
import httpx  # noqa: E402 - after the stand-in for its CLI

from docwatch.config import FetchConfig, host_allowed, url_port
from docwatch.documents import decode_text
from docwatch.http_pool import HostPoolTransport

log = logging.getLogger(__name__)

REDIRECTS = {301, 302, 303, 307, 308}
TEXT_TYPES = ("text/", "application/xhtml+xml", "application/xml", "application/markdown")
DECODE_STEP = 65536  # most decoded bytes produced from one step of a compressed body
REQUEST_HEADERS = {"Accept": "text/html, text/markdown, text/plain;q=0.9, */*;q=0.1",
                   "Accept-Encoding": "gzip, deflate"}  # the encodings decoded under the size cap


@dataclass
class FetchResult:
    url: str
    status: str  # "ok" | "not-modified" | "failed"
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    attempts: int = 0
    duration_ms: int = 0

    @property
    def nbytes(self) -> int:
        return len(self.body) if self.body is not None else 0

    @property
    def charset(self) -> str | None:
        return charset_of(self.content_type)


def charset_of(content_type: str | None) -> str | None:
    m = re.search(r"charset=\"?([\w.:-]+)", content_type or "", re.I)
    return m.group(1) if m else None


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, http_status: int | None = None):
        super().__init__(reason)
        self.reason, self.retry_after, self.http_status = reason, retry_after, http_status


class _Fail(Exception):
    def __init__(self, reason: str, http_status: int | None = None):
        super().__init__(reason)
        self.reason, self.http_status = reason, http_status


def url_refusal(url: str, allowed: list[str]) -> str | None:
    """Why ``url`` must not be fetched, or None. Literal private/loopback IPs need to be
    listed in ``allowed`` explicitly (a ``*.`` pattern never admits them)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"malformed URL {url!r}"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} not allowed (only http/https)"
    host = (parts.hostname or "").lower()
    if not host:
        return "URL has no host"
    try:
        port = url_port(parts)
    except ValueError:
        return "malformed URL (bad port)"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if host_allowed(host, allowed, port, parts.scheme):
        return None
    entry = f"[{host}]" if ip is not None and ip.version == 6 else host
    entry += f":{port}" if port != url_port(urlsplit(f"{parts.scheme}://x")) else ""
    if ip is not None:
        return f"IP address {host} port {port} not allowed (list {entry!r} in fetch.allowed_hosts)"
    return f"host {host!r} port {port} not in fetch.allowed_hosts (list {entry!r} to allow it)"


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing: a watcher needs no session, and httpx builds urllib request and
    response wrappers for every response just to look for Set-Cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _CookielessClient(httpx.AsyncClient):
    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value) -> None:  # httpx's __init__ sets an empty jar; nothing to keep
        pass


_NO_COOKIES = _NoCookies()
_LIVE: "weakref.WeakSet[Fetcher]" = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def cancel_all(reason: str = "shutting down") -> int:
    """Cancel the in-flight fetches of every live :class:`Fetcher` in this process (any
    thread; used by the daemon on SIGTERM). Returns how many fetchers were told."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for f in live:
        f.cancel(reason)
    return len(live)


class Fetcher:
    """One shared AsyncClient (keep-alive connections kept per host, :mod:`docwatch.http_pool`),
    a global and a per-host concurrency limit.

    ``deadline`` (a ``time.monotonic()`` instant, e.g. the end of a cycle) caps every fetch
    on top of ``cfg.total_timeout``; :meth:`set_deadline` moves it later."""

    def __init__(self, cfg: FetchConfig, *, deadline: float | None = None):
        self.cfg = cfg
        self.deadline = deadline
        # A proxy in the environment: httpx's own transports, which honour it (httpx ignores the
        # environment's proxies once it is given a transport). Else the per-host pool, sent to
        # directly (see _send).
        keep = min(max(cfg.per_host, 1), max(cfg.concurrency, 1))
        self.transport = None if urllib.request.getproxies() else HostPoolTransport(keepalive=keep)
        connections = {"transport": self.transport} if self.transport else {
            "limits": httpx.Limits(max_connections=max(cfg.concurrency, 1) * 2, max_keepalive_connections=keep)}
        self.client = _CookielessClient(
            timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout, pool=None), follow_redirects=False,
            headers={"User-Agent": cfg.user_agent, **REQUEST_HEADERS}, **connections)
        self._headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.client.headers.raw}  # as sent
        self._timeouts = self.client.timeout.as_dict()
        self._global = asyncio.Semaphore(cfg.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._refusals: dict[str, str | None] = {}
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cancelled: str | None = None  # the reason once cancel() was called
        with _LIVE_LOCK:
            _LIVE.add(self)

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        await self.client.aclose()

    def set_deadline(self, deadline: float | None) -> None:
        """Absolute ``time.monotonic()`` instant after which no fetch may still run."""
        self.deadline = deadline

    def cancel(self, reason: str = "cancelled") -> None:
        """End every in-flight fetch now (each returns a failed result saying ``reason``)
        and refuse new ones. Safe to call from any thread or a signal-free main loop."""
        self.cancelled = reason
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def _cancel() -> None:
            for task in list(self._tasks):
                task.cancel()
        try:
            if _running_loop() is loop:
                _cancel()
            else:
                loop.call_soon_threadsafe(_cancel)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def refusal(self, url: str) -> str | None:
        """:func:`url_refusal` against ``fetch.allowed_hosts``, worked out once per URL (a cycle
        asks for each of its hundreds of URLs at least twice)."""
        if url not in self._refusals:
            self._refusals[url] = url_refusal(url, self.cfg.allowed_hosts)
        return self._refusals[url]

    def _host_sem(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.cfg.per_host)
        return self._hosts[host]

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a (capped) Retry-After is a floor."""
        base = min(self.cfg.backoff_max, self.cfg.backoff * (2 ** attempt))
        delay = base * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cfg.retry_after_max))
        return delay

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET ``url`` with retries; never raises for network or HTTP trouble.

        The whole fetch (every attempt, backoff and redirect) ends by ``total_timeout``
        after its first request went out (waiting for a concurrency slot does not count),
        and by the fetcher's ``deadline`` in any case: ``read_timeout`` alone is per read,
        so a trickling body could otherwise run for hours."""
        started = time.monotonic()
        result = FetchResult(url=url, status="failed")
        task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.cancelled:
            result.error = f"not fetched: {self.cancelled}"
            return result
        self._tasks.add(task)
        window = asyncio.timeout(self._until(None))
        armed = False

        def arm() -> None:
            """Start the total_timeout clock when the first request goes out."""
            nonlocal armed
            if not armed:
                armed = True
                window.reschedule(self._until(asyncio.get_running_loop().time()))
        try:
            async with window:
                await self._attempts(url, etag, last_modified, result, arm)
        except TimeoutError:
            result.status = "failed"
            result.error = self._deadline_reason(started)
        except asyncio.CancelledError:
            if not self.cancelled:
                raise
            task.uncancel()
            result.status, result.error = "failed", f"cancelled: {self.cancelled}"
        finally:
            self._tasks.discard(task)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        if result.status == "failed":
            result.body = None
            log.warning("fetch failed: %s: %s", url, result.error)
        return result

    def _until(self, first_request: float | None) -> float | None:
        """The loop time this fetch must end by (None: no limit yet)."""
        loop = asyncio.get_running_loop()
        ends = []
        if first_request is not None:
            ends.append(first_request + self.cfg.total_timeout)
        if self.deadline is not None:
            ends.append(loop.time() + (self.deadline - time.monotonic()))
        return min(ends) if ends else None

    def _deadline_reason(self, started: float) -> str:
        if self.deadline is not None and time.monotonic() >= self.deadline - 0.05:
            return f"cycle deadline reached after {time.monotonic() - started:.1f}s"
        return f"deadline: no complete response within fetch.total_timeout {self.cfg.total_timeout:g}s"

    async def _attempts(self, url: str, etag: str | None, last_modified: str | None, result: FetchResult,
                        arm) -> None:
        attempts = self.cfg.retries + 1
        for attempt in range(attempts):
            result.attempts = attempt + 1
            try:
                await self._attempt(url, etag, last_modified, result, arm)
                return
            except _Fail as exc:
                result.status, result.error, result.http_status = "failed", exc.reason, exc.http_status
                return
            except _Retry as exc:
                result.status, result.error, result.http_status = "failed", exc.reason, exc.http_status
                if attempt + 1 < attempts:
                    delay = self.backoff_delay(attempt, exc.retry_after)
                    log.info("retrying %s in %.2fs after %s (attempt %d/%d)", url, delay, exc.reason, attempt + 1, attempts)
                    await asyncio.sleep(delay)
                elif attempts > 1:
                    result.error = f"{exc.reason} (after {attempts} attempts)"

    async def _attempt(self, url: str, etag: str | None, last_modified: str | None, result: FetchResult,
                       arm=None) -> None:
        current, seen = url, {url}
        for _hop in range(self.cfg.max_redirects + 1):
            refusal = self.refusal(current)
            if refusal:
                raise _Fail(f"refused: {refusal}" + (f" (redirected to {current})" if current != url else ""))
            headers = {}  # the client sends REQUEST_HEADERS; the first hop is conditional
            if current == url:
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            host = urlsplit(current).hostname or ""
            async with self._host_sem(host), self._global:
                if arm is not None:
                    arm()
                nxt = await self._request(current, headers, result)
            if nxt is None:
                return
            if nxt in seen:
                raise _Fail(f"redirect loop at {nxt}")
            seen.add(nxt)
            current = nxt
        raise _Fail(f"too many redirects (more than {self.cfg.max_redirects})")

    async def _request(self, url: str, headers: dict, result: FetchResult) -> str | None:
        """One request; returns the next URL for a redirect, None when done."""
        response = await self._send(url, headers)
        try:
            return await self._handle(url, response, result)
        finally:
            await response.aclose()

    async def _send(self, url: str, headers: dict) -> httpx.Response:
        """The response head (its body not read yet); network trouble as :class:`_Retry`/:class:`_Fail`.

        Without a proxy or event hooks the request goes straight to the pool: the client's
        layers (auth, redirects, cookies, request merging) do nothing for a fetch here and cost
        a fifth of its time; otherwise httpx's own path (proxy transports, hooks) is taken."""
        try:
            if self.transport is not None and not any(self.client.event_hooks.values()):
                request = httpx.Request("GET", url, headers={**self._headers, **headers},
                                        extensions={"timeout": self._timeouts})
                return await self.transport.handle_async_request(request)
            return await self.client.send(self.client.build_request("GET", url, headers=headers), stream=True)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retry(f"connection error ({type(exc).__name__}: {exc})") from None
        except httpx.HTTPError as exc:
            raise _Fail(f"request error ({type(exc).__name__}: {exc})") from None

    async def _handle(self, url: str, response: httpx.Response, result: FetchResult) -> str | None:
        """Act on the status: a 200 body into ``result``, a redirect's target, a 304, or a failure."""
        status = response.status_code
        if status == 200:
            self._check_head(response)
            body = await self._read_capped(response)
            _check_complete(body, response)
            result.status, result.http_status, result.body = "ok", status, body
            result.content_type = response.headers.get("content-type") or None
            result.etag = response.headers.get("etag")
            result.last_modified = response.headers.get("last-modified")
            return None
        await _drain(response)  # an unread body would cost the keep-alive connection
        if status in REDIRECTS:
            return _redirect_target(url, response)
        if status == 304:
            result.status, result.http_status = "not-modified", 304
            result.etag = response.headers.get("etag") or result.etag
            result.last_modified = response.headers.get("last-modified") or result.last_modified
            return None
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")), status)
        raise _Fail(f"HTTP {status}", status)

    def _check_head(self, response: httpx.Response) -> None:
        """Refuse a 200 before reading it: not text, or a declared length over ``max_bytes``."""
        ctype = response.headers.get("content-type", "")
        if ctype and not ctype.lower().startswith(TEXT_TYPES):
            raise _Fail(f"non-text content type {ctype.split(';')[0]!r}", 200)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.cfg.max_bytes:
            raise _Fail(f"oversized: Content-Length {declared} > max_bytes {self.cfg.max_bytes}", 200)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The decoded body, stopped at ``max_bytes`` (a zip bomb too); read trouble is retried."""
        chunks, total = [], 0
        encoding = _content_encoding(response)
        try:
            async for chunk in _decoded(response, encoding):
                total += len(chunk)
                if total > self.cfg.max_bytes:
                    raise _Fail(f"oversized: body exceeds max_bytes {self.cfg.max_bytes}"
                                + (f" once decoded ({encoding})" if encoding not in ("identity", "") else ""), 200)
                chunks.append(chunk)
        except zlib.error as exc:
            raise _Fail(f"corrupt {encoding} body ({exc})", 200) from None
        except httpx.TimeoutException:
            raise _Retry("timeout while reading the body", None, 200) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retry(f"truncated body ({type(exc).__name__}: {exc})", None, 200) from None
        return b"".join(chunks)


def _content_encoding(response: httpx.Response) -> str:
    return response.headers.get("content-encoding", "identity").lower().strip()


def _check_complete(body: bytes, response: httpx.Response) -> None:
    """A body shorter than its Content-Length (h11 catches most; this a lying identity response
    too) is retried; an empty 200 fails."""
    declared = response.headers.get("content-length")
    identity = _content_encoding(response) in ("identity", "")
    if identity and declared and declared.isdigit() and len(body) < int(declared):
        raise _Retry(f"truncated body ({len(body)} of {declared} bytes)", None, 200)
    if not body.strip():
        raise _Fail("empty body (HTTP 200 with no content)", 200)


def _redirect_target(url: str, response: httpx.Response) -> str:
    location = response.headers.get("location")
    if not location:
        raise _Fail(f"HTTP {response.status_code} redirect without Location", response.status_code)
    return urljoin(url, location)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _decoded(response: httpx.Response, encoding: str):
    """The decoded body in pieces of at most :data:`DECODE_STEP` bytes.

    httpx decodes a whole network chunk at once (a 64 KB gzip chunk can be 64 MB of
    zeros); here zlib is asked for a bounded amount at a time, so the caller's size cap
    stops a bomb after ``max_bytes`` plus one step. Encodings other than gzip/deflate
    (not asked for) fall back to httpx's decoder."""
    if encoding in ("identity", ""):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    d, first = zlib.decompressobj(wbits), True
    async for raw in response.aiter_raw():
        data = raw
        while data:
            try:
                out = d.decompress(data, DECODE_STEP)
            except zlib.error:
                if not (first and encoding == "deflate"):
                    raise
                d, wbits = zlib.decompressobj(-zlib.MAX_WBITS), -zlib.MAX_WBITS  # raw deflate stream
                out = d.decompress(data, DECODE_STEP)
            first = False
            if out:
                yield out
            if d.eof and d.unused_data:  # a multi-member gzip: the next member follows
                data, d = d.unused_data, zlib.decompressobj(wbits)
            else:
                data = d.unconsumed_tail
    tail = d.flush()
    if tail:
        yield tail


async def _drain(response: httpx.Response, limit: int = 65536) -> None:
    """Read a small non-200 body so the connection can be reused; big ones just close it."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) <= limit:
        try:
            await response.aread()
        except httpx.HTTPError:
            pass


# -- content checks ------------------------------------------------------------------------

_TITLE_RX = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_ERROR_TITLES = re.compile(
    r"sign in|sign-in|log in|login|access denied|unauthori[sz]ed|forbidden|page not found|"
    r"\b404\b|\b500\b|service unavailable|error|too many requests|just a moment", re.I)
_LOGIN_FORM = re.compile(r"<form[^>]+action=[\"']?https?://login\.(microsoftonline|live|windows)\.", re.I)
_SIGN_IN_TITLE = re.compile(r"sign.?in|log.?in", re.I)


def looks_like_error_page(text: str, expected: str) -> str | None:
    """A reason when a 200 body is really a sign-in/error page or the wrong kind of document.

    Genuine Learn pages carry a "requires authorization ... signing in" banner, so only the
    ``<title>`` and a login form count, never body text.
    """
    head = text[:20000]
    if _LOGIN_FORM.search(head):
        return "sign-in page (login form) instead of the document"
    m = _TITLE_RX.search(head)
    is_html = bool(m) or re.search(r"<!doctype html|<html[\s>]", head[:2000], re.I) is not None
    if m:
        title = re.sub(r"\s+", " ", m.group(1)).strip()
        if _SIGN_IN_TITLE.search(title):
            return f"sign-in page instead of the document (title {title!r})"
        if _ERROR_TITLES.search(title):
            return f"error page instead of the document (title {title!r})"
    if expected == "markdown" and is_html:
        return "got an HTML page where raw markdown was expected"
    return None


def decode_body(body: bytes, charset: str | None):
    """Text of a body: the declared charset when valid, else UTF-8 (bad bytes replaced,
    with a decode-error diagnostic)."""
    if charset and charset.lower().replace("-", "") not in ("utf8",):
        try:
            return body.decode(charset), []
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(body)


# -- discovery -----------------------------------------------------------------------------

_META_RX = re.compile(r"<meta\s+[^>]*>", re.I)
_ATTR_RX = re.compile(r"(name|property|content)\s*=\s*(\"[^\"]*\"|'[^']*')", re.I)
_BLOB_RX = re.compile(r"^https://github\.com/([^/]+)/([^/]+)/blob/([^/]+)/(.+)$")


def page_meta(html: str) -> dict[str, str]:
    """``<meta name=… content=…>`` pairs of a page head (cheap; no full parse)."""
    out: dict[str, str] = {}
    for tag in _META_RX.findall(html[:200000]):
        attrs = {k.lower(): v[1:-1] for k, v in _ATTR_RX.findall(tag)}
        name = attrs.get("name") or attrs.get("property")
        if name and "content" in attrs and name not in out:
            out[name] = attrs["content"]
    return out


def markdown_candidates(git_url: str | None) -> list[str]:
    """Raw URLs for a ``github.com/<org>/<repo>/blob/<branch>/<path>`` source URL.

    Learn names private ``-pr`` repositories; the public repository (branch ``main``) is
    tried after the literal mapping."""
    if not git_url:
        return []
    m = _BLOB_RX.match(git_url.strip())
    if not m:
        return []
    org, repo, branch, path = m.groups()
    out = [f"https://raw.githubusercontent.com/{org}/{repo}/{branch}/{path}"]
    if repo.endswith("-pr"):
        out.append(f"https://raw.githubusercontent.com/{org}/{repo[:-3]}/main/{path}")
    return out


def doc_commit(meta: dict[str, str]) -> str | None:
    if meta.get("git_commit_id"):
        return meta["git_commit_id"]
    m = re.search(r"/blob/([0-9a-f]{7,40})/", meta.get("gitcommit", ""))
    return m.group(1) if m else None


_INCLUDE_RX = re.compile(r"\[!INCLUDE\s*\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)\s*\]", re.I)


def include_refs(text: str) -> list[str]:
    """Relative paths of the ``[!INCLUDE [title](path)]`` references in ``text``, in order."""
    seen: list[str] = []
    for m in _INCLUDE_RX.finditer(text):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def resolve_include(including_path: str, rel: str) -> str:
    """Same rule as the markdown parser: relative to the including file's directory."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(including_path), rel))


def url_path(url: str) -> str:
    return urlsplit(url).path


def with_path(url: str, path: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, path, "", ""))
