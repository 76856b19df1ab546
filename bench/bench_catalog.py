"""Catalog and diff speed/size figures. ``python -m bench.bench_catalog`` prints the rows.

* ingest of every corpus version series in order (parse/normalize done before timing), and
  bytes per rule version of that real catalog (goal ≤ 300 B), as ingested and after
  ``Catalog.compact`` (full-text merge + VACUUM, what backfill and replay end with)
* 1,000 re-ingests of an unchanged version (different bytes, same facts) add 0 rule rows
* a generated catalog of 1,000,000 rule versions (200 sources x 500 rules x 10 versions,
  bulk-inserted in one transaction): bytes per rule version, as-of and history queries (an
  endpoint every source shares, a tag across all sources, a glob, the full-text fallback),
  each with the ``EXPLAIN QUERY PLAN`` of every SELECT it ran (traced from SQLite itself)
* ``diff_rules`` on two 50,000-rule sets with 1% changed
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from docwatch.catalog import Catalog, epoch
from docwatch.diff import diff_rules
from docwatch.model import Rule
from docwatch.pipeline import Observation, ingest
from docwatch.query import RuleFilter, history, query_rules

CORPUS = Path(os.environ.get("DOCWATCH_SHARED", Path(__file__).resolve().parent.parent.parent / "shared")) / "corpus" / "markdown"
SOURCES, RULES, VERSIONS = 200, 500, 10


def _load_series() -> list[tuple[str, list]]:
    from docwatch.documents import _fs_loader
    from docwatch.normalize import normalize
    from parsers.markdown import parse_markdown

    series = []
    for page in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        items = []
        for v in json.loads((page / "versions.json").read_text()):
            f = page / v["path"]
            doc = parse_markdown(f.read_text(encoding="utf-8"), path=str(f), loader=_fs_loader)
            items.append((v, doc, normalize(doc)))
        series.append((page.name, items))
    return series


def _timed(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_corpus(tmp: Path) -> list[tuple[str, str, str]]:
    if not CORPUS.exists():
        return [("corpus ingest", "skipped (corpus absent)", "-")]
    series = _load_series()
    cat = Catalog(tmp / "corpus.db")
    t = time.perf_counter()
    for page, items in series:
        for i, (v, doc, rules) in enumerate(items):
            ingest(cat, Observation(page, doc, rules, observed_at=f"{v['ms_date']}T00:00:{i:02d}Z",
                                    content_hash=v["commit"], form="markdown"))
    dt = time.perf_counter() - t
    nrv = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0]
    nver = cat.db.execute("SELECT count(*) FROM versions").fetchone()[0]
    rows = [("corpus series ingest", f"{nrv / dt:,.0f} rule versions/s ({nver} doc versions, {nrv} rule versions, {dt * 1000:.0f} ms)", "-")]
    rows.append(("bytes per rule version, real corpus catalog", _bytes_per_rule_version(cat, tmp / "corpus.db", nrv), "<= 300 B"))
    cat.compact()  # what backfill and replay do after a bulk load
    rows.append(("  the same, compacted (as backfill leaves it)", _bytes_per_rule_version(cat, tmp / "corpus.db", nrv), "<= 300 B"))
    page, items = series[0]
    v, doc, rules = items[-1]
    before = nrv
    t = time.perf_counter()
    for i in range(1000):
        ingest(cat, Observation(page, doc, rules, observed_at=f"2030-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
                                form="markdown"))  # no hash: full diff path
    dt = time.perf_counter() - t
    after = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0]
    rows.append(("1,000 re-ingests of an unchanged version", f"{after - before} rule rows added ({dt / 1000 * 1000:.1f} ms each)", "0 rows"))
    cat.close()
    return rows


def _bytes_per_rule_version(cat: Catalog, path: Path, n: int) -> str:
    """File size (WAL checkpointed, so the main file holds everything) per rule version, and
    the biggest tables by the pages they use (dbstat, when SQLite has it), with the figure
    without the still-empty tables and indexes (a page each: a fixed cost, not per version)."""
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    try:
        used = cat.db.execute("SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        empty = sum(b for _, b, payload in used if not payload)
        where = (f"; {(size - empty) / max(n, 1):.0f} B without the {sum(1 for *_, p in used if not p)} empty "
                 f"tables/indexes ({empty / size:.0%}); " + ", ".join(f"{name} {b / size:.0%}" for name, b, _ in used[:8]))
    except Exception:  # noqa: BLE001 - dbstat is optional in SQLite builds
        where = ""
    return f"{size / max(n, 1):.0f} B ({size / 1e6:.2f} MB / {n:,}{where})"


def _plans(cat: Catalog, fn) -> list[str]:
    """Run ``fn`` with SQLite's trace callback on; the query plan of each distinct SELECT it ran."""
    seen: list[str] = []
    cat.db.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.lstrip().upper().startswith(("SELECT", "WITH")) else None)
    try:
        fn()
    finally:
        cat.db.conn.set_trace_callback(None)
    plans = []
    for sql in dict.fromkeys(seen):
        steps = [r[-1] for r in cat.db.conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
        plans.append(" / ".join(steps))
    return plans


def _query_rows(cat: Catalog, label: str, fn, goal: str = "< 50 ms", repeat: int = 5) -> list[tuple[str, str, str]]:
    took = _timed(fn, repeat)
    n = len(fn())
    rows = [(label, f"{took * 1000:.1f} ms ({n} rows)", goal)]
    rows += [(f"  plan {i + 1}", plan, "no SCAN of rules/rule_versions") for i, plan in enumerate(_plans(cat, fn))]
    return rows


def generate(path: Path) -> tuple[Catalog, float]:
    """Bulk-build a catalog of SOURCES*RULES*VERSIONS rule versions in one transaction."""
    cat = Catalog(path)
    db = cat.db
    t = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    times = [f"20{15 + v}-0{1 + v % 9}-15T00:00:00Z" for v in range(VERSIONS)]
    epochs = [epoch(t) for t in times]  # rule versions keep epoch seconds (schema 14)
    db.conn.executemany("INSERT INTO sources (id, name) VALUES (?, ?)", ((s + 1, f"src{s:03d}") for s in range(SOURCES)))
    db.conn.executemany(
        "INSERT INTO versions (id, source, observed_at, content_hash, doc_date, table_count, rule_count, status) "
        "VALUES (?, ?, ?, ?, ?, 4, ?, 'changed')",
        ((s * VERSIONS + v + 1, f"src{s:03d}", times[v], f"{s:03d}{v:02d}" * 8, times[v][:10], RULES)
         for s in range(SOURCES) for v in range(VERSIONS)))
    db.conn.executemany("INSERT INTO sections (id, path) VALUES (?, ?)",
                        ((i + 1, json.dumps(["Network requirements", f"Section {i}"])) for i in range(20)))
    rules, rvs = [], []
    rid = rvid = 0
    for s in range(SOURCES):
        for r in range(RULES):
            rid += 1
            ep = (f"shared{r}.example.com" if r % 50 == 1 else f"host{r}.svc{s}.example.com") if r % 2 else None
            tag = None if ep else f"Tag{r}.Region"
            key = f"public|-|outbound|tcp|{(ep or tag).lower()}"
            for v in range(VERSIONS):
                rvid += 1
                last = v == VERSIONS - 1
                rvs.append((rvid, rid, s * VERSIONS + v + 1, epochs[v], None if last else epochs[v + 1], ep,
                            "fqdn" if ep else None, tag, json.dumps(["443", str(1000 + v)], separators=(",", ":")),
                            "tcp", "outbound", "public", 1, f"Purpose of rule {r} version {v}", r % 20 + 1, r % 4, r))
            rules.append((rid, s + 1, key, ep, ep.lower()[::-1] if ep else None, tag, rvid))
    # versions first: the catalog's triggers fill rule_ports from them and rules_fts from a rule's current one
    db.conn.executemany(
        'INSERT INTO rule_versions (id, rule, version_id, valid_from, valid_to, endpoint, endpoint_kind, service_tag, '
        'ports, protocol, direction, cloud, required, purpose, section_id, tbl, row) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rvs)
    db.conn.executemany(
        "INSERT INTO rules (id, source_id, rule_key, endpoint, endpoint_rev, service_tag, current_rv) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", rules)
    db.execute("COMMIT")
    return cat, time.perf_counter() - t


def bench_large(tmp: Path) -> list[tuple[str, str, str]]:
    path = tmp / "large.db"
    cat, gen = generate(path)
    n = SOURCES * RULES * VERSIONS
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    rows = [("generate catalog", f"{n:,} rule versions in {gen:.1f} s", "quick"),
            ("bytes per stored rule version", f"{size / n:.0f} B (db {size / 1e6:.0f} MB incl. indexes + FTS)", "<= 300 B")]
    rows += _query_rules_rows(cat)
    cat.close()
    return rows


def _query_rules_rows(cat: Catalog) -> list[tuple[str, str, str]]:
    rows = _query_rows(cat, "--as-of query (one source)",
                       lambda: query_rules(cat, RuleFilter(source="src123", as_of="2019-05-01")))
    rows += _query_rows(cat, "--as-of + --port query (one source)",
                        lambda: query_rules(cat, RuleFilter(source="src123", as_of="2019-05-01", port="1004")), repeat=3)
    rows += _query_rows(cat, "--as-of + --port query (all sources)",
                        lambda: query_rules(cat, RuleFilter(as_of="2019-05-01", port="1004")), repeat=1)
    rows += _query_rows(cat, "history of one endpoint (one source)", lambda: history(cat, "host7.svc42.example.com"))
    rows += _query_rows(cat, f"history of an endpoint shared by {SOURCES} sources",
                        lambda: history(cat, "shared51.example.com"), repeat=3)
    rows += _query_rows(cat, f"history of one service tag ({SOURCES} sources)", lambda: history(cat, "Tag8.Region"), repeat=3)
    rows += _query_rows(cat, "history of a glob endpoint (*.svc42.example.com)",
                        lambda: history(cat, "*.svc42.example.com"), repeat=3)
    rows += _query_rows(cat, "history, full-text fallback ('rule 77 version')", lambda: history(cat, "rule 77 version"), repeat=3)
    return rows


def bench_diff() -> list[tuple[str, str, str]]:
    old = [Rule(endpoint=f"host{i}.example.com", endpoint_kind="fqdn", ports=["443"], protocol="tcp",
                direction="outbound", cloud="public", purpose=f"purpose {i}") for i in range(50_000)]
    new = [Rule(**{**r.to_dict(), "ports": ["443", "8443"]}) if i % 100 == 0 else r for i, r in enumerate(old)]
    t = time.perf_counter()
    events = diff_rules(old, new, source="bench")
    dt = time.perf_counter() - t
    return [("diff_rules 50,000 vs 50,000 (1% changed)", f"{dt * 1000:.0f} ms ({len(events)} events)", "< 1 s")]


def run() -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        return [*bench_corpus(tmp), *bench_diff(), *bench_large(tmp)]


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name:45s} {value:60s} goal {goal}")
