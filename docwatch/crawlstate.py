"""What the scrape cycle remembers between cycles, kept in the catalog database.

Tables (created by catalog migration 5, never here): ``http_cache`` (validators per URL, and
includes known to be missing), ``fetch_log`` (one row per request), ``source_state`` (last
outcome, failure streak, form used, coverage counts per source) and ``daemon_state``.

Writes are buffered and :meth:`CrawlState.flush` applies them in one transaction per cycle:
a no-change cycle over hundreds of sources must not pay one disk flush per source. Reads see
the pending writes. Readers (``status``) only read: a catalog without these tables yet (made
before migration 5, opened read-only) reads as empty.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

STATE_TABLES = ("http_cache", "fetch_log", "source_state", "daemon_state")


ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(when: datetime) -> str:
    return when.strftime(ISO)


def now_iso() -> str:
    return _iso(datetime.now(timezone.utc))


def _ago(iso: str, now: str) -> timedelta:
    return datetime.strptime(now, ISO) - datetime.strptime(iso, ISO)


@dataclass
class CacheEntry:
    """HTTP validators of one URL and the snapshot of its last good body; ``missing_since``
    is set while the URL answers 404/410 (an include that is gone)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    content_type: str | None = None
    updated_at: str | None = None
    missing_since: str | None = None
    missing_checked: str | None = None


@dataclass
class SourceState:
    """The cycle's memory of one source. ``degraded`` names why the preferred form failed when a
    later form was ingested; ``fail_streak`` counts consecutive cycles whose fetch failed."""

    source: str
    last_attempt: str | None = None
    last_success: str | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    form: str | None = None
    degraded: str | None = None
    fail_streak: int = 0
    coverage: dict[str, int] | None = None


@dataclass
class FetchLogRow:
    url: str
    source: str | None
    time: str
    status: str  # ok | not-modified | failed | suspicious | missing | skipped-missing
    http_status: int | None = None
    etag: str | None = None
    bytes: int | None = None
    duration_ms: int | None = None
    attempts: int | None = None
    sha256: str | None = None
    error: str | None = None


@dataclass
class _DaemonRow:
    key: str
    value: str | None


class CrawlState:
    """Buffered access to the crawl tables of one catalog connection: a ``sqlite3.Connection`` (or a
    ``sqlite_utils.Database`` over one, whose connection is used). Plain ``sqlite3`` only, so a
    no-change cycle never imports sqlite-utils (a tenth of a second of a ``docwatch scrape``)."""

    def __init__(self, db):
        self.conn = getattr(db, "conn", db)
        self._tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self._cache: dict[str, CacheEntry] | None = None
        self._sources: dict[str, SourceState] | None = None
        self._dirty_cache: dict[str, CacheEntry | None] = {}  # None: delete
        self._dirty_sources: dict[str, SourceState] = {}
        self._log: list[FetchLogRow] = []

    # -- reads ---------------------------------------------------------------------------

    def _rows(self, table: str, cls) -> list:
        """Rows of ``table`` as ``cls`` instances (columns ``cls`` does not know are left out)."""
        if table not in self._tables:
            return []
        cur = self.conn.execute(f"SELECT * FROM [{table}]")
        names = {f.name for f in fields(cls)}
        keep = [(i, d[0]) for i, d in enumerate(cur.description) if d[0] in names]
        return [cls(**{name: r[i] for i, name in keep}) for r in cur.fetchall()]

    def _load_cache(self) -> dict[str, CacheEntry]:
        if self._cache is None:
            self._cache = {e.url: e for e in self._rows("http_cache", CacheEntry)}
        return self._cache

    def _load_sources(self) -> dict[str, SourceState]:
        if self._sources is None:
            out = {}
            for st in self._rows("source_state", SourceState):
                st.coverage = json.loads(st.coverage) if isinstance(st.coverage, str) else None
                st.fail_streak = st.fail_streak or 0
                out[st.source] = st
            self._sources = out
        return self._sources

    def cache(self, url: str) -> CacheEntry | None:
        return self._load_cache().get(url)

    def source(self, name: str) -> SourceState | None:
        return self._load_sources().get(name)

    def sources(self) -> dict[str, SourceState]:
        return dict(self._load_sources())

    def daemon(self) -> dict[str, str]:
        return {r.key: r.value for r in self._rows("daemon_state", _DaemonRow)}

    # -- buffered writes -------------------------------------------------------------------

    def set_cache(self, url: str, res, digest: str) -> None:
        """``res`` is a :class:`docwatch.fetch.FetchResult` of a good body stored as ``digest``."""
        entry = CacheEntry(url, res.etag, res.last_modified, digest, res.content_type, now_iso())
        self._load_cache()[url] = entry
        self._dirty_cache[url] = entry

    def refresh_validators(self, url: str, res) -> None:
        """A 304 may carry new validators; keep the snapshot it confirmed."""
        entry = self.cache(url)
        if entry and ((res.etag and res.etag != entry.etag) or (res.last_modified and res.last_modified != entry.last_modified)):
            entry.etag = res.etag or entry.etag
            entry.last_modified = res.last_modified or entry.last_modified
            self._dirty_cache[url] = entry

    def mark_missing(self, url: str, at: str) -> None:
        """``url`` answered 404/410: remember it so it is re-checked on a slower schedule."""
        entry = self.cache(url) or CacheEntry(url)
        entry.missing_since = entry.missing_since or at
        entry.missing_checked = at
        entry.etag = entry.last_modified = None
        self._load_cache()[url] = entry
        self._dirty_cache[url] = entry

    def missing_recently(self, url: str, at: str, recheck_hours: float) -> CacheEntry | None:
        """The cache entry when ``url`` is known missing and was checked less than ``recheck_hours`` ago."""
        entry = self.cache(url)
        if entry is None or not entry.missing_since or not entry.missing_checked:
            return None
        return entry if _ago(entry.missing_checked, at) < timedelta(hours=recheck_hours) else None

    def drop_cache(self, url: str) -> None:
        self._load_cache().pop(url, None)
        self._dirty_cache[url] = None

    def log_fetch(self, source: str | None, res, status: str, *, digest: str | None = None,
                  error: str | None = None, at: str | None = None) -> None:
        self._log.append(FetchLogRow(res.url, source, at or now_iso(), status, res.http_status, res.etag, res.nbytes,
                                     res.duration_ms, res.attempts, digest,
                                     error if error is not None else res.error))

    def log_skip(self, source: str | None, url: str, status: str, error: str, at: str) -> None:
        """A URL deliberately not requested this cycle (a known-missing include)."""
        self._log.append(FetchLogRow(url, source, at, status, error=error))

    def source_done(self, source: str, status: str, error: str | None, at: str, *, form: str | None = None,
                    degraded: str | None = None, fail_streak: int | None = None,
                    coverage: dict[str, int] | None = None) -> SourceState:
        """One source's outcome this cycle. ``error`` None means it succeeded."""
        st = self.source(source) or SourceState(source)
        st.last_attempt, st.last_status = at, status
        if error is None:
            st.last_success = at
            st.degraded = degraded
            st.form = form or st.form
        else:
            st.last_error, st.last_error_at = error, at
        if fail_streak is not None:
            st.fail_streak = fail_streak
        if coverage is not None:
            st.coverage = coverage
        self._load_sources()[source] = st
        self._dirty_sources[source] = st
        return st

    @property
    def pending(self) -> bool:
        return bool(self._dirty_cache or self._dirty_sources or self._log)

    @contextmanager
    def _transaction(self, tables):
        """One ``BEGIN IMMEDIATE`` … ``COMMIT`` on the catalog connection, rolled back on any error."""
        missing = [t for t in tables if t not in self._tables]
        if missing:
            raise RuntimeError(f"catalog lacks crawl tables {missing}: open it as a writer (migration 5)")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def flush(self, *, prune_days: float | None = None) -> None:
        """Write every pending change (and prune the fetch log) in one transaction."""
        if not self.pending and not prune_days:
            return
        gone = [(url,) for url, e in self._dirty_cache.items() if e is None]
        cached = [(url, e.etag, e.last_modified, e.sha256, e.content_type, e.updated_at, e.missing_since,
                   e.missing_checked) for url, e in self._dirty_cache.items() if e is not None]
        states = [(s.source, s.last_attempt, s.last_success, s.last_status, s.last_error, s.last_error_at, s.form,
                   s.degraded, s.fail_streak, None if s.coverage is None else json.dumps(s.coverage, sort_keys=True))
                  for s in self._dirty_sources.values()]
        logged = [(r.url, r.source, r.time, r.status, r.http_status, r.etag, r.bytes, r.duration_ms, r.attempts,
                   r.sha256, r.error) for r in self._log]
        with self._transaction(STATE_TABLES) as conn:
            conn.executemany("DELETE FROM http_cache WHERE url = ?", gone)
            conn.executemany("INSERT OR REPLACE INTO http_cache (url, etag, last_modified, sha256, content_type, "
                             "updated_at, missing_since, missing_checked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", cached)
            conn.executemany("INSERT OR REPLACE INTO source_state (source, last_attempt, last_success, last_status, "
                             "last_error, last_error_at, form, degraded, fail_streak, coverage) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", states)
            conn.executemany("INSERT INTO fetch_log (url, source, time, status, http_status, etag, bytes, duration_ms, "
                             "attempts, sha256, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", logged)
            if prune_days:
                conn.execute("DELETE FROM fetch_log WHERE time < ?",
                             (_iso(datetime.now(timezone.utc) - timedelta(days=prune_days)),))
        self._dirty_cache.clear()
        self._dirty_sources.clear()
        self._log.clear()

    def set_daemon(self, **values: Any) -> None:
        """Daemon state is written at once (one small transaction): ``status`` shows it live."""
        with self._transaction(["daemon_state"]) as conn:
            conn.executemany("INSERT OR REPLACE INTO daemon_state (key, value) VALUES (?, ?)",
                             [(k, None if v is None else str(v)) for k, v in values.items()])


# -- the status read model -------------------------------------------------------------------

@dataclass
class SourceStatus(SourceState):
    """One row of ``docwatch status``: a source's crawl state, whether config.toml still lists it,
    and how many rules it has now."""

    configured: bool = False
    rules: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class StatusReport:
    daemon: dict[str, str] = field(default_factory=dict)
    sources: list[SourceStatus] = field(default_factory=list)


def status_report(catalog, configured: list[str]) -> StatusReport:
    """Everything ``status`` shows, read-only: crawl state per source plus current rule counts."""
    state = CrawlState(catalog.db)
    per_source = state.sources()
    counts: dict[str, int] = {}
    if "current_rules" in catalog.db.view_names():
        counts = {r["source"]: r["n"] for r in
                  catalog.db.query("SELECT source, count(*) AS n FROM current_rules GROUP BY source")}
    names = list(dict.fromkeys([*configured, *sorted(per_source), *sorted(counts)]))
    rows = []
    for n in names:
        st = per_source.get(n) or SourceState(n)
        rows.append(SourceStatus(**{f.name: getattr(st, f.name) for f in fields(SourceState)},
                                 configured=n in configured, rules=counts.get(n, 0)))
    return StatusReport(state.daemon(), rows)
