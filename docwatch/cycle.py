"""One scrape cycle: fetch → snapshot → parse → normalize → Catalog.ingest → alerts.

Sources are fetched concurrently (bounded by the fetcher's global and per-host limits);
each source's result is processed as soon as it arrives. Scrape and offline replay share
:func:`process_bundle`: a :class:`Bundle` (one observed document + its includes) is what
both produce, so a replayed snapshot takes exactly the path a live one does.

No false alarms: a failed or suspicious fetch goes to the fetch log and
``Catalog.record_anomaly`` and changes nothing else; identical content (same hash as the
source's last version) is never parsed again.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from docwatch import fetch as F
from docwatch.config import Config, SourceConfig
from docwatch.documents import looks_binary
from docwatch.snapshots import CorruptSnapshot, SnapshotStore

log = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- state kept in the catalog database (this module's own tables) ----------------------------

class FetchState:
    """``http_cache`` (validators per URL), ``fetch_log``, ``source_state``, ``daemon_state``."""

    def __init__(self, db):
        self.db = db
        self._setup()

    def _setup(self) -> None:
        db = self.db
        db.execute("""CREATE TABLE IF NOT EXISTS http_cache (
            url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, sha256 TEXT, content_type TEXT, updated_at TEXT)""")
        db.execute("""CREATE TABLE IF NOT EXISTS fetch_log (
            id INTEGER PRIMARY KEY, url TEXT NOT NULL, source TEXT, time TEXT NOT NULL, status TEXT NOT NULL,
            http_status INTEGER, etag TEXT, bytes INTEGER, duration_ms INTEGER, attempts INTEGER,
            sha256 TEXT, error TEXT)""")
        db.execute("CREATE INDEX IF NOT EXISTS fetch_log_source ON fetch_log(source, id)")
        db.execute("""CREATE TABLE IF NOT EXISTS source_state (
            source TEXT PRIMARY KEY, last_attempt TEXT, last_success TEXT, last_status TEXT,
            last_error TEXT, last_error_at TEXT)""")
        db.execute("CREATE TABLE IF NOT EXISTS daemon_state (key TEXT PRIMARY KEY, value TEXT)")

    def cache(self, url: str) -> dict | None:
        cur = self.db.execute("SELECT etag, last_modified, sha256 FROM http_cache WHERE url = ?", (url,))
        row = cur.fetchone()
        return dict(zip(("etag", "last_modified", "sha256"), row)) if row else None

    def set_cache(self, url: str, res: F.FetchResult, digest: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO http_cache (url, etag, last_modified, sha256, content_type, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (url, res.etag, res.last_modified, digest, res.content_type, now_iso()))

    def drop_cache(self, url: str) -> None:
        self.db.execute("DELETE FROM http_cache WHERE url = ?", (url,))

    def log_fetch(self, source: str, res: F.FetchResult, status: str, *, digest: str | None = None,
                  error: str | None = None, at: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO fetch_log (url, source, time, status, http_status, etag, bytes, duration_ms, attempts, sha256, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (res.url, source, at or now_iso(), status, res.http_status, res.etag, res.nbytes, res.duration_ms,
             res.attempts, digest, error if error is not None else res.error))

    def source_done(self, source: str, status: str, error: str | None, at: str) -> None:
        ok = error is None
        self.db.execute(
            """INSERT INTO source_state (source, last_attempt, last_success, last_status, last_error, last_error_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(source) DO UPDATE SET last_attempt = excluded.last_attempt,
                 last_status = excluded.last_status,
                 last_success = coalesce(excluded.last_success, source_state.last_success),
                 last_error = coalesce(excluded.last_error, source_state.last_error),
                 last_error_at = coalesce(excluded.last_error_at, source_state.last_error_at)""",
            (source, at, at if ok else None, status, None if ok else error, None if ok else at))

    def set_daemon(self, **values: Any) -> None:
        for k, v in values.items():
            self.db.execute("INSERT OR REPLACE INTO daemon_state (key, value) VALUES (?, ?)",
                            (k, None if v is None else str(v)))

    def daemon(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM daemon_state").fetchall())

    def sources(self) -> dict[str, dict]:
        cur = self.db.execute("SELECT * FROM source_state")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}


# -- what scrape and replay hand to processing ---------------------------------------------------

@dataclass
class Bundle:
    """One observed document of a source, ready to parse."""

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


@dataclass
class SourceOutcome:
    source: str
    status: str  # first | changed | unchanged | duplicate | anomaly | failed | skipped
    events: int = 0
    rules: int | None = None
    error: str | None = None
    form: str | None = None

    @property
    def fetched(self) -> bool:
        return self.status not in ("failed", "skipped")


@dataclass
class CycleReport:
    outcomes: list[SourceOutcome] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0
    delivery: Any = None
    unit: str = "sources"

    def count(self, *statuses: str) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def fetched(self) -> int:
        return sum(1 for o in self.outcomes if o.fetched)

    @property
    def changed(self) -> int:
        return self.count("first", "changed")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged", "duplicate")

    @property
    def failed(self) -> int:
        return self.count("failed", "anomaly")

    @property
    def all_failed(self) -> bool:
        considered = [o for o in self.outcomes if o.status != "skipped"]
        return bool(considered) and all(o.status == "failed" for o in considered)

    def summary(self) -> str:
        anomalies = self.count("anomaly")
        extra = f" ({anomalies} suspicious)" if anomalies else ""
        events = sum(o.events for o in self.outcomes)
        skipped = self.count("skipped")
        skip = f", {skipped} already in the catalog" if skipped else ""
        return (f"{len(self.outcomes)} {self.unit}: {self.fetched} fetched, {self.unchanged} unchanged, "
                f"{self.changed} changed, {self.failed} failed{extra}{skip}; {events} change events "
                f"in {self.seconds:.1f}s")


def content_hash(main_sha: str, includes: dict[str, str]) -> str:
    """The main body's sha256, or (with includes) a hash over it and every include."""
    if not includes:
        return main_sha
    h = hashlib.sha256(main_sha.encode())
    for path in sorted(includes):
        h.update(b"\0" + path.encode() + b"\0" + hashlib.sha256(includes[path].encode()).hexdigest().encode())
    return h.hexdigest()


# -- processing: shared by scrape and replay -----------------------------------------------------

def parse_bundle(b: Bundle):
    """Pure: parse + normalize (safe to run in a worker thread)."""
    from docwatch.normalize import normalize_checked
    from parsers import parse_document

    loader = b.includes.get if b.form == "markdown" else None
    doc = parse_document(b.text, path=b.path, loader=loader)
    for k in ("doc_commit", "source_url", "doc_date"):
        if b.meta.get(k) and not doc.meta.get(k):
            doc.meta[k] = b.meta[k]
    if b.diagnostics:
        doc.diagnostics[:0] = b.diagnostics
    rules, failures = normalize_checked(doc)
    doc.diagnostics.extend(failures)  # the catalog's guard turns these into an anomaly
    return doc, rules


def ingest_parsed(catalog, cfg: Config, b: Bundle, doc, rules) -> SourceOutcome:
    res = catalog.ingest(b.source, doc, rules, observed_at=b.observed_at, snapshot_id=b.snapshot_id,
                         content_hash=b.content_hash, page_url=b.page_url, guard=cfg.guard)
    if res.status == "anomaly":
        log.warning("%s: suspicious version: %s", b.source, res.reason)
    return SourceOutcome(b.source, res.status, events=len(res.events), rules=len(rules),
                         error=res.reason if res.status == "anomaly" else None, form=b.form)


def process_bundle(catalog, cfg: Config, b: Bundle) -> SourceOutcome:
    """Synchronous path (replay, tests): skip identical content, else parse and ingest."""
    skipped = skip_identical(catalog, b)
    if skipped:
        return skipped
    doc, rules = parse_bundle(b)
    return ingest_parsed(catalog, cfg, b, doc, rules)


def skip_identical(catalog, b: Bundle) -> SourceOutcome | None:
    """Same content as the source's last version: no parsing, the catalog only notes it."""
    if b.content_hash and catalog.last_content_hash(b.source) == b.content_hash:
        res = catalog.ingest(b.source, None, [], observed_at=b.observed_at, content_hash=b.content_hash,
                             snapshot_id=b.snapshot_id, page_url=b.page_url)
        return SourceOutcome(b.source, res.status if res.status == "duplicate" else "unchanged", form=b.form)
    return None


def record_failure(catalog, state: FetchState, source: str, reason: str, page_url: str | None, at: str) -> SourceOutcome:
    """A failed/suspicious fetch: fetch log is already written; an anomaly, nothing else."""
    catalog.record_anomaly(source, reason, observed_at=at, page_url=page_url)
    state.source_done(source, "failed", reason, at)
    return SourceOutcome(source, "failed", error=reason)


# -- fetching one source -----------------------------------------------------------------------

class _Failed(Exception):
    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


@dataclass
class _Got:
    res: F.FetchResult
    text: str
    sha: str
    diagnostics: list


class SourceFetcher:
    """Fetches one source's document (and includes) into a :class:`Bundle`."""

    def __init__(self, fetcher: F.Fetcher, state: FetchState, store: SnapshotStore, cfg: Config):
        self.fetcher, self.state, self.store, self.cfg = fetcher, state, store, cfg

    async def get(self, source: str, url: str, form: str) -> "_Got":
        """Conditional GET + checks + snapshot, or raises _Failed (the fetch log has the row)."""
        at = now_iso()
        cache = self.state.cache(url)
        use_cache = bool(cache and cache["sha256"] and self.store.has(cache["sha256"]))
        res = await self.fetcher.fetch(url, etag=cache["etag"] if use_cache else None,
                                       last_modified=cache["last_modified"] if use_cache else None)
        if res.status == "not-modified":
            if not use_cache:
                self.state.log_fetch(source, res, "failed", error="HTTP 304 to an unconditional request", at=at)
                raise _Failed(f"{url}: HTTP 304 to an unconditional request", 304)
            try:
                body = self.store.get(cache["sha256"])
            except CorruptSnapshot as exc:
                log.warning("%s: cached snapshot unusable (%s); fetching again", url, exc)
                self.state.drop_cache(url)
                self.state.log_fetch(source, res, "not-modified", error=f"cached snapshot unusable: {exc}", at=at)
                return await self.get(source, url, form)
            self.state.log_fetch(source, res, "not-modified", digest=cache["sha256"], at=at)
            text, diags = F.decode_body(body, F.charset_of(cache.get("content_type")))
            return _Got(res, text, cache["sha256"], diags)
        if res.status != "ok":
            self.state.log_fetch(source, res, "failed", at=at)
            raise _Failed(f"{url}: {res.error}", res.http_status)
        body = res.body or b""
        digest = self.store.put(body)  # kept even when suspicious: evidence for a human
        text, diags = "", []
        if looks_binary(body):
            reason = "non-text body (binary content)"
        else:
            text, diags = F.decode_body(body, res.charset)
            reason = F.looks_like_error_page(text, form)
        if reason:
            self.state.log_fetch(source, res, "suspicious", digest=digest, error=reason, at=at)
            raise _Failed(f"{url}: {reason}")
        self.state.set_cache(url, res, digest)
        self.state.log_fetch(source, res, "ok", digest=digest, at=at)
        return _Got(res, text, digest, diags)

    async def includes(self, source: str, md_url: str, text: str) -> tuple[dict[str, str], list[str]]:
        """Pre-fetch ``[!INCLUDE]`` files (bounded depth) into ``{resolved path: text}``.

        A 404/410 for an include never fetched before is a genuinely missing include (the
        parser reports it); one that was fetched before, or any other failure, fails the
        markdown form, because parsing without that include would look like its tables
        were removed."""
        out: dict[str, str] = {}
        problems: list[str] = []
        todo = [(F.url_path(md_url), text, 1)]
        while todo:
            path, body, depth = todo.pop(0)
            refs = [F.resolve_include(path, r) for r in F.include_refs(body)]
            refs = [r for r in refs if r not in out]
            if not refs:
                continue
            if depth > self.cfg.fetch.include_depth:
                problems.append(f"include depth > {self.cfg.fetch.include_depth} at {path}")
                continue

            async def one(resolved: str):
                url = F.with_path(md_url, resolved)
                try:
                    return resolved, (await self.get(source, url, "markdown")).text
                except _Failed as exc:
                    if exc.http_status not in (404, 410):
                        raise _Failed(f"include {exc}", exc.http_status) from None
                    if self.state.cache(url):
                        # It was fetched before and is still referenced: gone now (raw GitHub
                        # during a move, say) would read as its tables removed. Fail this form;
                        # the rendered page, with its includes inlined, is tried next if listed.
                        raise _Failed(f"include {exc} (it was fetched before)", exc.http_status) from None
                    problems.append(str(exc))
                    return resolved, None

            results = await asyncio.gather(*(one(r) for r in dict.fromkeys(refs)), return_exceptions=True)
            for failure in (r for r in results if isinstance(r, BaseException)):
                raise failure
            for resolved, itext in results:
                if itext is not None:
                    out[resolved] = itext
                    todo.append((resolved, itext, depth + 1))
        return out, problems

    async def bundle(self, src: SourceConfig) -> Bundle:
        """The first form in ``src.forms`` that fetches cleanly; raises _Failed with every reason."""
        errors: list[str] = []
        observed = now_iso()
        html: _Got | None = None
        meta: dict[str, Any] = {}
        need_html = "html" in src.forms or (not src.markdown_url and "markdown" in src.forms)
        if need_html:
            try:
                html = await self.get(src.name, src.url, "html")
                pm = F.page_meta(html.text)
                meta = {"source_url": pm.get("original_content_git_url"), "doc_commit": F.doc_commit(pm)}
            except _Failed as exc:
                errors.append(str(exc))
        for form in src.forms:
            if form == "markdown":
                cands = [src.markdown_url] if src.markdown_url else F.markdown_candidates(meta.get("source_url"))
                if not cands and html is not None:
                    errors.append(f"{src.url}: no markdown source found (no original_content_git_url meta)")
                for cand in cands:
                    refusal = F.url_refusal(cand, self.cfg.fetch.allowed_hosts)
                    if refusal:
                        errors.append(f"{cand}: refused: {refusal}")
                        continue
                    try:
                        md = await self.get(src.name, cand, "markdown")
                        incs, problems = await self.includes(src.name, cand, md.text)
                    except _Failed as exc:
                        errors.append(str(exc))
                        continue
                    for p in problems:
                        log.warning("%s: include problem: %s", src.name, p)
                    return Bundle(src.name, src.url, "markdown", md.text, path=F.url_path(cand), includes=incs,
                                  content_hash=content_hash(md.sha, incs), snapshot_id=md.sha,
                                  observed_at=observed, meta=meta, diagnostics=md.diagnostics)
            elif form == "html" and html is not None:
                if errors:
                    log.warning("%s: using the rendered page: %s", src.name, "; ".join(errors))
                return Bundle(src.name, src.url, "html", html.text, content_hash=html.sha, snapshot_id=html.sha,
                              observed_at=observed, meta=meta, diagnostics=html.diagnostics)
        raise _Failed("; ".join(errors) or "nothing fetched")


# -- the cycle ---------------------------------------------------------------------------------

async def run_cycle_async(cfg: Config, catalog, *, sources: list[SourceConfig] | None = None,
                          client=None, on_done: Callable[[SourceOutcome], None] | None = None,
                          deliver: bool = True) -> CycleReport:
    started = time.monotonic()
    report = CycleReport(started_at=now_iso())
    state = FetchState(catalog.db)
    store = SnapshotStore(cfg.snapshot_dir)
    sources = cfg.sources if sources is None else sources
    async with F.Fetcher(cfg.fetch, client=client) as fetcher:
        sf = SourceFetcher(fetcher, state, store, cfg)

        async def one(src: SourceConfig) -> SourceOutcome:
            try:
                b = await sf.bundle(src)
            except _Failed as exc:
                return record_failure(catalog, state, src.name, str(exc), src.url, now_iso())
            try:
                out = skip_identical(catalog, b)
                if out is None:
                    doc, rules = await asyncio.to_thread(parse_bundle, b)
                    out = ingest_parsed(catalog, cfg, b, doc, rules)
            except Exception as exc:  # a parser/catalog bug must not take the other sources down
                log.exception("%s: processing failed", src.name)
                reason = f"processing failed: {type(exc).__name__}: {exc}"
                state.source_done(src.name, "failed", reason, now_iso())
                return SourceOutcome(src.name, "failed", error=reason, form=b.form)
            state.source_done(src.name, out.status, out.error if out.status == "anomaly" else None, now_iso())
            return out

        async def tracked(src: SourceConfig) -> SourceOutcome:
            out = await one(src)
            if on_done:
                on_done(out)
            return out

        report.outcomes = list(await asyncio.gather(*(tracked(s) for s in sources)))
    if deliver:
        report.delivery = deliver_alerts(catalog, cfg)
    report.seconds = time.monotonic() - started
    return report


def run_cycle(cfg: Config, catalog, **kw) -> CycleReport:
    return asyncio.run(run_cycle_async(cfg, catalog, **kw))


def deliver_alerts(catalog, cfg: Config):
    from docwatch.alerts import deliver_pending

    try:
        return deliver_pending(catalog, cfg.channels)
    except Exception as exc:  # alert trouble must not undo or fail a completed ingest
        log.error("alert delivery failed: %s", exc)
        return None


# -- offline replay ----------------------------------------------------------------------------

def replay(cfg: Config, catalog, snap_dir: str | Path, *, on_done=None, deliver: bool = True) -> CycleReport:
    """Run recorded snapshots (``<snap_dir>/recorded.json``) through the cycle's processing, in
    observed_at order. Snapshots not newer than what the catalog already holds for their
    source are skipped, so replaying twice adds nothing."""
    from docwatch.snapshots import load_manifest, read_recorded

    started = time.monotonic()
    report = CycleReport(started_at=now_iso(), unit="snapshots")
    state = FetchState(catalog.db)
    for rec in load_manifest(snap_dir):
        last = catalog.last_version(rec.source)
        from docwatch.catalog import parse_time

        at = parse_time(rec.observed_at)
        if last and at <= last["observed_at"]:
            out = SourceOutcome(rec.source, "skipped", form=rec.form)
        else:
            try:
                data = read_recorded(snap_dir, rec)
            except CorruptSnapshot as exc:
                out = record_failure(catalog, state, rec.source, str(exc), rec.page_url or rec.url, at)
            else:
                text, diags = F.decode_body(data, None)
                b = Bundle(rec.source, rec.page_url or rec.url, rec.form, text,
                           path=F.url_path(rec.url) if rec.form == "markdown" else None,
                           content_hash=rec.sha256, snapshot_id=rec.sha256, observed_at=at, diagnostics=diags)
                out = process_bundle(catalog, cfg, b)
                state.source_done(rec.source, out.status, out.error if out.status == "anomaly" else None, at)
        report.outcomes.append(out)
        if on_done:
            on_done(out)
    if deliver:
        report.delivery = deliver_alerts(catalog, cfg)
    report.seconds = time.monotonic() - started
    return report
