"""The common case is cheap: a cycle where every page and include answers 304 costs one
request per URL, parses nothing and writes one transaction; the fetch log is pruned; the
parallel (process pool) and serial extraction paths give identical catalogs."""
from __future__ import annotations

from pathlib import Path

from docwatch import cycle
from docwatch.catalog import Catalog
from docwatch.cycle import run_cycle
from cycle_support import config, WriteCounter, counts, digest, fetch_log, serve_html, serve_markdown, source
from test_fetch_helpers import server  # noqa: F401 (server: a fixture)

MONITOR, ARC, APIM, ML = ("azure-monitor-network-access", "arc-servers-network-requirements",
                          "apim-virtual-network-reference", "azureml-behind-firewall")


def _sources(server, index: int):
    """Three real pages (one with nested includes), APIM also with its rendered form."""
    out = []
    for name, page in (("monitor", MONITOR), ("arc", ARC), ("ml", ML)):
        out.append(source(server, name, serve_markdown(server, page, index)))
    md = serve_markdown(server, APIM, index)
    serve_html(server, APIM, index, "/learn/apim")
    out.append(source(server, "apim", md, "/learn/apim", forms=("markdown", "html")))
    return out


def test_all_304_cycle_parses_nothing_and_writes_one_transaction(tmp_path, server):
    srcs = _sources(server, -1)
    cfg = config(tmp_path, srcs, parse_workers=1)
    cat = Catalog(cfg.catalog_path)
    first = run_cycle(cfg, cat)
    assert [o.status for o in first.outcomes] == ["first"] * 4
    before, hits = counts(cat), dict(server.hits)

    parsed = cycle.EXTRACTIONS["count"]
    writes = WriteCounter(cat.db.conn)
    again = run_cycle(cfg, cat)
    writes.stop()
    assert [o.status for o in again.outcomes] == ["duplicate"] * 4
    assert cycle.EXTRACTIONS["count"] == parsed  # nothing parsed
    assert writes.transactions == 1, [s[:90] for s in writes.statements if not s.lower().startswith(("select", "pragma"))]
    assert counts(cat) == before  # no version rows, no events
    delta = {p: server.hits[p] - hits.get(p, 0) for p in server.hits}
    assert set(delta.values()) == {1} or set(delta.values()) == {0, 1}
    assert delta["/learn/apim"] == 0  # unchanged markdown needs no page meta
    requested = [p for p, n in delta.items() if n]
    assert all(h.get("If-None-Match") for p, h in server.requests[-len(requested):])  # all conditional
    log = fetch_log(cat.db, limit=len(requested))
    assert {r.status for r in log} == {"not-modified"}
    cat.close()


def test_fetch_log_is_pruned_to_its_retention(tmp_path, server):
    srcs = _sources(server, -1)[:1]
    cfg = config(tmp_path, srcs, fetch_log_days=7)
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    cat.db.execute("UPDATE fetch_log SET time = '2020-01-01T00:00:00Z'")  # an old row
    run_cycle(cfg, cat)
    rows = fetch_log(cat.db)
    assert rows and all(r.time > "2020-01-02" for r in rows)
    cat.close()


def test_process_pool_and_serial_paths_give_identical_catalogs(tmp_path, server):
    """Two cycles (the previous version of each page, then the newest), once serial, once in a
    2-process pool: same rules, rule versions and change events."""
    dbs = {}
    for workers in (1, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        for index in (-2, -1):
            srcs = _sources(server, index)
            cfg = config(d, srcs, parse_workers=workers)
            cat = Catalog(cfg.catalog_path)
            pooled = cycle.EXTRACTIONS["pooled"]
            report = run_cycle(cfg, cat)
            cat.close()
            assert not report.failed, report.outcomes
            assert (cycle.EXTRACTIONS["pooled"] > pooled) == (workers > 1)  # real pages go to the workers
        dbs[workers] = digest(cfg.catalog_path)
    serial, pooled = dbs[1], dbs[2]
    assert serial["change_events"]  # the second cycle found real changes
    assert serial == pooled


def test_pages_with_includes_or_meta_are_snapshotted_as_bundles(tmp_path, server):
    """A page with includes (or page meta) is stored with them, so a parser upgrade can re-extract
    it as it was; a lone page is its own snapshot."""
    from docwatch.pipeline import load_bundle
    from docwatch.snapshots import SnapshotStore

    server.set("/md/lone.md", {"body": (Path(__file__).parent / "synthetic_shape_ports.md").read_bytes()})
    srcs = [*_sources(server, -1), source(server, "lone", "/md/lone.md")]
    cfg = config(tmp_path, srcs, parse_workers=2)
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    snaps = dict(cat.db.execute("SELECT source, snapshot_id FROM versions").fetchall())
    cat.close()
    store = SnapshotStore(cfg.snapshot_dir)
    bundled = {name for name, sid in snaps.items() if load_bundle(store, sid)["includes"]}
    assert bundled == {"arc", "ml", "apim"}  # the pages here with includes
    assert load_bundle(store, snaps["apim"])["meta"]  # and the rendered page's meta is kept with it
    assert store.get(snaps["lone"]) == (Path(__file__).parent / "synthetic_shape_ports.md").read_bytes()
    assert load_bundle(store, snaps["monitor"])["path"] is None  # a lone page: the page's own bytes
