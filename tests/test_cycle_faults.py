"""The cycle under faults, on real corpus pages served by the local fault server: markdown 500
with the rendered page fine, an include that 404s, repeated fetch failures, a cycle deadline.
Each: 0 removed events, current rules kept, the next healthy cycle recovers."""
from __future__ import annotations

import json

from click.testing import CliRunner

from docwatch.catalog import Catalog
from docwatch.cli import main
from docwatch.crawlstate import CrawlState
from docwatch.cycle import run_cycle
from cycle_support import config, counts, serve_html, serve_markdown, source
from test_fetch_helpers import server  # noqa: F401 (server: a fixture)

APIM, ARC, MONITOR = "apim-virtual-network-reference", "arc-servers-network-requirements", "azure-monitor-network-access"


def _status(cfg) -> dict:
    r = CliRunner().invoke(main, ["--db", cfg.catalog_path, "status", "--json"])
    assert r.exit_code == 0, r.output
    return {s["source"]: s for s in json.loads(r.output)["sources"]}


def test_markdown_500_with_html_fine_gives_no_removals_and_a_degraded_status(tmp_path, server):
    md = serve_markdown(server, APIM, 1)
    serve_html(server, APIM, 1, "/learn/apim")
    src = source(server, "apim", md, "/learn/apim", forms=("markdown", "html"))
    cfg = config(tmp_path, [src])
    cat = Catalog(cfg.catalog_path)
    assert run_cycle(cfg, cat).outcomes[0].status == "first"
    baseline, keys = counts(cat), {r.key for r in cat.current_rules("apim")}

    server.set(md, {"status": 500, "body": b"oops"})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.form == "html" and out.degraded and "HTTP 500" in out.degraded
    after = counts(cat)
    assert after["removed"] == 0 and {r.key for r in cat.current_rules("apim")} == keys
    form = cat.db.execute("SELECT form FROM versions ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert form == "html"  # the version says which form it was read from
    st = _status(cfg)["apim"]
    assert st["form"] == "html" and st["degraded"].startswith("preferred form markdown failed")

    serve_markdown(server, APIM, 1)  # markdown is back: healthy, nothing removed either way
    back = run_cycle(cfg, cat).outcomes[0]
    assert back.form == "markdown" and back.degraded is None
    assert counts(cat)["removed"] == 0 and counts(cat)["current"] == baseline["current"]
    assert _status(cfg)["apim"]["degraded"] is None
    cat.close()


def test_a_new_include_that_404s_fails_the_form_never_removals(tmp_path, server):
    md = serve_markdown(server, ARC, -1)
    src = source(server, "arc", md)
    cfg = config(tmp_path, [src])
    cat = Catalog(cfg.catalog_path)
    assert run_cycle(cfg, cat).outcomes[0].status == "first"
    baseline = counts(cat)

    # the page now points to a new include path that does not exist (yet)
    page = server.routes[md][0]["body"].replace(b"includes/network-requirements.md", b"includes/network-reqs-v2.md")
    server.set(md, {"body": page})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "failed" and "network-reqs-v2.md" in out.error and "missing" in out.error
    after = counts(cat)
    assert after["removed"] == 0 and after["rule_versions"] == baseline["rule_versions"]
    assert after["anomalies"] == 0  # one failed cycle is a warning, not an anomaly
    cat.close()


def test_fetch_failures_become_an_anomaly_only_after_k_cycles(tmp_path, server):
    md = serve_markdown(server, MONITOR, -1)
    cfg = config(tmp_path, [source(server, "monitor", md)], retries=0)
    cfg.guard.failure_cycles = 3
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    good = server.routes[md]
    seen = []
    for _ in range(4):
        server.set(md, {"status": 503, "body": b"busy"})
        out = run_cycle(cfg, cat).outcomes[0]
        assert out.status == "failed"
        seen.append(counts(cat)["anomalies"])
    assert seen == [0, 0, 1, 1]  # the third failed cycle in a row; one event per streak
    assert CrawlState(cat.db).source("monitor").fail_streak == 4
    server.set(md, *good)
    assert run_cycle(cfg, cat).outcomes[0].status in ("duplicate", "unchanged")
    assert CrawlState(cat.db).source("monitor").fail_streak == 0
    assert counts(cat)["removed"] == 0
    cat.close()


def test_sources_not_done_by_the_cycle_deadline_fail_with_that_reason(tmp_path, server):
    fast = serve_markdown(server, MONITOR, -1)
    server.set("/slow.md", {"action": "sleep", "seconds": 4, "body": b"# late\n"})
    srcs = [source(server, "fast", fast), source(server, "slow", "/slow.md")]
    cfg = config(tmp_path, srcs, cycle_timeout=1.0, read_timeout=10.0, retries=0)
    cat = Catalog(cfg.catalog_path)
    report = run_cycle(cfg, cat)
    got = {o.source: o for o in report.outcomes}
    assert got["fast"].status == "first"
    assert got["slow"].status == "failed" and "deadline" in got["slow"].error
    assert counts(cat)["removed"] == 0
    cat.close()


def test_a_shutdown_cancelling_fetches_is_no_failure_streak(tmp_path, server):
    import threading

    from docwatch.fetch import cancel_all

    server.set("/slow.md", {"action": "sleep", "seconds": 3, "body": b"# late\n"})
    cfg = config(tmp_path, [source(server, "slow", "/slow.md")], read_timeout=10.0, retries=0)
    cfg.guard.failure_cycles = 1  # a real failure would be an anomaly at once
    cat = Catalog(cfg.catalog_path)
    timer = threading.Timer(0.5, cancel_all, args=("shutting down",))
    timer.start()
    out = run_cycle(cfg, cat).outcomes[0]
    timer.join()
    assert out.status == "failed" and "shutting down" in out.error
    assert CrawlState(cat.db).source("slow").fail_streak == 0 and counts(cat)["anomalies"] == 0
    cat.close()


def test_scrape_runs_the_service_tag_files_with_the_pages(tmp_path, server, corpus_dir):
    """A [[servicetags]] entry is fetched in the same cycle as the pages, its outcome reported
    like a page's; `--source` of a page leaves it out."""
    import gzip

    tags = gzip.decompress((corpus_dir / "servicetags" / "ServiceTags_AzureGovernment_2026-03-15.json.gz").read_bytes())
    server.set("/tags/gov.json", {"body": tags, "headers": {"Content-Type": "application/json"}})
    md = serve_markdown(server, MONITOR, -1)
    toml = tmp_path / "config.toml"
    toml.write_text(
        f'catalog_path = "{tmp_path / "c.db"}"\nsnapshot_dir = "{tmp_path / "s"}"\n'
        f'[fetch]\nretries = 0\nparse_workers = 1\nallowed_hosts = ["127.0.0.1:{server.port}"]\n'
        f'[[sources]]\nname = "monitor"\nurl = "{server.url("/learn/monitor")}"\n'
        f'markdown_url = "{server.url(md)}"\nforms = ["markdown"]\n'
        f'[[servicetags]]\ncloud = "usgov"\njson_url = "{server.url("/tags/gov.json")}"\n')
    r = CliRunner().invoke(main, ["--config", str(toml), "scrape", "--source", "monitor"])
    assert r.exit_code == 0, r.output
    assert "1 sources:" in r.output and server.hits["/tags/gov.json"] == 0
    r = CliRunner().invoke(main, ["--config", str(toml), "scrape"])
    assert r.exit_code == 0, r.output
    assert "servicetags-usgov: first" in r.output and "2 sources:" in r.output
    assert server.hits["/tags/gov.json"] == 1


def test_configured_exports_are_written_after_a_changing_cycle_only(tmp_path, server):
    md = serve_markdown(server, MONITOR, -1)
    out = tmp_path / "endpoints.csv"
    toml = tmp_path / "config.toml"
    toml.write_text(
        f'catalog_path = "{tmp_path / "c.db"}"\nsnapshot_dir = "{tmp_path / "s"}"\n'
        f'[fetch]\nretries = 0\nparse_workers = 1\nallowed_hosts = ["127.0.0.1:{server.port}"]\n'
        f'[[sources]]\nname = "monitor"\nurl = "{server.url("/learn/monitor")}"\n'
        f'markdown_url = "{server.url(md)}"\nforms = ["markdown"]\n'
        f'[[exports]]\nformat = "csv"\npath = "{out}"\n')
    r = CliRunner().invoke(main, ["--config", str(toml), "scrape"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "monitor" in text and len(text.splitlines()) > 10  # one row per current rule
    out.unlink()
    r = CliRunner().invoke(main, ["--config", str(toml), "scrape"])  # nothing changed: not rewritten
    assert r.exit_code == 0 and not out.exists(), r.output
