"""`docwatch history` with a glob: found through an index range, never a scan of every rule."""
from __future__ import annotations

from catalog_helpers import ingest_file
from docwatch.catalog import Catalog
from docwatch.query import _glob_lookup, history

from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_suffix_and_prefix_globs_use_an_index(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "w", HERE / "synthetic_change_tabs_v1.md", "2025-01-01")
    got = {r["endpoint"] for r in history(cat, "*.wdgtcloud.net")}
    assert got == {"api.wdgtcloud.net", "ingest.wdgtcloud.net"}
    assert {r["endpoint"] for r in history(cat, "GOV.*")} == {"gov.wdgtcloud.us"}  # case-insensitive
    assert history(cat, "*.nowhere.example") == []
    for term in ("*.wdgtcloud.net", "gov.*"):
        sql, params = _glob_lookup(term, "", [])
        plan = " ".join(r[3] for r in cat.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        assert "SCAN r" not in plan and "USING INDEX" in plan, plan


def test_migration_fills_the_reversed_endpoints_of_an_older_catalog(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    ingest_file(cat, "w", HERE / "synthetic_change_tabs_v1.md", "2025-01-01")
    cat.db.execute("UPDATE rules SET endpoint_rev = NULL")
    cat.db.execute("DELETE FROM schema_version WHERE version = 9")
    cat.close()
    cat = Catalog(tmp_path / "c.db")
    assert {r["endpoint"] for r in history(cat, "*.wdgtcloud.net")} == {"api.wdgtcloud.net", "ingest.wdgtcloud.net"}
