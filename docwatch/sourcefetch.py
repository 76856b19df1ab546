"""Fetching one source: its preferred form with every ``[!INCLUDE]``, else the next form.

A source lists its forms in order of preference (``markdown``, ``html``). A form is usable
only when it is complete: the body fetched cleanly (not an error or sign-in page) and, for
markdown, every include it references fetched too. A missing include (404/410), whether it
was fetched before or never, fails the form: parsing without it would read as its tables
removed. A known-missing include is remembered and re-checked every
``fetch.missing_include_recheck_hours`` rather than every cycle.

Every request is conditional (ETag / Last-Modified) and its body is kept in the snapshot
store, so a 304 is answered from the store. Include URLs shared by several sources are
requested once per cycle. The rendered page is fetched for its meta (doc commit, source
URL) only when the markdown changed, or as the fallback form.

All outcomes land in :class:`~docwatch.crawlstate.CrawlState` (buffered; the cycle flushes).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from docwatch import fetch as F
from docwatch.config import Config, SourceConfig
from docwatch.crawlstate import CrawlState, now_iso
from docwatch.documents import looks_binary
from docwatch.pipeline import content_hash
from docwatch.snapshots import CorruptSnapshot, SnapshotStore

log = logging.getLogger(__name__)

MISSING = (404, 410)


class FormFailed(Exception):
    """A form (or the whole source) could not be fetched completely; the message says why."""

    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


@dataclass
class Got:
    """One fetched (or 304-confirmed) body, decoded."""

    res: F.FetchResult
    body: bytes
    text: str
    sha: str
    diagnostics: list
    cached: bool = False  # answered by a 304 from the snapshot store


@dataclass
class Bundle:
    """One observed document of a source (with its includes), ready to parse.

    Scrape and replay both produce it, so a replayed snapshot takes the live path."""

    source: str
    page_url: str | None
    form: str  # markdown | html | text
    text: str
    path: str | None = None  # include-resolution path (URL path of the markdown)
    includes: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    snapshot_id: str | None = None
    observed_at: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # from the Learn page head
    diagnostics: list = field(default_factory=list)
    failed_forms: list[tuple[str, str]] = field(default_factory=list)  # (form, reason) tried before this one
    preferred: str | None = None  # the source's first form

    @property
    def degraded(self) -> str | None:
        """Why the preferred form was not used, when it was not."""
        if self.preferred is None or self.form == self.preferred:
            return None
        reasons = "; ".join(r for f, r in self.failed_forms if f == self.preferred) or "not available"
        return f"preferred form {self.preferred} failed: {reasons}"


class SourceFetcher:
    """Fetches sources into :class:`Bundle` s for one cycle (one instance per cycle)."""

    def __init__(self, fetcher: F.Fetcher, state: CrawlState, store: SnapshotStore, cfg: Config):
        self.fetcher, self.state, self.store, self.cfg = fetcher, state, store, cfg
        self._includes: dict[str, asyncio.Future] = {}  # include URL → its one fetch this cycle

    async def get(self, source: str, url: str, form: str) -> Got:
        """Conditional GET + checks + snapshot, or raises :class:`FormFailed` (logged)."""
        at = now_iso()
        cache = self.state.cache(url)
        use_cache = bool(cache and cache.sha256 and self.store.has(cache.sha256))
        res = await self.fetcher.fetch(url, etag=cache.etag if use_cache else None,
                                       last_modified=cache.last_modified if use_cache else None)
        if res.status == "not-modified":
            if not use_cache:
                self.state.log_fetch(source, res, "failed", error="HTTP 304 to an unconditional request", at=at)
                raise FormFailed(f"{url}: HTTP 304 to an unconditional request", 304)
            try:
                body = self.store.get(cache.sha256)
            except CorruptSnapshot as exc:
                log.warning("%s: cached snapshot unusable (%s); fetching again", url, exc)
                self.state.drop_cache(url)
                self.state.log_fetch(source, res, "not-modified", error=f"cached snapshot unusable: {exc}", at=at)
                return await self.get(source, url, form)
            self.state.refresh_validators(url, res)
            self.state.log_fetch(source, res, "not-modified", digest=cache.sha256, at=at)
            text, diags = F.decode_body(body, F.charset_of(cache.content_type))
            return Got(res, body, text, cache.sha256, diags, cached=True)
        if res.status != "ok":
            if res.http_status in MISSING:
                self.state.mark_missing(url, at)
                self.state.log_fetch(source, res, "missing", at=at)
            else:
                self.state.log_fetch(source, res, "failed", at=at)
            raise FormFailed(f"{url}: {res.error}", res.http_status)
        body = res.body or b""
        # kept even when suspicious (evidence for a human); in a thread, as its fsyncs would stall
        # every other fetch on the event loop
        digest = await asyncio.to_thread(self.store.put, body)
        text, diags = "", []
        if looks_binary(body):
            reason = "non-text body (binary content)"
        else:
            text, diags = F.decode_body(body, res.charset)
            reason = F.looks_like_error_page(text, form)
        if reason:
            self.state.log_fetch(source, res, "suspicious", digest=digest, error=reason, at=at)
            raise FormFailed(f"{url}: {reason}")
        self.state.set_cache(url, res, digest)
        self.state.log_fetch(source, res, "ok", digest=digest, at=at)
        return Got(res, body, text, digest, diags)

    async def _include(self, source: str, url: str, recheck: bool) -> tuple[str, bool]:
        """One include's text (and whether it was new bytes). A known-missing one is not requested
        again until its re-check is due, or ``recheck`` (the including file changed)."""
        at = now_iso()
        hours = self.cfg.fetch.missing_include_recheck_hours
        known = None if recheck else self.state.missing_recently(url, at, hours)
        if known is not None:
            reason = f"include {url} is missing (HTTP 404 since {known.missing_since}; re-checked every {hours:g} h)"
            self.state.log_skip(source, url, "skipped-missing", reason, at)
            raise FormFailed(reason, 404)
        try:
            got = await self.get(source, url, "markdown")
            return got.text, not got.cached
        except FormFailed as exc:
            missing = " (missing)" if exc.http_status in MISSING else ""
            raise FormFailed(f"include {exc}{missing}", exc.http_status) from None

    def _include_once(self, source: str, url: str, recheck: bool) -> asyncio.Future:
        fut = self._includes.get(url)
        if fut is None:
            fut = self._includes[url] = asyncio.ensure_future(self._include(source, url, recheck))
        return fut

    async def includes(self, source: str, md_url: str, text: str, *, fresh: bool = True) -> dict[str, str]:
        """Every ``[!INCLUDE]`` (bounded depth) as ``{resolved path: text}``; raises
        :class:`FormFailed` if any one cannot be had: the form is then incomplete. ``fresh``:
        ``text`` is new bytes, so its known-missing includes are asked for again."""
        out: dict[str, str] = {}
        todo = [(F.url_path(md_url), text, 1, fresh)]
        while todo:
            path, body, depth, changed = todo.pop(0)
            refs = [r for r in dict.fromkeys(F.resolve_include(path, ref) for ref in F.include_refs(body)) if r not in out]
            if not refs:
                continue
            if depth > self.cfg.fetch.include_depth:
                raise FormFailed(f"include depth > {self.cfg.fetch.include_depth} at {path}")
            futs = [self._include_once(source, F.with_path(md_url, r), changed) for r in refs]
            results = await asyncio.gather(*(asyncio.shield(f) for f in futs), return_exceptions=True)
            for failure in (r for r in results if isinstance(r, BaseException)):
                raise failure
            for resolved, (itext, new) in zip(refs, results):
                out[resolved] = itext
                todo.append((resolved, itext, depth + 1, new))
        return out

    async def bundle(self, src: SourceConfig, *, last_hash: str | None = None) -> Bundle:
        """The first form in ``src.forms`` that fetches completely; raises :class:`FormFailed`
        with every reason. ``last_hash`` is the source's last content hash: markdown that
        still matches it needs no page meta, so the rendered page is not requested."""
        failed: list[tuple[str, str]] = []
        observed = now_iso()
        html: Got | None = None
        html_tried = False
        meta: dict[str, Any] = {}

        async def get_html() -> Got | None:
            nonlocal html, html_tried, meta
            if not html_tried:
                html_tried = True
                try:
                    html = await self.get(src.name, src.url, "html")
                    pm = F.page_meta(html.text)
                    meta = {"source_url": pm.get("original_content_git_url"), "doc_commit": F.doc_commit(pm)}
                except FormFailed as exc:
                    failed.append(("html", str(exc)))
            return html

        preferred = src.forms[0] if src.forms else None
        for form in src.forms:
            if form == "markdown":
                if src.markdown_url:
                    cands = [src.markdown_url]
                else:
                    await get_html()
                    cands = F.markdown_candidates(meta.get("source_url"))
                    if not cands and html is not None:
                        failed.append(("markdown", f"{src.url}: no markdown source found (no original_content_git_url meta)"))
                for cand in cands:
                    refusal = self.fetcher.refusal(cand)
                    if refusal:
                        failed.append(("markdown", f"{cand}: refused: {refusal}"))
                        continue
                    try:
                        md = await self.get(src.name, cand, "markdown")
                        incs = await self.includes(src.name, cand, md.text, fresh=not md.cached)
                    except FormFailed as exc:
                        failed.append(("markdown", str(exc)))
                        continue
                    digest = content_hash(md.body, incs)
                    if digest != last_hash and "html" in src.forms:
                        await get_html()  # meta for the new version; its failure does not fail markdown
                    return Bundle(src.name, src.url, "markdown", md.text, path=F.url_path(cand), includes=incs,
                                  content_hash=digest, snapshot_id=md.sha, observed_at=observed, meta=meta,
                                  diagnostics=md.diagnostics, failed_forms=failed, preferred=preferred)
            elif form == "html":
                got = await get_html()
                if got is not None:
                    if failed:
                        log.warning("%s: using the rendered page: %s", src.name, "; ".join(r for _f, r in failed))
                    return Bundle(src.name, src.url, "html", got.text, content_hash=got.sha, snapshot_id=got.sha,
                                  observed_at=observed, meta=meta, diagnostics=got.diagnostics, failed_forms=failed,
                                  preferred=preferred)
        raise FormFailed("; ".join(r for _f, r in failed) or "nothing fetched")
