"""Migration 17: a tombstone points at the version it repeats (``facts_rv``) instead of copying
it, ``rules`` keeps its keys once (an index on ``source_id`` and a trigger instead of ``UNIQUE
(source_id, rule_key)``) and an event's impact is derived. A catalog made at schema 16 migrates in
place and every view, query, history look-up, export and later ingest answers the same."""
from __future__ import annotations

import sqlite3

import pytest

from catalog_helpers import HERE, copy_as, ingest_file
from docwatch.catalog import Catalog
from docwatch.catalog_schema import SCHEMA_VERSION, TOMBSTONE_COPIES
from docwatch.query import RuleFilter, history, query_rules

BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"
VIEWS = ("rule_history ORDER BY rule_version_id", "current_rules ORDER BY source, rule_key", "changes ORDER BY id")


def _catalog(tmp_path) -> Catalog:
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "other", BASE, "2025-01-20")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    ingest_file(cat, "synth", BASE, "2025-04-02")  # back again: rules re-added after their tombstone
    return cat


def _as_v16(cat: Catalog, path) -> None:
    """The same catalog as docwatch wrote it at schema version 16: every tombstone with a copy of
    its rule, events with their impact (and, here, all their text), ``UNIQUE (source_id, rule_key)``."""
    copy_as(cat, path, 16, {("change_events", "derived"): "0"})


def _answers(cat: Catalog) -> dict:
    out = {view: cat.conn.execute(f"SELECT * FROM {view}").fetchall() for view in VIEWS}
    for flt in (RuleFilter(), RuleFilter(source="synth"), RuleFilter(source="other", as_of="2025-02-01"),
                RuleFilter(as_of="2025-03-20"), RuleFilter(port="443"), RuleFilter(port="443", as_of="2025-03-20")):
        out[repr(flt)] = query_rules(cat, flt)
    terms = {r[0] for r in cat.conn.execute("SELECT coalesce(endpoint, service_tag) FROM rule_history")} - {None}
    for term in sorted(terms) + ["*.com", "*.windows.net", "login.*", "diagnostics", "configuration database"]:
        out[term] = (history(cat, term), history(cat, term, source="other"))
    for source in ("synth", "other"):
        out[source] = (cat.current_rules(source), cat.rules_as_of(source, "2025-03-20T00:00:00Z"),
                       [cat.rules_at_version(source, v["id"]) for v in cat.versions(source)])
    out["events"] = [e.to_dict() for e in cat.events()]
    return out


def test_a_schema_16_catalog_migrates_and_answers_the_same(tmp_path):
    cat = _catalog(tmp_path)
    lean = cat.conn.execute("SELECT count(*) FROM rule_versions WHERE facts_rv IS NOT NULL").fetchone()[0]
    assert lean > 0  # the removed rules' tombstones point at what they repeat
    old = tmp_path / "v16.db"
    _as_v16(cat, old)
    conn = sqlite3.connect(old)
    assert conn.execute("SELECT count(*) FROM rule_versions WHERE tombstone = 1 AND ports IS NULL").fetchone()[0] == 0
    assert "sqlite_autoindex_rules_1" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    migrated = Catalog(old)
    assert migrated.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert migrated.conn.execute("SELECT count(*) FROM rule_versions WHERE facts_rv IS NOT NULL").fetchone()[0] == lean
    assert migrated.conn.execute("SELECT count(*) FROM change_events WHERE impact IS NULL AND derived & 128").fetchone()[0] > 0
    assert _answers(migrated) == _answers(cat)
    migrated.db.execute("INSERT INTO rules_fts (rules_fts) VALUES ('integrity-check')")
    for c in (cat, migrated):  # both keep ingesting, to the same answers
        ingest_file(c, "other", CHANGED, "2025-05-01")
        ingest_file(c, "synth", CHANGED, "2025-05-02")
    assert _answers(migrated) == _answers(cat)
    for c in (cat, migrated):
        c.db.execute("INSERT INTO rules_fts (rules_fts) VALUES ('integrity-check')")
        assert c.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    migrated.close()
    cat.close()


def test_a_tombstone_that_differs_from_the_version_it_closes_keeps_its_own_facts(tmp_path):
    """Only an exact repeat is left out: a tombstone written (by an older docwatch, or by hand)
    with facts of its own keeps them, and every reader shows them."""
    cat = _catalog(tmp_path)
    tomb, facts = cat.conn.execute("SELECT id, facts_rv FROM rule_versions WHERE facts_rv IS NOT NULL LIMIT 1").fetchone()
    cols = ", ".join(f"[{c}] = (SELECT [{c}] FROM rule_versions WHERE id = {facts})" for c in TOMBSTONE_COPIES)
    with cat.write():  # give it its copy back, with another purpose
        cat.conn.execute(f"UPDATE rule_versions SET {cols}, facts_rv = NULL, purpose = 'own words' WHERE id = ?", (tomb,))
    from docwatch.catalog_schema import lean_tombstones

    with cat.write():
        lean_tombstones(cat.conn)
    assert cat.conn.execute("SELECT facts_rv, purpose FROM rule_versions WHERE id = ?", (tomb,)).fetchone() == (None, "own words")
    assert cat.conn.execute("SELECT purpose FROM rule_history WHERE rule_version_id = ?", (tomb,)).fetchone() == ("own words",)
    endpoint = cat.conn.execute("SELECT coalesce(endpoint, service_tag) FROM rule_history WHERE rule_version_id = ?", (tomb,)).fetchone()[0]
    assert "own words" in {r["purpose"] for r in history(cat, endpoint)}
    cat.close()


def test_rule_keys_stay_unique_per_source(tmp_path):
    cat = _catalog(tmp_path)
    sid, key = cat.conn.execute("SELECT source_id, rule_key FROM rules LIMIT 1").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), cat.write():
        cat.conn.execute("INSERT INTO rules (source_id, rule_key) VALUES (?, ?)", (sid, key))
    other = cat.conn.execute("SELECT id FROM rules WHERE source_id = ? AND rule_key <> ? LIMIT 1", (sid, key)).fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), cat.write():
        cat.conn.execute("UPDATE rules SET rule_key = ? WHERE id = ?", (key, other))
    with cat.write():  # the same key in another source is another rule
        cat.conn.execute("INSERT INTO rules (source_id, rule_key) VALUES (?, ?)", (sid + 100, key))
    cat.close()
