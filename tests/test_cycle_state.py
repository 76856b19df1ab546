"""The crawl state's tables come from the catalog's one migrations list (migration 5): a catalog
made before it, whose old code created the tables in their first shape, keeps its rows and gains
the new columns; the buffered state reads its own pending writes and flushes them in one
transaction on a real SQLite file."""
from __future__ import annotations

import sqlite3

import sqlite_utils

from docwatch.catalog import Catalog
from docwatch.catalog_schema import migrate
from docwatch.crawlstate import CrawlState
from docwatch.fetch import FetchResult
from cycle_support import WriteCounter, fetch_log

OLD_DDL = [  # what the cycle's old FetchState created before migration 5
    "CREATE TABLE http_cache (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, sha256 TEXT, content_type TEXT, "
    "updated_at TEXT)",
    "CREATE TABLE fetch_log (id INTEGER PRIMARY KEY, url TEXT NOT NULL, source TEXT, time TEXT NOT NULL, "
    "status TEXT NOT NULL, http_status INTEGER, etag TEXT, bytes INTEGER, duration_ms INTEGER, attempts INTEGER, "
    "sha256 TEXT, error TEXT)",
    "CREATE TABLE source_state (source TEXT PRIMARY KEY, last_attempt TEXT, last_success TEXT, last_status TEXT, "
    "last_error TEXT, last_error_at TEXT)",
    "CREATE TABLE daemon_state (key TEXT PRIMARY KEY, value TEXT)",
]


def test_a_catalog_from_before_migration_5_keeps_its_crawl_rows(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(str(path), isolation_level=None))
    migrate(db, target=4)
    if db.conn.in_transaction:  # migrate leaves committing to its caller
        db.execute("COMMIT")
    for ddl in OLD_DDL:
        db.execute(ddl)
    db.execute("INSERT INTO http_cache VALUES ('https://x/a.md', '\"e1\"', NULL, 'abc', 'text/plain', '2026-01-01T00:00:00Z')")
    db.execute("INSERT INTO source_state VALUES ('a', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'first', NULL, NULL)")
    db.execute("INSERT INTO daemon_state VALUES ('last_cycle', '2026-01-01T00:00:00Z')")
    db.conn.close()

    cat = Catalog(path)  # a writer: migrations 5.. run
    try:
        versions = [r[0] for r in cat.db.execute("SELECT version FROM schema_version ORDER BY version")]
        assert 5 in versions
        assert {"fail_streak", "degraded", "form", "coverage"} <= set(cat.db["source_state"].columns_dict)
        assert {"missing_since", "missing_checked"} <= set(cat.db["http_cache"].columns_dict)
        state = CrawlState(cat.db)
        assert state.cache("https://x/a.md").etag == '"e1"'
        assert state.source("a").last_status == "first" and state.source("a").fail_streak == 0
        assert state.daemon() == {"last_cycle": "2026-01-01T00:00:00Z"}
    finally:
        cat.close()


def test_pending_writes_are_read_back_and_flushed_in_one_transaction(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    try:
        state = CrawlState(cat.db)
        res = FetchResult(url="https://x/a.md", status="ok", http_status=200, body=b"# a", etag='"v1"')
        writes = WriteCounter(cat.db.conn)
        for i in range(50):  # a cycle's worth of sources
            state.log_fetch(f"s{i}", res, "ok", digest="d", at="2026-01-01T00:00:00Z")
            state.set_cache(f"https://x/{i}.md", res, f"d{i}")
            state.source_done(f"s{i}", "first", None, "2026-01-01T00:00:00Z", form="markdown", fail_streak=0)
        state.mark_missing("https://x/inc.md", "2026-01-01T00:00:00Z")
        assert state.cache("https://x/7.md").sha256 == "d7" and state.source("s7").form == "markdown"
        assert state.missing_recently("https://x/inc.md", "2026-01-01T05:00:00Z", 24)
        assert not state.missing_recently("https://x/inc.md", "2026-01-02T01:00:00Z", 24)  # re-check due
        assert writes.transactions == 0  # nothing written yet
        state.flush()
        writes.stop()
        assert writes.transactions == 1
        again = CrawlState(cat.db)
        assert len(fetch_log(cat.db)) == 50 and again.source("s49").last_status == "first"
        assert again.cache("https://x/inc.md").missing_since == "2026-01-01T00:00:00Z"
    finally:
        cat.close()
