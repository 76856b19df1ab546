"""Lean change events (migrations 12, 13): an event names its rule and section by id and keeps
its source and provenance only when they differ from its document version's; the ``changes``
view gives the same rows as before, and a catalog made at schema version 11 migrates to it (and
to v14's epoch rule-version times) with the same view rows."""
from __future__ import annotations

import sqlite3

import pytest

from catalog_helpers import HERE, catalog_at, ingest_file, stored_before_17
from conftest import corpus_versions
from docwatch.catalog import Catalog
from docwatch.catalog_schema import ISO_TIME, SCHEMA_VERSION
from docwatch.model import ChangeEvent

BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"
# the v11 ``changes`` view: change_events as stored then, column for column
_V11_CHANGES = """SELECT id, detected_at, source, cloud, kind, rule_key, party, field, old, new,
    severity, impact, tab, direction, section, summary, doc_date, doc_commit, page_url,
    commit_url, version_id, effective_after, used_by FROM change_events"""


def _odd_events(cat: Catalog) -> None:
    """Events the ingest path rarely writes: no version, provenance of their own, no section."""
    vid = cat.db.execute("SELECT max(id) FROM versions").fetchone()[0]
    with cat.write():
        cat.add_events([
            ChangeEvent(source="synth", kind="anomaly", summary="no version", section=[]),
            ChangeEvent(source="synth", kind="deadline", summary="own provenance", version_id=vid,
                        detected_at="2031-01-01T00:00:00Z", doc_date=None, section=["A", "B"]),
            ChangeEvent(source="synth", kind="deadline", summary="none", version_id=vid, section=None),
        ])
    cat.record_anomaly("synth", "fetch failed", observed_at="2031-02-01")


def _changes(conn) -> list[tuple]:
    return conn.execute("SELECT * FROM changes ORDER BY id").fetchall()


def _as_v11(cat: Catalog, path) -> None:
    """The same catalog as docwatch wrote it at schema version 11 (events with their text)."""
    with catalog_at(path, 11) as db:
        for table in ("sources", "versions", "sections", "rule_versions", "rules"):
            cols = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            sel = ", ".join(ISO_TIME.format(f"[{c}]") if c in ("valid_from", "valid_to")  # v11 kept ISO times
                            else "(SELECT name FROM sources WHERE id = source_id)" if (table, c) == ("rules", "source")  # v15
                            else stored_before_17(table, c) for c in cols)
            rows = cat.conn.execute(f"SELECT {sel} FROM {table}").fetchall()
            db.conn.executemany(f"INSERT INTO {table} ({', '.join(f'[{c}]' for c in cols)}) VALUES ({', '.join('?' for _ in cols)})", rows)
        cur = cat.conn.execute("SELECT * FROM changes ORDER BY id")
        cols = [d[0] for d in cur.description]
        db.conn.executemany(f"INSERT INTO change_events ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                            cur.fetchall())
        db.execute("DELETE FROM change_events WHERE id = (SELECT max(id) FROM change_events)")  # ids are never reused


def _check_roundtrip(cat: Catalog, tmp_path) -> None:
    want = _changes(cat.conn)
    old = tmp_path / "v11.db"
    _as_v11(cat, old)
    assert sqlite3.connect(old).execute(_V11_CHANGES + " ORDER BY id").fetchall() == want[:-1]
    top = want[-1][0]
    migrated = Catalog(old)
    assert migrated.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert _changes(migrated.conn) == want[:-1]
    for view in ("rule_history ORDER BY rule_version_id", "current_rules ORDER BY source, rule_key"):
        assert migrated.conn.execute(f"SELECT * FROM {view}").fetchall() == cat.conn.execute(f"SELECT * FROM {view}").fetchall()
    for at in {r[0] for r in cat.conn.execute("SELECT observed_at FROM versions")}:  # as-of on epoch times (v14)
        assert migrated.rules_as_of("synth", at) == cat.rules_as_of("synth", at)
    assert [e.to_dict() for e in migrated.events()] == [e.to_dict() for e in cat.events()][:-1]
    with migrated.write():
        migrated.add_events([ChangeEvent(source="synth", kind="anomaly", summary="after")])
    assert migrated.last_event_id() == top + 1  # the AUTOINCREMENT counter came along
    assert migrated.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    migrated.close()


def _catalog_with_events(tmp_path) -> Catalog:
    """Two versions of the synthetic page plus the odd events (own provenance, no section…)."""
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    _odd_events(cat)
    return cat


def test_events_read_back_exactly_and_store_no_copied_text(tmp_path):
    cat = _catalog_with_events(tmp_path)
    stored = cat.conn.execute("SELECT count(*), count(own_prov), count(detected_at), count(section_id), "
                              "count(source) FROM change_events").fetchone()
    n = stored[0]
    # ingest's events copy their version's source and provenance: only the four odd ones keep theirs
    assert n > 5 and stored[1] == stored[4] == 4 and stored[2] == 2  # two of those have a detected_at
    assert stored[3] == n - 1  # every event but the section=None one points into sections
    events = cat.events()
    own = next(e for e in events if e.summary == "own provenance")
    assert (own.detected_at, own.doc_date, own.section) == ("2031-01-01T00:00:00Z", None, ["A", "B"])
    plain = next(e for e in events if e.summary == "none")
    assert (plain.detected_at, plain.doc_date, plain.section) == (None, None, [])  # not its version's
    changed = [e for e in events if e.kind == "modified"]
    assert changed and all(e.detected_at == "2025-03-10T00:00:00Z" and e.section for e in changed)
    assert [e.to_dict() for e in cat.events_after(0)] == [e.to_dict() for e in events]
    with pytest.raises(ValueError):
        cat.set_version(plain.version_id, doc_date="2020-01-01")  # events read it: never rewritten
    cat.close()


def test_a_schema_11_catalog_migrates_to_the_same_changes(tmp_path):
    cat = _catalog_with_events(tmp_path)
    _check_roundtrip(cat, tmp_path)
    cat.close()


@pytest.mark.corpus
def test_a_schema_11_corpus_catalog_migrates_to_the_same_changes(tmp_path):
    """A real series (adds, removals, moves, an anomaly): same rows before and after."""
    cat = Catalog(tmp_path / "c.db")
    for i, v in enumerate(corpus_versions("azure-monitor-network-access")):
        ingest_file(cat, "synth", v["file"], f"{v['ms_date']}T00:00:{i:02d}Z")
    _odd_events(cat)
    _check_roundtrip(cat, tmp_path)
    cat.close()


def test_events_keep_their_rule_key_when_the_rule_is_re_keyed_or_dropped(tmp_path):
    """Events name their rule by id; a re-key (a protocol change pairs two keys) or ``reparse``
    dropping the rules first pins the key the events had, so ``changes`` never moves."""
    from docwatch.model import Rule

    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    before = _changes(cat.conn)
    assert cat.conn.execute("SELECT count(*) FROM change_events WHERE rule IS NOT NULL AND rule_key IS NULL").fetchone()[0]
    with_events = {k for (k,) in cat.conn.execute("SELECT rule_key FROM changes")}
    current = sorted(cat.current_rules("synth"), key=lambda r: r.key not in with_events)  # one with events first
    assert current[0].key in with_events
    moved = Rule(**{**current[0].to_dict(), "protocol": "udp" if current[0].protocol != "udp" else "tcp"})
    vid = cat.db.execute("SELECT max(id) FROM versions").fetchone()[0]
    with cat.write():
        cat.apply_rules("synth", vid, "2025-04-01T00:00:00Z", current, [moved, *current[1:]],
                        {current[0].key: moved.key})
    assert cat.conn.execute("SELECT rule_key FROM rules WHERE rule_key = ?", (moved.key,)).fetchone()
    assert _changes(cat.conn) == before
    with cat.write():
        cat.drop_rule_history("synth")
    assert _changes(cat.conn) == before
    cat.close()
