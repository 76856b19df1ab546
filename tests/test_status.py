"""``docwatch status`` after real cycles: form used and degraded (the preferred form failed),
failure streak, coverage counts and current rules per source, read through the crawl state's
public read model, without writing to the catalog."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.catalog import Catalog
from docwatch.cli import main
from docwatch.crawlstate import status_report
from docwatch.cycle import run_cycle
from cycle_support import config, serve_html, serve_markdown, source
from test_fetch_helpers import FaultServer

APIM, MONITOR = "apim-virtual-network-reference", "azure-monitor-network-access"


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.close()


def _files(db: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in Path(db).parent.glob(Path(db).name + "*") if p.suffix != ".lock"}


@pytest.fixture
def scraped(tmp_path, server):
    """apim read from its rendered page (markdown 500), monitor failing its second cycle."""
    md = serve_markdown(server, APIM, 1)
    serve_html(server, APIM, 1, "/learn/apim")
    mon = serve_markdown(server, MONITOR, -1)
    cfg = config(tmp_path, [source(server, "apim", md, "/learn/apim", forms=("markdown", "html")),
                            source(server, "monitor", mon)], retries=0)
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    server.set(md, {"status": 500, "body": b"oops"})
    server.set(mon, {"status": 503, "body": b"busy"})
    run_cycle(cfg, cat)
    cat.close()
    return cfg


def test_status_json_shows_degraded_form_streak_and_coverage(scraped):
    before = _files(scraped.catalog_path)
    r = CliRunner().invoke(main, ["--db", scraped.catalog_path, "status", "--json"])
    assert r.exit_code == 0, r.output
    rows = {s["source"]: s for s in json.loads(r.output)["sources"]}
    apim, mon = rows["apim"], rows["monitor"]
    assert apim["form"] == "html" and "preferred form markdown failed" in apim["degraded"]
    assert apim["rules"] > 20 and apim["last_error"] is None and apim["fail_streak"] == 0
    assert apim["coverage"] and apim["coverage"].get("rules", apim["coverage"].get("in_rules", 0)) > 0
    assert mon["last_status"] == "failed" and "HTTP 503" in mon["last_error"] and mon["fail_streak"] == 1
    assert mon["rules"] > 10 and mon["last_success"]  # its rules are kept
    assert _files(scraped.catalog_path) == before  # a read command writes nothing


def test_status_table_names_the_degraded_source(scraped):
    r = CliRunner().invoke(main, ["--db", scraped.catalog_path, "status"])
    assert r.exit_code == 0, r.output
    assert "apim: degraded: preferred form markdown failed" in r.output
    assert "monitor: fetch failing 1 cycle(s) in a row" in r.output


def test_status_reads_a_catalog_without_crawl_tables(scraped):
    """A catalog whose crawl tables are not there (made before migration 5 and opened by a
    reader, which never migrates) reads as no crawl state, not an error."""
    conn = sqlite3.connect(scraped.catalog_path)
    for t in ("http_cache", "fetch_log", "source_state", "daemon_state"):
        conn.execute(f"DROP TABLE {t}")
    conn.commit()
    conn.close()
    cat = Catalog(scraped.catalog_path, create=False)
    try:
        report = status_report(cat, ["apim"])
    finally:
        cat.close()
    rows = {s.source: s for s in report.sources}
    assert rows["apim"].configured and rows["apim"].rules > 20 and rows["apim"].last_status is None
    assert rows["monitor"].rules > 10 and not rows["monitor"].configured


def test_coverage_is_stored_shown_and_a_drop_is_warned(tmp_path, server, caplog):
    """v2 of a made-up page adds a table naming a host in no rule: the cycle log warns that
    coverage dropped, and status shows the new counts."""
    here = Path(__file__).parent
    server.set("/md/widget.md", {"body": (here / "synthetic_cycle_cov_v1.md").read_bytes()})
    cfg = config(tmp_path, [source(server, "widget", "/md/widget.md")])
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    server.set("/md/widget.md", {"body": (here / "synthetic_cycle_cov_v2.md").read_bytes()})
    with caplog.at_level("WARNING", logger="docwatch.cycle"):
        run_cycle(cfg, cat)
    cat.close()
    assert any("widget: coverage dropped" in r.getMessage() and "1 unparsed" in r.getMessage() for r in caplog.records)
    r = CliRunner().invoke(main, ["--db", cfg.catalog_path, "status", "--json"])
    cov = {s["source"]: s for s in json.loads(r.output)["sources"]}["widget"]["coverage"]
    assert cov["unparsed"] == 1 and cov["in_rules"] == 2 and cov["seen"] == 3


def test_status_shows_an_alert_channel_held_by_a_failed_delivery(tmp_path, server, monkeypatch):
    from docwatch.config import load_config

    monkeypatch.setenv("DOCWATCH_TEST_HOOK_SECRET", "s3cret-for-tests")
    first = serve_markdown(server, MONITOR, -2)
    # the alert receiver is the page server, which refuses POSTs (HTTP 501): every delivery fails
    toml = tmp_path / "config.toml"
    toml.write_text(
        f'catalog_path = "{tmp_path / "c.db"}"\nsnapshot_dir = "{tmp_path / "s"}"\n'
        f'[fetch]\nretries = 0\nbackoff = 0.001\nparse_workers = 1\nallowed_hosts = ["127.0.0.1:{server.port}"]\n'
        f'[[sources]]\nname = "monitor"\nurl = "{server.url("/learn/monitor")}"\n'
        f'markdown_url = "{server.url(first)}"\nforms = ["markdown"]\n'
        f'[alerts.hook]\nkind = "webhook"\nurl = "{server.url("/hook")}"\nsecret_env = "DOCWATCH_TEST_HOOK_SECRET"\n'
        'max_attempts = 1\nmin_severity = "low"\n')
    cfg = load_config(toml)
    cfg.servicetags = []
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    serve_markdown(server, MONITOR, -1)  # a real new version: change events for the channel
    run_cycle(cfg, cat)
    cat.close()
    r = CliRunner().invoke(main, ["--config", str(toml), "status"])
    assert r.exit_code == 0, r.output
    assert "alert channels:" in r.output and "hook: HELD since" in r.output
    r = CliRunner().invoke(main, ["--config", str(toml), "status", "--json"])
    (hook,) = json.loads(r.output)["channels"]
    assert hook["name"] == "hook" and hook["state"] == "held" and hook["failed"] == 1
