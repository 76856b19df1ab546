"""Storage layout of the catalog (migration 11): a contentless full-text index kept by triggers,
no per-rule copies of what the rule's versions hold, and ``rule_ports`` for port queries. An
existing catalog made at schema version 10 is migrated in place and keeps answering the same."""
from __future__ import annotations

import itertools
import json
import sqlite3

from catalog_helpers import HERE, catalog_at, copy_as, count, ingest_file
from docwatch.catalog import Catalog
from docwatch.catalog_schema import SCHEMA_VERSION
from docwatch.query import RuleFilter, history, port_matches, query_rules

BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"


def _v10_catalog(path) -> None:
    """A catalog as docwatch wrote it at schema version 10: sqlite-utils' external-content
    full-text index with its triggers, rules carrying purpose/first_seen/last_changed."""
    with catalog_at(path, 10) as db:
        db.execute("INSERT INTO sources (id, name) VALUES (1, 'old')")
        db.execute("INSERT INTO versions (id, source, observed_at, status, rule_count, table_count, seq) "
                   "VALUES (1, 'old', '2024-01-01T00:00:00Z', 'first', 2, 1, 1)")
        for rid, ep, ports, purpose in ((1, "a.example.com", ["443", "8000-8100"], "Telemetry upload"),
                                        (2, "b.example.com", ["80"], "Certificate checks")):
            db.execute("INSERT INTO rule_versions (id, rule, version_id, valid_from, endpoint, endpoint_kind, ports, "
                       "protocol, direction, purpose) VALUES (?, ?, 1, '2024-01-01T00:00:00Z', ?, 'fqdn', ?, 'tcp', "
                       "'outbound', ?)", (rid, rid, ep, json.dumps(ports), purpose))
            db.execute("INSERT INTO rules (id, source, rule_key, endpoint, endpoint_rev, purpose, current_rv, first_seen, "
                       "last_changed) VALUES (?, 'old', ?, ?, ?, ?, ?, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                       (rid, f"-|-|outbound|tcp|{ep}", ep, ep[::-1], purpose, rid))


def test_a_schema_10_catalog_is_migrated_and_answers_the_same(tmp_path):
    path = tmp_path / "v10.db"
    _v10_catalog(path)
    cur = sqlite3.connect(path).execute("SELECT * FROM current_rules ORDER BY rule_key")
    at = [d[0] for d in cur.description].index("valid_from")  # v10 kept ISO text: today's view reads epochs
    before = [(*r[:at], "2024-01-01T00:00:00Z", *r[at + 1:]) for r in cur.fetchall()]
    cat = Catalog(path)
    assert cat.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert not {"purpose", "first_seen", "last_changed"} & set(cat.db["rules"].columns_dict)
    assert "rules_source" not in {i.name for i in cat.db["rules"].indexes}
    assert cat.db.execute("SELECT * FROM current_rules ORDER BY rule_key").fetchall() == before
    assert [r["endpoint"] for r in history(cat, "telemetry")] == ["a.example.com"]  # full text, migrated
    assert [r["endpoint"] for r in query_rules(cat, RuleFilter(port="8050"))] == ["a.example.com"]  # a range
    assert [r["endpoint"] for r in query_rules(cat, RuleFilter(port="80", as_of="2024-06-01"))] == ["b.example.com"]
    res = ingest_file(cat, "synth", BASE, "2025-01-15")  # and it keeps ingesting
    assert res.status == "first" and cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cat.close()


def _by_brute_force(cat: Catalog, port: str, as_of: str | None, source: str | None) -> list[str]:
    rows = query_rules(cat, RuleFilter(as_of=as_of, source=source))
    return sorted(r["rule_key"] for r in rows if port_matches(port, r["ports"]))


def test_port_queries_come_from_the_port_index_and_match_a_full_walk(tmp_path):
    """Every port, as of several times, for every source and one: the index path (a rare port)
    and the per-rule walk (one source, or a port most rules have) give what a full walk gives."""
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    ports = {p for (v,) in cat.db.execute("SELECT ports FROM rule_versions WHERE ports IS NOT NULL") for p in json.loads(v)}
    for port in sorted(ports | {"1", "65535"}):
        if not port.isdigit():
            continue
        for as_of, source in itertools.product((None, "2025-02-01", "2025-03-10"), (None, "synth")):
            got = sorted(r["rule_key"] for r in query_rules(cat, RuleFilter(port=port, as_of=as_of, source=source)))
            assert got == _by_brute_force(cat, port, as_of, source), (port, as_of, source)
    seen: list[str] = []
    cat.conn.set_trace_callback(seen.append)
    query_rules(cat, RuleFilter(port="12000", as_of="2025-03-10"))  # one rule has it: the index path
    cat.conn.set_trace_callback(None)
    plan = " / ".join(r[3] for r in cat.conn.execute("EXPLAIN QUERY PLAN " + seen[-1]).fetchall())
    assert "rule_ports" in plan and "SCAN r" not in plan and "SCAN rv" not in plan, plan
    cat.close()


def test_full_text_and_port_index_follow_rewritten_history(tmp_path):
    """``reparse`` drops a source's rule history and rebuilds it: the triggers keep the
    contentless full-text index and rule_ports in step (nothing stale is found)."""
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    assert {r["service_tag"] for r in history(cat, "Diagnostics")} == {"AzureMonitor"}
    assert count(cat, "rule_ports") > 0
    with cat.write():
        cat.drop_rule_history("synth")
    assert history(cat, "Diagnostics") == [] and count(cat, "rule_ports") == 0
    assert cat.db.execute("SELECT count(*) FROM rules_fts WHERE rules_fts MATCH 'diagnostics'").fetchone()[0] == 0
    cat.db.execute("INSERT INTO rules_fts (rules_fts) VALUES ('integrity-check')")
    cat.close()


def _as_v14(cat: Catalog, path) -> None:
    """The same catalog as docwatch wrote it at schema version 14: rules carrying the source's name."""
    copy_as(cat, path, 14, {("rules", "source"): "(SELECT name FROM sources WHERE id = source_id)"})


def test_a_schema_14_catalog_moves_rule_sources_to_ids_and_answers_the_same(tmp_path):
    """Migration 15: ``rules.source`` (the page name) becomes ``source_id``; views, queries,
    history (full text included) and events read the same, and ingesting goes on."""
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "other", BASE, "2025-01-20")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    old = tmp_path / "v14.db"
    _as_v14(cat, old)
    conn = sqlite3.connect(old)
    assert conn.execute("SELECT count(DISTINCT source) FROM rules").fetchone()[0] == 2  # the v14 layout, filled
    conn.close()
    migrated = Catalog(old)
    assert migrated.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert "source" not in migrated.db["rules"].columns_dict and "source_id" in migrated.db["rules"].columns_dict
    for view in ("rule_history ORDER BY rule_version_id", "current_rules ORDER BY source, rule_key", "changes ORDER BY id"):
        assert migrated.conn.execute(f"SELECT * FROM {view}").fetchall() == cat.conn.execute(f"SELECT * FROM {view}").fetchall()
    for flt in (RuleFilter(), RuleFilter(source="synth"), RuleFilter(source="other", as_of="2025-02-01"),
                RuleFilter(port="443"), RuleFilter(port="443", as_of="2025-02-01")):
        assert query_rules(migrated, flt) == query_rules(cat, flt), flt
    for term in ("AzureMonitor", "diagnostics", "*.com"):
        assert history(migrated, term) == history(cat, term) and history(migrated, term, source="other") == history(cat, term, source="other")
    assert migrated.current_rules("synth") == cat.current_rules("synth")
    assert [e.to_dict() for e in migrated.events()] == [e.to_dict() for e in cat.events()]
    assert migrated.db.execute("INSERT INTO rules_fts (rules_fts) VALUES ('integrity-check')") is not None
    for c in (cat, migrated):  # both keep ingesting, to the same rules
        ingest_file(c, "other", CHANGED, "2025-04-01")
    assert query_rules(migrated, RuleFilter(source="other")) == query_rules(cat, RuleFilter(source="other"))
    assert migrated.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    migrated.close()
    cat.close()


def test_compact_shrinks_an_old_page_size_catalog_and_it_answers_the_same(tmp_path):
    """New catalogs use PAGE_SIZE; ``compact`` (what backfill and replay end with) merges the
    full-text index and VACUUMs an older 4 KiB catalog to PAGE_SIZE: smaller, same answers."""
    from docwatch.catalog_schema import PAGE_SIZE

    assert Catalog(tmp_path / "new.db").conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("CREATE TABLE t (x)")  # the page size is fixed once the file is written
    conn.execute("DROP TABLE t")
    conn.close()
    cat = Catalog(path)
    assert cat.conn.execute("PRAGMA page_size").fetchall()[0][0] == 4096
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    views = {v: cat.conn.execute(f"SELECT * FROM {v} ORDER BY 1, 2, 3").fetchall() for v in ("current_rules", "rule_history", "changes")}
    answers = (history(cat, "Diagnostics"), history(cat, "AzureMonitor"), query_rules(cat, RuleFilter(port="443", as_of="2025-02-01")))
    cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    cat.compact()
    assert cat.conn.execute("PRAGMA page_size").fetchall()[0][0] == PAGE_SIZE
    assert cat.conn.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size < size
    assert {v: cat.conn.execute(f"SELECT * FROM {v} ORDER BY 1, 2, 3").fetchall() for v in views} == views
    assert (history(cat, "Diagnostics"), history(cat, "AzureMonitor"),
            query_rules(cat, RuleFilter(port="443", as_of="2025-02-01"))) == answers
    cat.db.execute("INSERT INTO rules_fts (rules_fts) VALUES ('integrity-check')")
    reader = sqlite3.connect(path)  # another connection open: no page-size change, still compacts
    reader.execute("SELECT count(*) FROM rules").fetchone()
    cat.compact()
    reader.close()
    assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ingest_file(cat, "synth", BASE, "2025-04-01")  # and it keeps ingesting
    cat.close()
