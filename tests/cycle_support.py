"""Shared by the cycle tests: real corpus page versions served by the local fault server,
catalog counts, a digest of a catalog without ids/timestamps, and a write-transaction counter
on a real SQLite connection. No tests here."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from docwatch.catalog import Catalog
from docwatch.catalog_schema import TOMBSTONE_COPIES
from docwatch.config import SourceConfig
from conftest import CORPUS, corpus_versions

# Stand-in for includes the corpus does not ship (APIM's availability note has no rules).
PLACEHOLDER_INCLUDE = (Path(__file__).parent / "synthetic_cycle_include.md").read_bytes()

PAGES = {  # corpus page → the raw GitHub base path its files are served under
    "azure-monitor-network-access": "/MicrosoftDocs/azure-monitor-docs/main/",
    "arc-servers-network-requirements": "/MicrosoftDocs/azure-management-docs/main/",
    "apim-virtual-network-reference": "/MicrosoftDocs/azure-docs/main/",
    "azureml-behind-firewall": "/MicrosoftDocs/azure-ai-docs/main/",
}


def config(tmp_path, sources, **fetch_kw):
    """The fetch tests' config, serial extraction unless asked, and without the default
    service-tag files (they would be fetched from the internet): these tests are about pages."""
    from test_fetch_helpers import build_config

    cfg = build_config(tmp_path, sources, **{"parse_workers": 1, **fetch_kw})
    if hasattr(cfg, "servicetags"):
        cfg.servicetags = []
    return cfg


def version_root(v: dict) -> Path:
    """The version folder of a corpus markdown file (``<version>/articles/...``)."""
    p = v["file"]
    while p.parent.name != v["version"]:
        p = p.parent
    return p.parent


def serve_markdown(server, page: str, index: int, *, etag: bool = True) -> str:
    """Serve every markdown file of corpus ``page`` version ``index`` (and a placeholder for
    includes the corpus lacks); returns the main file's URL path."""
    v = corpus_versions(page)[index]
    root = version_root(v)
    base = PAGES[page]
    for f in root.rglob("*.md"):
        rel = str(f.relative_to(root))
        body = f.read_bytes()
        server.set(base + rel, {"body": body, **({"etag": f'"{v["version"]}-{rel}"'} if etag else {})})
    from docwatch.fetch import include_refs, resolve_include

    for f in root.rglob("*.md"):
        for ref in include_refs(f.read_text(encoding="utf-8")):
            path = resolve_include(base + str(f.relative_to(root)), ref)
            if path not in server.routes:
                server.set(path, {"body": PLACEHOLDER_INCLUDE, **({"etag": '"placeholder"'} if etag else {})})
    return base + str(v["file"].relative_to(root))


def rendered(page: str, index: int) -> bytes | None:
    """The rendered Learn HTML of the same corpus version, when the corpus has it."""
    v = corpus_versions(page)[index]
    f = CORPUS / "rendered" / page / f"{v['version']}.html"
    return f.read_bytes() if f.exists() else None


def serve_html(server, page: str, index: int, path: str) -> str:
    server.set(path, {"body": rendered(page, index), "etag": f'"html-{index}"',
                      "headers": {"Content-Type": "text/html; charset=utf-8"}})
    return path


def source(server, name: str, md_path: str, html_path: str | None = None, forms=("markdown",)) -> SourceConfig:
    return SourceConfig(name=name, url=server.url(html_path or f"/learn/{name}"), markdown_url=server.url(md_path),
                        forms=list(forms))


def counts(cat: Catalog) -> dict:
    q = lambda sql: cat.db.execute(sql).fetchone()[0]  # noqa: E731
    return {"versions": q("SELECT count(*) FROM versions"), "rule_versions": q("SELECT count(*) FROM rule_versions"),
            "removed": q("SELECT count(*) FROM change_events WHERE kind = 'removed'"),
            "anomalies": q("SELECT count(*) FROM change_events WHERE kind = 'anomaly'"),
            "events": q("SELECT count(*) FROM change_events"),
            "current": q("SELECT count(*) FROM current_rules")}


_VOLATILE = {"id", "rule", "version_id", "valid_from", "valid_to", "detected_at", "first_seen", "last_changed",
             "current_rv", "section_id", "observed_at", "source_id", "rv",
             "facts_rv"}  # rv, facts_rv: rule version ids (migrations 16, 17)


def digest(db_path: str | Path) -> dict[str, list[str]]:
    """rules, rule_versions and change_events without ids or timestamps, order-independent."""
    conn = sqlite3.connect(str(db_path))
    try:
        out = {}
        for table, sql in {
            "rules": "SELECT r.*, so.name AS source FROM rules r JOIN sources so ON so.id = r.source_id",
            # a lean tombstone's facts (schema 17) are those of the version it repeats: the later columns win
            "rule_versions": f"SELECT rv.*, {', '.join(f'f.[{c}] AS [{c}]' for c in TOMBSTONE_COPIES)}, "
                             "so.name AS r_source, r.rule_key AS r_key, s.path AS section "
                             "FROM rule_versions rv JOIN rule_versions f ON f.id = coalesce(rv.facts_rv, rv.id) "
                             "JOIN rules r ON r.id = rv.rule JOIN sources so ON so.id = r.source_id "
                             "LEFT JOIN sections s ON s.id = f.section_id",
            "change_events": "SELECT * FROM change_events",
        }.items():
            cur = conn.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = [json.dumps({c: v for c, v in zip(cols, r) if c not in _VOLATILE}, sort_keys=True)
                    for r in cur.fetchall()]
            out[table] = sorted(rows)
        return out
    finally:
        conn.close()


class WriteCounter:
    """Counts write transactions on a real connection: each BEGIN, plus each write statement run
    outside a transaction (SQLite commits those one by one)."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.transactions, self.statements, self._open = conn, 0, [], False
        conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        head = sql.lstrip().upper()
        self.statements.append(sql)
        if head.startswith("BEGIN"):
            self.transactions += 1
            self._open = True
        elif head.startswith(("COMMIT", "ROLLBACK", "END")):
            self._open = False
        elif head.startswith(self.WRITES) and not self._open:
            self.transactions += 1

    def stop(self) -> None:
        self.conn.set_trace_callback(None)


def fetch_log(db, limit: int | None = None) -> list:
    """The newest ``limit`` rows of the catalog's fetch log (all by default), oldest first."""
    from dataclasses import fields

    from docwatch.crawlstate import FetchLogRow

    names = ", ".join(f.name for f in fields(FetchLogRow))
    lim = f" LIMIT {int(limit)}" if limit else ""
    return [FetchLogRow(*r) for r in db.execute(f"SELECT {names} FROM fetch_log ORDER BY id DESC{lim}").fetchall()][::-1]
