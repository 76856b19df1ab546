"""Polite, defensive HTTP fetching (httpx, async).

Every request goes through :meth:`Fetcher.fetch`: only http/https to allowed hosts (each
redirect hop is followed by hand and checked again, so a redirect cannot reach another
host: no SSRF), conditional GET (ETag / Last-Modified → 304), retries with exponential
backoff + jitter on timeouts, connection resets, truncated bodies, 5xx and 429 (Retry-After
honoured, capped), a streamed size cap, and a content-type check. A failure is a
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
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from docwatch.config import FetchConfig, host_allowed
from docwatch.documents import decode_text

log = logging.getLogger(__name__)

REDIRECTS = {301, 302, 303, 307, 308}
TEXT_TYPES = ("text/", "application/xhtml+xml", "application/xml", "application/markdown")


@dataclass
class FetchResult:
    url: str
    status: str  # "ok" | "not-modified" | "failed"
    final_url: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    attempts: int = 0
    duration_ms: int = 0
    retry_reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "not-modified")

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
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if host in [a.lower().strip("[]") for a in allowed]:
            return None
        return f"IP address {host} not allowed (list it in fetch.allowed_hosts)"
    if not host_allowed(host, allowed):
        return f"host {host!r} not in fetch.allowed_hosts"
    return None


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


class Fetcher:
    """One shared AsyncClient, a global and a per-host concurrency limit."""

    def __init__(self, cfg: FetchConfig, client: httpx.AsyncClient | None = None):
        self.cfg = cfg
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout, pool=None),
            limits=httpx.Limits(max_connections=max(cfg.concurrency, 1) * 2,
                                max_keepalive_connections=max(cfg.concurrency, 1)),
            follow_redirects=False,
            headers={"User-Agent": cfg.user_agent},
        )
        self._global = asyncio.Semaphore(cfg.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

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
        """GET ``url`` with retries; never raises for network or HTTP trouble."""
        started = time.monotonic()
        result = FetchResult(url=url, status="failed")
        attempts = self.cfg.retries + 1
        for attempt in range(attempts):
            result.attempts = attempt + 1
            try:
                await self._attempt(url, etag, last_modified, result)
                break
            except _Fail as exc:
                result.status, result.error, result.http_status = "failed", exc.reason, exc.http_status
                break
            except _Retry as exc:
                result.status, result.error, result.http_status = "failed", exc.reason, exc.http_status
                result.retry_reasons.append(exc.reason)
                if attempt + 1 < attempts:
                    delay = self.backoff_delay(attempt, exc.retry_after)
                    log.info("retrying %s in %.2fs after %s (attempt %d/%d)", url, delay, exc.reason, attempt + 1, attempts)
                    await asyncio.sleep(delay)
                elif attempts > 1:
                    result.error = f"{exc.reason} (after {attempts} attempts)"
        result.duration_ms = int((time.monotonic() - started) * 1000)
        if result.status == "failed":
            result.body = None
            log.warning("fetch failed: %s: %s", url, result.error)
        return result

    async def _attempt(self, url: str, etag: str | None, last_modified: str | None, result: FetchResult) -> None:
        current, seen = url, {url}
        for _hop in range(self.cfg.max_redirects + 1):
            refusal = url_refusal(current, self.cfg.allowed_hosts)
            if refusal:
                raise _Fail(f"refused: {refusal}" + (f" (redirected to {current})" if current != url else ""))
            headers = {"Accept": "text/html, text/markdown, text/plain;q=0.9, */*;q=0.1"}
            if current == url:
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            host = urlsplit(current).hostname or ""
            async with self._host_sem(host), self._global:
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
        try:
            request = self.client.build_request("GET", url, headers=headers)
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retry(f"connection error ({type(exc).__name__}: {exc})") from None
        except httpx.HTTPError as exc:
            raise _Fail(f"request error ({type(exc).__name__}: {exc})") from None
        try:
            status = response.status_code
            if status != 200:
                await _drain(response)  # an unread body would cost the keep-alive connection
            if status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise _Fail(f"HTTP {status} redirect without Location", status)
                return urljoin(url, location)
            if status == 304:
                result.status, result.http_status, result.final_url = "not-modified", 304, url
                result.etag = response.headers.get("etag") or result.etag
                result.last_modified = response.headers.get("last-modified") or result.last_modified
                return None
            if status == 429 or status >= 500:
                raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")), status)
            if status != 200:
                raise _Fail(f"HTTP {status}", status)
            ctype = response.headers.get("content-type", "")
            if ctype and not ctype.lower().startswith(TEXT_TYPES):
                raise _Fail(f"non-text content type {ctype.split(';')[0]!r}", status)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.cfg.max_bytes:
                raise _Fail(f"oversized: Content-Length {declared} > max_bytes {self.cfg.max_bytes}", status)
            chunks, total = [], 0
            try:
                async for chunk in response.aiter_bytes():  # decoded: the cap also stops zip bombs
                    total += len(chunk)
                    if total > self.cfg.max_bytes:
                        raise _Fail(f"oversized: body exceeds max_bytes {self.cfg.max_bytes}", status)
                    chunks.append(chunk)
            except httpx.TimeoutException:
                raise _Retry("timeout while reading the body", None, status) from None
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                raise _Retry(f"truncated body ({type(exc).__name__}: {exc})", None, status) from None
            body = b"".join(chunks)
            # h11 already raises on a short body; this catches a lying identity response too
            identity = response.headers.get("content-encoding", "identity").lower() in ("identity", "")
            if identity and declared and declared.isdigit() and len(body) < int(declared):
                raise _Retry(f"truncated body ({len(body)} of {declared} bytes)", None, status)
            if not body.strip():
                raise _Fail("empty body (HTTP 200 with no content)", status)
            result.status, result.http_status, result.final_url = "ok", status, url
            result.body, result.content_type = body, ctype or None
            result.etag = response.headers.get("etag")
            result.last_modified = response.headers.get("last-modified")
            return None
        finally:
            await response.aclose()


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
