"""Issue 13 snapshot-store faults on real files and a real SQLite catalog: a corrupt object is
repaired by the next put of the same bytes (and by the next cycle), suspicious bodies are
capped per source, and `docwatch gc` removes only what no catalog row refers to."""
from __future__ import annotations

import gzip
import json
import os
import time

import pytest
from click.testing import CliRunner

from docwatch.catalog import Catalog
from docwatch.config import SourceConfig
from docwatch.fetch import FetchResult
from docwatch.snapshots import SnapshotStore, collect_garbage, prune_suspicious, referenced_digests, sha256
from test_fetch_helpers import FaultServer, build_config

PAGE = b"# Endpoints\n\n| Host | Port |\n|---|---|\n| a.example.com | 443 |\n"


def test_put_verifies_an_existing_object_and_rewrites_a_corrupt_one(tmp_path, caplog):
    store = SnapshotStore(tmp_path)
    digest = store.put(PAGE)
    path = store.path_for(digest)
    path.write_bytes(gzip.compress(b"something else entirely"))
    assert store.put(PAGE) == digest
    assert store.get(digest) == PAGE  # repaired
    assert "rewriting" in caplog.text
    path.write_bytes(b"\x1f\x8b not gzip at all")
    store.put(PAGE)
    assert store.get(digest) == PAGE
    caplog.clear()
    before = path.stat().st_mtime_ns
    store.put(PAGE)  # a sound object is left alone
    assert path.stat().st_mtime_ns == before and "rewriting" not in caplog.text


def test_a_corrupt_cached_snapshot_is_repaired_by_the_next_cycle(tmp_path, caplog):
    from docwatch.cycle import run_cycle

    srv = FaultServer()
    try:
        srv.set("/md/p.md", {"body": PAGE, "etag": '"v1"'})
        src = SourceConfig(name="p", url=srv.url("/learn/p"), markdown_url=srv.url("/md/p.md"), forms=["markdown"])
        cfg = build_config(tmp_path, [src])
        cfg.servicetags = []  # this test is about one page
        cat = Catalog(cfg.catalog_path)
        run_cycle(cfg, cat, deliver=False)
        store = SnapshotStore(cfg.snapshot_dir)
        digest = sha256(PAGE)
        assert store.has(digest)
        store.path_for(digest).write_bytes(gzip.compress(b"bit rot"))
        run_cycle(cfg, cat, deliver=False)  # 304 -> unusable cache -> refetch -> rewritten
        assert store.get(digest) == PAGE
        caplog.clear()
        hits = srv.hits["/md/p.md"]
        run_cycle(cfg, cat, deliver=False)
        assert srv.hits["/md/p.md"] == hits + 1  # one conditional GET, answered 304, no refetch
        assert "unusable" not in caplog.text
        cat.close()
    finally:
        srv.close()


def _catalog_with_fetches(tmp_path):
    """A real catalog whose fetch log holds one ok body and five suspicious ones for source s."""
    from docwatch.crawlstate import CrawlState

    cat = Catalog(tmp_path / "cat.db")
    state = CrawlState(cat.db)
    store = SnapshotStore(tmp_path / "snaps")
    res = FetchResult(url="http://x/p", status="ok", http_status=200)
    good = store.put(PAGE)
    state.log_fetch("s", res, "ok", digest=good, at="2025-01-01T00:00:00Z")
    bad = []
    for i in range(5):
        d = store.put(f"<html><title>Sign in {i}</title></html>".encode())
        bad.append(d)
        state.log_fetch("s", res, "suspicious", digest=d, error="sign-in page", at=f"2025-01-0{i + 2}T00:00:00Z")
    other = store.put(b"<html><title>Error</title></html>")
    state.log_fetch("t", res, "suspicious", digest=other, error="error page", at="2025-01-03T00:00:00Z")
    state.flush()
    return cat, store, good, bad, other


def test_suspicious_bodies_are_capped_per_source(tmp_path):
    cat, store, good, bad, other = _catalog_with_fetches(tmp_path)
    removed = prune_suspicious(cat.db, store, "s", keep=2)
    assert sorted(removed) == sorted(bad[:3])  # the three oldest go
    assert set(store.digests()) == {good, *bad[3:], other}
    assert prune_suspicious(cat.db, store, "s", keep=2) == []  # idempotent
    cat.close()


def test_gc_removes_only_unreferenced_objects(tmp_path):
    cat, store, good, bad, other = _catalog_with_fetches(tmp_path)
    orphan = store.put(b"# a body no row refers to\n")
    young = store.put(b"# stored a moment ago by a running cycle\n")
    old = time.time() - 7200
    for d in (orphan, *bad):
        os.utime(store.path_for(d), (old, old))
    tmp = store.path_for(orphan).parent / ".tmp-crashed"
    tmp.write_bytes(b"half")
    os.utime(tmp, (old, old))
    dry = collect_garbage(cat.db, store, keep_suspicious=1, dry_run=True)
    assert sorted(dry.removed) == sorted([orphan, *bad[:4]]) and store.has(orphan)
    report = collect_garbage(cat.db, store, keep_suspicious=1)
    assert set(store.digests()) == {good, bad[4], other, young}
    assert report.young == 1 and report.temp_files == 1 and not tmp.exists()
    assert {good, bad[4], other} <= referenced_digests(cat.db, 1)
    cat.close()


def test_gc_command_reads_the_catalog_without_writing(tmp_path):
    from docwatch.cli import main
    from docwatch.commands.maint_cmds import gc_cmd

    if main.get_command(None, "gc") is None:  # registered lazily by the CLI once listed there
        main.add_command(gc_cmd)
    cat, store, good, bad, other = _catalog_with_fetches(tmp_path)
    cat.close()
    orphan = store.put(b"# orphan\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'catalog_path = "{tmp_path / "cat.db"}"\nsnapshot_dir = "{tmp_path / "snaps"}"\n'
                   "[fetch]\nkeep_suspicious = 2\n")
    before = (tmp_path / "cat.db").read_bytes()
    result = CliRunner().invoke(main, ["--config", str(cfg), "gc", "--min-age", "0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["removed"] == 4 and out["referenced"] == 4  # the orphan and 3 old suspicious bodies
    assert not store.has(orphan) and store.has(good)
    assert (tmp_path / "cat.db").read_bytes() == before
    missing = CliRunner().invoke(main, ["--db", str(tmp_path / "nope.db"), "gc"])
    assert missing.exit_code == 2 and "no catalog" in missing.output


@pytest.mark.parametrize("bad", ["-0.1", "-3", "1.5", "nan"])
def test_guard_ratio_out_of_range_is_a_config_error(tmp_path, bad):
    from docwatch.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[guard]\nmax_removed_ratio = {bad}\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "status"])
    assert result.exit_code == 2 and "guard.max_removed_ratio" in result.output and "line 2" in result.output


def test_deeply_nested_toml_is_a_config_error(tmp_path):
    from docwatch.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text("a = " + "[" * 20000 + "]" * 20000 + "\n")
    result = CliRunner().invoke(main, ["--config", str(cfg), "status"])
    assert result.exit_code == 2 and "nesting is too deep" in result.output and "unexpected" not in result.output


@pytest.mark.parametrize("name", ["Upper", "a\nb", "../etc", "-dash", "a..b", ""])
def test_source_names_are_checked(name):
    from docwatch.config import check_source_name, parse_config
    from docwatch.errors import ConfigError, UsageError

    with pytest.raises(UsageError):
        check_source_name(name)
    with pytest.raises(ConfigError, match=r"sources\[0\]\.name"):
        parse_config({"sources": [{"name": name, "url": "https://learn.microsoft.com/azure/x"}]})
    assert check_source_name("azure-monitor.v2_x") == "azure-monitor.v2_x"
