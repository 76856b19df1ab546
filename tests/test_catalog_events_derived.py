"""Migration 16: an event of one rule points at the rule version it reports and leaves out what
that version says (the facts of an added/removed rule, party, cloud, tab, direction, the party and
source in its summary); the ``changes`` view gives every value back, a value the view could not
rebuild is kept as written, and a schema-15 catalog migrates to the same rows."""
from __future__ import annotations

import sqlite3

from catalog_helpers import HERE, copy_as, ingest_file
from docwatch.catalog import Catalog
from docwatch.catalog_schema import SCHEMA_VERSION
from docwatch.model import ChangeEvent

BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"


def _changes(conn) -> list[tuple]:
    return conn.execute("SELECT * FROM changes ORDER BY id").fetchall()


def _catalog(tmp_path) -> Catalog:
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "synth", BASE, "2025-01-15")
    ingest_file(cat, "synth", CHANGED, "2025-03-10")
    return cat


def _as_v15(cat: Catalog, path) -> None:
    """The same catalog as docwatch wrote it at schema version 15: events with all their text."""
    copy_as(cat, path, 15)


def test_events_leave_out_what_their_rule_version_says_and_read_back_the_same(tmp_path):
    cat = _catalog(tmp_path)
    n, with_rv, old, new, summary = cat.conn.execute(
        "SELECT count(*), count(rv), count(old), count(new), sum(summary LIKE '%' || char(1) || '%') FROM change_events").fetchone()
    kinds = dict(cat.conn.execute("SELECT kind, count(*) FROM change_events GROUP BY kind").fetchall())
    assert with_rv == n and summary > 0
    # an added/removed event's rule JSON comes from its rule version: only modified events keep theirs
    assert kinds.get("added", 0) + kinds.get("removed", 0) > 0
    assert old + new <= 2 * kinds.get("modified", 0)
    for e in cat.events():  # the summary reads as written: party and source put back
        assert "\x01" not in e.summary and "\x02" not in e.summary and e.source in e.summary
    cat.close()


def test_a_value_the_view_cannot_rebuild_is_kept_as_written(tmp_path):
    """An event whose text differs from its rule version (another party, a summary with the
    marker characters, facts of its own) keeps those columns: nothing is lost."""
    cat = _catalog(tmp_path)
    rule_key = cat.conn.execute("SELECT rule_key FROM changes WHERE kind IN ('added', 'removed') LIMIT 1").fetchone()[0]
    vid = cat.db.execute("SELECT max(id) FROM versions").fetchone()[0]
    odd = ChangeEvent(source="synth", kind="removed", rule_key=rule_key, version_id=vid, party="Someone Else",
                      old={"endpoint": "x"}, cloud="china", direction="sideways", summary="a \x01 b \x02 Someone Else synth")
    with cat.write():
        cat.add_events([odd])
    got = cat.events()[-1]
    assert (got.party, got.old, got.cloud, got.direction, got.summary) == (
        "Someone Else", {"endpoint": "x"}, "china", "sideways", "a \x01 b \x02 Someone Else synth")
    cat.close()


def test_reparse_keeps_the_events_of_the_dropped_rule_versions(tmp_path):
    cat = _catalog(tmp_path)
    before = _changes(cat.conn)
    with cat.write():
        cat.drop_rule_history("synth")
    assert cat.conn.execute("SELECT count(*) FROM change_events WHERE rv IS NOT NULL").fetchone()[0] == 0
    assert _changes(cat.conn) == before
    cat.close()


def test_a_schema_15_catalog_migrates_to_lean_events_with_the_same_rows(tmp_path):
    cat = _catalog(tmp_path)
    old = tmp_path / "v15.db"
    _as_v15(cat, old)
    conn = sqlite3.connect(old)
    assert conn.execute("SELECT count(*) FROM change_events WHERE old IS NOT NULL OR new IS NOT NULL").fetchone()[0] \
        == conn.execute("SELECT count(*) FROM change_events").fetchone()[0]  # v15: every event with its text
    conn.close()
    migrated = Catalog(old)
    assert migrated.db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert _changes(migrated.conn) == _changes(cat.conn)
    assert [e.to_dict() for e in migrated.events()] == [e.to_dict() for e in cat.events()]
    assert migrated.conn.execute("SELECT count(old) + count(new) FROM change_events").fetchone() == \
        cat.conn.execute("SELECT count(old) + count(new) FROM change_events").fetchone()
    for c in (cat, migrated):  # both keep ingesting, to the same events
        ingest_file(c, "synth", BASE, "2025-04-01")
    assert _changes(migrated.conn) == _changes(cat.conn)
    assert migrated.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    migrated.close()
    cat.close()
