"""Catalog mechanics on a real SQLite file: versions, duplicates, cosmetic rewrites, guard,
views read with plain sqlite3, migrations, locking, crash safety, bad files."""
from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from catalog_helpers import HERE, catalog_at, count, ingest_file, load
from docwatch.catalog import Catalog
from docwatch.catalog_schema import SCHEMA_VERSION, migrate
from docwatch.errors import CatalogError, UsageError
from docwatch.model import Rule

BASE = HERE / "synthetic_catalog_base.md"
COSMETIC = HERE / "synthetic_catalog_cosmetic.md"
CHANGED = HERE / "synthetic_catalog_changed.md"


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "cat.db")
    yield c
    c.close()


def test_first_version_is_a_baseline_without_events(cat):
    res = ingest_file(cat, "synth", BASE, "2025-01-15")
    assert res.status == "first" and res.events == []
    assert count(cat, "rule_versions") == 5 and count(cat, "change_events") == 0
    assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cosmetic_rewrite_gives_no_events_and_no_rule_versions(cat):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    res = ingest_file(cat, "synth", COSMETIC, "2025-02-20")
    assert res.status == "unchanged" and res.events == []
    assert count(cat, "rule_versions") == 5 and count(cat, "versions") == 2


def test_identical_bytes_add_no_rows(cat):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    before = {t: count(cat, t) for t in ("versions", "rule_versions", "change_events", "rules")}
    for day in range(16, 20):
        res = ingest_file(cat, "synth", BASE, f"2025-01-{day}")
        assert res.status == "duplicate" and res.events == []
    assert {t: count(cat, t) for t in before} == before


def test_real_change_versions_tombstones_and_events(cat):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    res = ingest_file(cat, "synth", CHANGED, "2025-03-10")
    got = sorted((e.kind, e.party, e.impact, e.severity) for e in res.events)
    assert got == [("added", "AzureKeyVault", "tag-added", "high"),  # you must open it: high
                   ("modified", "AzureMonitor", "ports-added", "high"),
                   ("removed", "Sql", "tag-removed", "medium")]  # you may close it: medium
    assert all(e.detected_at == "2025-03-10T00:00:00Z" and e.version_id == res.version_id for e in res.events)
    assert all(e.doc_date == "2025-03-10" for e in res.events)
    # 5 baseline + AzureMonitor v2 + AzureKeyVault + Sql tombstone
    assert count(cat, "rule_versions") == 8
    tomb = cat.db.execute("SELECT rule_key, valid_from FROM rule_history WHERE tombstone = 1").fetchall()
    assert tomb == [("-|-|outbound|tcp|sql", "2025-03-10T00:00:00Z")]
    # as-of: before the change Sql is there and AzureKeyVault is not
    old = {r.key for r in cat.rules_as_of("synth", "2025-02-01T00:00:00Z")}
    assert "-|-|outbound|tcp|sql" in old and "-|-|outbound|tcp|azurekeyvault" not in old
    assert {r.key for r in cat.current_rules("synth")} == {r.key for r in load(CHANGED)[1]}


def test_out_of_order_ingest_is_refused(cat):
    ingest_file(cat, "synth", BASE, "2025-03-01")
    with pytest.raises(UsageError, match="older than its latest version"):
        ingest_file(cat, "synth", CHANGED, "2025-01-01")
    assert count(cat, "versions") == 1


def test_views_readable_with_plain_sqlite3(cat, tmp_path):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    conn = sqlite3.connect(tmp_path / "cat.db")
    conn.row_factory = sqlite3.Row
    cur = {r["rule_key"]: r for r in conn.execute("SELECT * FROM current_rules WHERE source = 'synth'")}
    assert json.loads(cur["-|-|outbound|tcp|azuremonitor"]["ports"]) == ["443", "1886", "12000"]
    assert cur["-|-|outbound|tcp|azuremonitor"]["doc_date"] == "2025-03-10"
    assert json.loads(cur["-|-|outbound|tcp|azuremonitor"]["section"]) == ["Network requirements", "Outbound rules"]
    assert "-|-|outbound|tcp|sql" not in cur
    hist = conn.execute("SELECT valid_from, valid_to, tombstone FROM rule_history WHERE rule_key = ? ORDER BY valid_from",
                        ("-|-|outbound|tcp|sql",)).fetchall()
    assert [tuple(h) for h in hist] == [("2025-01-15T00:00:00Z", "2025-03-10T00:00:00Z", 0), ("2025-03-10T00:00:00Z", None, 1)]
    ch = conn.execute("SELECT detected_at, source, cloud, kind, rule_key, field, old, new, severity FROM changes "
                      "WHERE kind = 'modified'").fetchall()
    assert [tuple(c) for c in ch] == [("2025-03-10T00:00:00Z", "synth", None, "modified", "-|-|outbound|tcp|azuremonitor",
                                       "ports", '["443","1886"]', '["443","1886","12000"]', "high")]
    conn.close()


def test_collapsed_version_is_one_anomaly_and_later_version_diffs_against_kept_rules(cat, tmp_path):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    empty = tmp_path / "collapsed.md"
    empty.write_text("# Network requirements\n\nThe tables could not be rendered.\n")
    res = ingest_file(cat, "synth", empty, "2025-02-01")
    assert res.status == "anomaly" and [e.kind for e in res.events] == ["anomaly"]
    assert res.events[0].severity == "high" and "no tables" in res.events[0].summary
    empty.write_text("# Network requirements\n\nStill nothing.\n")
    assert ingest_file(cat, "synth", empty, "2025-02-02").events == []  # same streak: no second event
    assert len(cat.current_rules("synth")) == 5
    assert [e.kind for e in cat.events(source="synth")] == ["anomaly"]
    res = ingest_file(cat, "synth", CHANGED, "2025-03-10")
    assert res.status == "changed"
    assert sorted(e.party for e in res.events) == ["AzureKeyVault", "AzureMonitor", "Sql"]


def test_record_anomaly_once_per_streak(cat):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ev = cat.record_anomaly("synth", "fetch failed: HTTP 503", observed_at="2025-01-16")
    assert ev is not None and ev.kind == "anomaly" and "HTTP 503" in ev.summary
    assert cat.record_anomaly("synth", "fetch failed: HTTP 503", observed_at="2025-01-17") is None
    ingest_file(cat, "synth", COSMETIC, "2025-01-18")  # healthy: ends the streak
    assert cat.record_anomaly("synth", "timeout", observed_at="2025-01-19") is not None
    assert len(cat.current_rules("synth")) == 5


def test_crash_mid_ingest_keeps_previous_state(cat, tmp_path):
    ingest_file(cat, "synth", BASE, "2025-01-15")
    doc, rules, _ = load(CHANGED)
    broken = rules + [Rule(service_tag="Broken", ports=[object()], direction="outbound")]  # not JSON-serialisable
    from docwatch.pipeline import Observation, ingest

    with pytest.raises(TypeError):
        ingest(cat, Observation("synth", doc, broken, observed_at="2025-03-10", content_hash="x", form="markdown"))
    assert count(cat, "versions") == 1 and count(cat, "rule_versions") == 5 and count(cat, "change_events") == 0
    assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ingest_file(cat, "synth", CHANGED, "2025-03-10").status == "changed"


def test_second_writer_waits_then_fails_clearly(tmp_path):
    path = tmp_path / "cat.db"
    a = Catalog(path)
    ingest_file(a, "synth", BASE, "2025-01-15")
    b = Catalog(path, timeout=0.3)
    a.db.execute("BEGIN IMMEDIATE")  # a long-running writer holds the lock
    try:
        with pytest.raises(CatalogError, match="locked by another writer"):
            ingest_file(b, "synth", CHANGED, "2025-03-10")
        assert len(b.current_rules("synth")) == 5  # readers are not blocked (WAL)
    finally:
        a.db.execute("COMMIT")
    # a waiting writer succeeds once the lock is released within its timeout
    c = Catalog(path, timeout=5)
    a.db.execute("BEGIN IMMEDIATE")
    t = threading.Timer(0.3, lambda: a.db.execute("COMMIT"))
    t.start()
    assert ingest_file(c, "synth", CHANGED, "2025-03-10").status == "changed"
    t.join()
    for x in (a, b, c):
        x.close()


def test_corrupt_file_and_newer_schema_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(CatalogError, match="not a usable docwatch catalog"):
        Catalog(bad)
    newer = tmp_path / "newer.db"
    Catalog(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO schema_version VALUES (?, '2030-01-01', 'future')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="newer than this docwatch supports"):
        Catalog(newer)


def test_older_schema_is_migrated_keeping_data(tmp_path):
    path = tmp_path / "old.db"
    with catalog_at(path, 1) as db:
        db.execute("INSERT INTO sources (name) VALUES ('synth')")
        db.execute("INSERT INTO versions (source, observed_at, status, rule_count, table_count) "
                   "VALUES ('synth', '2024-01-01T00:00:00Z', 'first', 0, 0)")
    cat = Catalog(path)
    assert cat.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert "anomaly_since" in cat.db["sources"].columns_dict and "rules_fts" in cat.db.table_names()
    assert cat.source_names() == ["synth"]
    res = ingest_file(cat, "synth", BASE, "2025-01-15")
    assert res.status == "changed" and len(res.events) == 5  # the v1 row had no rules
    assert len(cat.current_rules("synth")) == 5
    cat.close()


def test_interrupted_migration_is_completed_on_next_open(tmp_path):
    """A migration cut off after a step that commits (enable_fts uses executescript) left v2's
    columns in place without recording v2: opening again must finish it, not fail."""
    import sqlite_utils

    path = tmp_path / "half.db"
    db = sqlite_utils.Database(path)
    db.execute("BEGIN IMMEDIATE")
    migrate(db, target=1)
    db.execute("ALTER TABLE sources ADD COLUMN anomaly_since TEXT")  # part of v2, applied
    db.execute("COMMIT")
    db.conn.close()
    cat = Catalog(path)
    assert cat.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert ingest_file(cat, "synth", BASE, "2025-01-15").status == "first"
    assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cat.close()


def test_a_table_that_fails_to_normalize_is_an_anomaly_not_removals(cat, monkeypatch):
    """A normalizer bug on one table must not read as that table's rules being removed."""
    import docwatch.normalize as N
    from docwatch.cli import main
    from click.testing import CliRunner

    ok = CliRunner().invoke(main, ["--db", str(cat.path), "ingest", str(BASE), "--source", "synth", "--at", "2025-01-01"])
    assert ok.exit_code == 0, ok.output
    before = len(cat.current_rules("synth"))
    real = N.table_rules

    def broken_on_first_table(table, index, *a, **kw):  # fault injection: a bug hit by one table only
        if index == 0:
            raise ValueError("boom")
        return real(table, index, *a, **kw)

    monkeypatch.setattr(N, "table_rules", broken_on_first_table)
    bad = CliRunner().invoke(main, ["--db", str(cat.path), "ingest", str(COSMETIC), "--source", "synth",
                                    "--at", "2025-01-02"])  # new bytes, same facts: only the bug differs
    assert bad.exit_code == 0, bad.output
    events = cat.events(source="synth")
    assert [e.kind for e in events] == ["anomaly"] and "normalization failed" in events[0].summary
    assert len(cat.current_rules("synth")) == before
