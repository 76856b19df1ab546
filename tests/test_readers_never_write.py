"""Read commands never write (issue 13 #9): no schema creation, no migration, no state rows.

Tests run as root, so file permissions cannot make a catalog read-only here; instead each read
command runs against a real catalog and the file's bytes (and its WAL) must be exactly as before.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.cli import main

HERE = Path(__file__).resolve().parent


def _digest(db: Path) -> str:
    h = hashlib.sha256()
    for p in (db, db.with_name(db.name + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "dw.db"
    run = CliRunner().invoke
    for i, f in enumerate(("synthetic_change_tabs_v1.md", "synthetic_change_tabs_v2.md")):
        assert run(main, ["--db", str(db), "ingest", str(HERE / f), "--source", "w", "--at", f"2025-0{i + 1}-01"]).exit_code == 0
    import sqlite3

    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return db


@pytest.mark.parametrize("args", [
    ["changes"], ["changes", "--json"], ["query", "--json"], ["history", "api.wdgtcloud.net"],
    ["versions", "w"], ["status"], ["status", "--json"], ["alerts", "list"], ["diff", "w"],
])  # `export` is a writer: it allocates endpoint-set ids once, in the catalog
def test_read_command_leaves_the_catalog_untouched(catalog, args):
    before = _digest(catalog)
    res = CliRunner().invoke(main, ["--db", str(catalog), *args])
    assert res.exit_code == 0, res.output
    assert _digest(catalog) == before


def test_a_zero_byte_file_is_refused_and_stays_empty(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for args in (["query"], ["changes"], ["status"]):
        res = CliRunner().invoke(main, ["--db", str(empty), *args])
        assert res.exit_code != 0 and "catalog" in res.output.lower(), res.output
        assert empty.stat().st_size == 0
