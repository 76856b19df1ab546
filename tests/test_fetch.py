"""Fetching against a real local HTTP server serving corpus pages: conditional GET, includes,
and the fault matrix (each fault: retries, fetch log row, no catalog change, no removal
event, recovery on the next cycle)."""
from __future__ import annotations

import asyncio

import pytest

from docwatch.catalog import Catalog
from docwatch.config import SourceConfig
from docwatch.crawlstate import CrawlState
from docwatch.cycle import run_cycle
from docwatch.fetch import (Fetcher, doc_commit, include_refs, looks_like_error_page, markdown_candidates,
                            page_meta, resolve_include, url_refusal)
from conftest import corpus_versions
from test_fetch_helpers import build_config, server  # noqa: F401 (server: a fixture)

MD_PATH = "/MicrosoftDocs/azure-monitor-docs/main/articles/azure-monitor/fundamentals/azure-monitor-network-access.md"


@pytest.fixture
def monitor_pages():
    vs = corpus_versions("azure-monitor-network-access")
    return vs[-2]["file"].read_bytes(), vs[-1]["file"].read_bytes()


def _setup(tmp_path, server, **fetch_kw):
    src = SourceConfig(name="monitor", url=server.url("/learn/monitor"), markdown_url=server.url(MD_PATH),
                       forms=["markdown"])
    cfg = build_config(tmp_path, [src], **fetch_kw)
    cfg.guard.failure_cycles = 1  # these tests look at one faulty cycle: its anomaly comes at once
    return cfg


def _counts(cat: Catalog) -> dict:
    q = lambda sql: cat.db.execute(sql).fetchone()[0]  # noqa: E731
    return {"versions": q("SELECT count(*) FROM versions"), "rule_versions": q("SELECT count(*) FROM rule_versions"),
            "removed": q("SELECT count(*) FROM change_events WHERE kind = 'removed'"),
            "anomalies": q("SELECT count(*) FROM change_events WHERE kind = 'anomaly'"),
            "current": q("SELECT count(*) FROM current_rules")}


def _log(cat: Catalog) -> list[dict]:
    cur = cat.db.execute("SELECT * FROM fetch_log ORDER BY id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


STUB = b"<!-- include not kept in the corpus -->\n"


def serve_tree(server, base: str, root) -> None:
    """Serve a corpus checkout under ``base``; includes the corpus does not keep are served as a
    stub comment (a missing include fails the markdown form, see test_sourcefetch.py)."""
    served = {}
    for f in root.rglob("*.md"):
        served[base + str(f.relative_to(root))] = f.read_bytes()
    for path, body in list(served.items()):
        for ref in include_refs(body.decode("utf-8", "replace")):
            served.setdefault(resolve_include(path, ref), STUB)
    for path, body in served.items():
        server.set(path, {"body": body})


def test_conditional_get_304_is_not_parsed(tmp_path, server, monitor_pages, monkeypatch):
    old, new = monitor_pages
    server.set(MD_PATH, {"body": old, "etag": '"v1"', "headers": {"Last-Modified": "Mon, 18 Aug 2025 00:00:00 GMT"}})
    cfg = _setup(tmp_path, server)
    cat = Catalog(cfg.catalog_path)
    r1 = run_cycle(cfg, cat)
    assert [o.status for o in r1.outcomes] == ["first"]
    before = _counts(cat)
    assert before["current"] > 10

    import docwatch.cycle as cycle

    def no_parse(*_a, **_kw):
        raise AssertionError("a 304 must not be parsed")

    monkeypatch.setattr(cycle, "extract_parts", no_parse)
    r2 = run_cycle(cfg, cat)
    assert [o.status for o in r2.outcomes] == ["duplicate"]
    sent = server.requests[-1][1]
    assert sent.get("If-None-Match") == '"v1"'
    assert sent.get("If-Modified-Since") == "Mon, 18 Aug 2025 00:00:00 GMT"
    assert _log(cat)[-1]["status"] == "not-modified" and _log(cat)[-1]["http_status"] == 304
    assert _counts(cat) == before
    monkeypatch.undo()

    # a real new version of the page is ingested and diffed
    server.set(MD_PATH, {"body": new, "etag": '"v2"'})
    r3 = run_cycle(cfg, cat)
    assert r3.outcomes[0].status in ("changed", "unchanged")
    assert _counts(cat)["versions"] == before["versions"] + 1
    assert CrawlState(cat.db).cache(server.url(MD_PATH)).etag == '"v2"'
    cat.close()


SIGN_IN = (b"<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
           b"<form method='post' action='https://login.microsoftonline.com/common/login'></form></body></html>")
NO_TABLES = b"---\ntitle: Azure Monitor\n---\n# Azure Monitor endpoint access\n\nThis page moved. See the new article.\n"

# fault → (responses, expected requests, outcome status, words expected in the error)
FAULTS = {
    "timeout": ([{"action": "sleep", "seconds": 1.5, "body": b"late"}], 3, "failed", "timeout"),
    "connection-reset": ([{"action": "reset"}], 3, "failed", "connection error"),
    "http-500": ([{"status": 500, "body": b"oops"}], 3, "failed", "HTTP 500"),
    "http-503-retry-after": ([{"status": 503, "body": b"busy", "headers": {"Retry-After": "1"}}], 3, "failed", "HTTP 503"),
    "http-429": ([{"status": 429, "body": b"slow down", "headers": {"Retry-After": "2"}}], 3, "failed", "HTTP 429"),
    "truncated": ([{"action": "truncate", "body": b"# partial page\n\n| Host | Port |\n"}], 3, "failed", "truncated"),
    "empty-200": ([{"body": b""}], 1, "failed", "empty body"),
    "sign-in-page": ([{"body": SIGN_IN, "headers": {"Content-Type": "text/html"}}], 1, "failed", "sign-in page"),
    "non-text": ([{"body": b"\x89PNG\r\n\x1a\n\x00\x00", "headers": {"Content-Type": "image/png"}}], 1, "failed", "non-text"),
    "binary-as-text": ([{"body": b"\x00\x01\x02\x03" * 100}], 1, "failed", "non-text body"),
    "redirect-loop": ([{"status": 302, "headers": {"Location": "/loop-b"}}], 1, "failed", "redirect loop"),
    "disallowed-redirect": ([{"status": 301, "headers": {"Location": "http://evil.example.com/x.md"}}], 1, "failed",
                            "not in fetch.allowed_hosts"),
    "private-ip-redirect": ([{"status": 302, "headers": {"Location": "http://169.254.169.254/latest/meta-data"}}], 1,
                            "failed", "IP address 169.254.169.254 port 80 not allowed"),
    "oversized": ([{"body": b"x" * 300_000}], 1, "failed", "oversized"),
    "page-without-tables": ([{"body": NO_TABLES}], 1, "anomaly", "no tables"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_matrix(tmp_path, server, monitor_pages, fault):
    good, _ = monitor_pages
    responses, requests, status, words = FAULTS[fault]
    cfg = _setup(tmp_path, server, max_bytes=200_000)
    server.set(MD_PATH, {"body": good})
    server.set("/loop-b", {"status": 302, "headers": {"Location": MD_PATH}})
    cat = Catalog(cfg.catalog_path)
    assert run_cycle(cfg, cat).outcomes[0].status == "first"
    baseline = _counts(cat)
    current = {r.key for r in cat.current_rules("monitor")}

    server.set(MD_PATH, *responses)
    report = run_cycle(cfg, cat)
    out = report.outcomes[0]
    assert out.status == status, out
    assert words in (out.error or ""), out.error
    assert server.hits[MD_PATH] == requests  # retried (or not) as the fault deserves
    after = _counts(cat)
    assert after["removed"] == 0 and after["current"] == baseline["current"]
    assert after["rule_versions"] == baseline["rule_versions"]
    assert after["anomalies"] == baseline["anomalies"] + 1
    assert {r.key for r in cat.current_rules("monitor")} == current
    row = _log(cat)[-1]
    assert row["source"] == "monitor" and row["url"] == server.url(MD_PATH)
    if status == "failed":
        expected = "suspicious" if fault in ("sign-in-page", "binary-as-text") else "failed"
        assert row["status"] == expected and words in row["error"]
        assert row["attempts"] == requests
        assert report.all_failed
    else:  # fetched fine; the catalog's guard judged the content
        assert row["status"] == "ok" and not report.all_failed
    st = CrawlState(cat.db).sources()["monitor"]
    assert st.last_status == status and st.last_error

    # recovery: the page is back, nothing new is inferred, the source is healthy again
    server.set(MD_PATH, {"body": good})
    back = run_cycle(cfg, cat).outcomes[0]
    assert back.status in ("duplicate", "unchanged"), back
    final = _counts(cat)
    assert final["removed"] == 0 and final["current"] == baseline["current"]
    assert final["rule_versions"] == baseline["rule_versions"]
    st = CrawlState(cat.db).sources()["monitor"]
    assert st.last_status == back.status and st.last_success >= st.last_error_at
    cat.close()


def test_non_utf8_bytes_are_decoded_not_fatal(tmp_path, server, monitor_pages):
    good, _ = monitor_pages
    cfg = _setup(tmp_path, server)
    server.set(MD_PATH, {"body": good})
    cat = Catalog(cfg.catalog_path)
    run_cycle(cfg, cat)
    baseline = _counts(cat)
    latin1 = good + "\n\nCaf\u00e9 d\u00e9j\u00e0 vu.\n".encode("latin-1")
    server.set(MD_PATH, {"body": latin1, "headers": {"Content-Type": "text/plain"}})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "unchanged"  # same rules; a cosmetic version, no events
    after = _counts(cat)
    assert after["current"] == baseline["current"] and after["removed"] == 0
    cat.close()


def test_retry_then_success_counts_attempts(tmp_path, server, monitor_pages):
    good, _ = monitor_pages
    cfg = _setup(tmp_path, server)
    server.set(MD_PATH, {"status": 503, "body": b"busy", "headers": {"Retry-After": "1"}}, {"action": "reset"},
               {"body": good})
    cat = Catalog(cfg.catalog_path)
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "first"
    assert server.hits[MD_PATH] == 3
    row = _log(cat)[-1]
    assert row["status"] == "ok" and row["attempts"] == 3 and row["bytes"] == len(good)
    cat.close()


def test_includes_are_fetched_relative_to_the_markdown(tmp_path, server):
    versions = corpus_versions("arc-servers-network-requirements")
    v = versions[-1]
    root = v["file"].parents[3]  # version folder: <v>/articles/azure-arc/servers/x.md
    base = "/MicrosoftDocs/azure-management-docs/main/"
    serve_tree(server, base, root)
    src = SourceConfig(name="arc", url=server.url("/learn/arc"),
                       markdown_url=server.url(base + "articles/azure-arc/servers/network-requirements.md"),
                       forms=["markdown"])
    cfg = build_config(tmp_path, [src])
    cat = Catalog(cfg.catalog_path)
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "first" and out.rules > 10
    fetched = {p for p, _h in server.requests}
    assert base + "articles/azure-arc/servers/includes/network-requirements.md" in fetched
    # the rule tables live in the include: without it the page alone has none of them
    sections = {r.section and r.section[0] for r in cat.current_rules("arc")}
    assert sections
    # second cycle: identical page + includes → no parse, no new version
    n = _counts(cat)["versions"]
    assert run_cycle(cfg, cat).outcomes[0].status == "duplicate"
    assert _counts(cat)["versions"] == n
    cat.close()


def test_backoff_honours_retry_after_with_cap():
    from docwatch.config import FetchConfig

    f = Fetcher(FetchConfig(backoff=0.01, backoff_max=0.05, retry_after_max=60))
    assert f.backoff_delay(0, 5) >= 5
    assert f.backoff_delay(3, None) <= 0.05
    capped = Fetcher(FetchConfig(retry_after_max=2))
    assert capped.backoff_delay(0, 3600) <= 2
    asyncio.run(f.aclose())
    asyncio.run(capped.aclose())


def test_url_refusals():
    allowed = ["learn.microsoft.com", "127.0.0.1:8080", "*.example.org"]
    assert url_refusal("https://learn.microsoft.com/en-us/azure/x", allowed) is None
    assert url_refusal("http://127.0.0.1:8080/x", allowed) is None
    assert "port 8081" in url_refusal("http://127.0.0.1:8081/x", allowed)
    assert url_refusal("https://a.example.org/x", allowed) is None
    assert "scheme" in url_refusal("file:///etc/passwd", allowed)
    assert "scheme" in url_refusal("ftp://learn.microsoft.com/x", allowed)
    assert "not in fetch.allowed_hosts" in url_refusal("https://evil.com/x", allowed)
    assert "IP address" in url_refusal("http://10.0.0.1/x", allowed)
    assert "IP address" in url_refusal("http://[::1]/x", allowed)


def test_discovery_from_rendered_learn_html(corpus_dir):
    page = next((corpus_dir / "rendered" / "azureml-behind-firewall").glob("2025-04-03_*.html"))
    meta = page_meta(page.read_text(encoding="utf-8"))
    assert markdown_candidates(meta["original_content_git_url"]) == [
        "https://raw.githubusercontent.com/MicrosoftDocs/azure-ai-docs/live/articles/machine-learning/"
        "how-to-access-azureml-behind-firewall.md"]
    assert doc_commit(meta).startswith("43dc14ea7c")
    genuine = (corpus_dir / "html" / "mysql-server-parameters.html").read_text(encoding="utf-8")
    cands = markdown_candidates(page_meta(genuine)["original_content_git_url"])
    assert cands[0].startswith("https://raw.githubusercontent.com/MicrosoftDocs/azure-databases-docs-pr/live/")
    assert cands[1].startswith("https://raw.githubusercontent.com/MicrosoftDocs/azure-databases-docs/main/")
    # a genuine Learn page carries the sign-in banner but is not a sign-in page
    assert looks_like_error_page(genuine, "html") is None
    assert "sign-in" in looks_like_error_page(SIGN_IN.decode(), "markdown")
    assert "HTML page" in looks_like_error_page(genuine, "markdown")


def test_include_refs_resolve_like_the_parser(seeds_dir):
    text = (seeds_dir / "002_f775d9f0e224927a.txt").read_text(encoding="utf-8")
    refs = include_refs(text)
    assert "../../includes/api-management-availability-premium-dev.md" in refs
    assert resolve_include("/MicrosoftDocs/azure-docs/main/articles/api-management/virtual-network-reference.md",
                           refs[0]) == "/MicrosoftDocs/azure-docs/main/includes/api-management-availability-premium-dev.md"


def _azureml(corpus_dir):
    v = next(v for v in corpus_versions("azureml-behind-firewall") if v["version"].startswith("2025-04-03"))
    html = (corpus_dir / "rendered" / "azureml-behind-firewall" / f"{v['version']}.html").read_bytes()
    return v, html


def test_html_meta_enriches_the_markdown_version(tmp_path, server, corpus_dir):
    v, html = _azureml(corpus_dir)
    server.set("/learn/ml", {"body": html, "headers": {"Content-Type": "text/html; charset=utf-8"}})
    root = v["file"].parents[2]  # <version>/articles/machine-learning/x.md
    serve_tree(server, "/raw/", root)
    src = SourceConfig(name="ml", url=server.url("/learn/ml"),
                       markdown_url=server.url("/raw/" + str(v["file"].relative_to(root))), forms=["markdown", "html"])
    cfg = build_config(tmp_path, [src])
    cat = Catalog(cfg.catalog_path)
    out = run_cycle(cfg, cat).outcomes[0]
    assert (out.status, out.form) == ("first", "markdown") and out.rules > 20
    row = cat.db.execute("SELECT doc_commit, source_url, page_url FROM versions").fetchone()
    assert row[0] == v["commit"]  # from the Learn page's git_commit_id meta
    assert row[1].startswith("https://github.com/MicrosoftDocs/azure-ai-docs/blob/live/")
    assert row[2] == server.url("/learn/ml")
    cat.close()


def test_discovered_markdown_refused_falls_back_to_html(tmp_path, server, corpus_dir):
    """No markdown_url: the page's original_content_git_url names raw.githubusercontent.com, which
    this config does not allow (and a test never goes online): the rendered page is parsed instead."""
    v, html = _azureml(corpus_dir)
    server.set("/learn/ml", {"body": html, "headers": {"Content-Type": "text/html; charset=utf-8"}})
    src = SourceConfig(name="ml", url=server.url("/learn/ml"), forms=["markdown", "html"])
    cfg = build_config(tmp_path, [src], allowed_hosts=["127.0.0.1"])
    cat = Catalog(cfg.catalog_path)
    out = run_cycle(cfg, cat).outcomes[0]
    assert (out.status, out.form) == ("first", "html") and out.rules > 20
    assert set(server.hits) == {"/learn/ml"}
    cat.close()


def test_failed_or_missing_include_fails_the_source(tmp_path, server):
    v = corpus_versions("arc-servers-network-requirements")[-1]
    root = v["file"].parents[3]
    base = "/MicrosoftDocs/azure-management-docs/main/"
    serve_tree(server, base, root)
    inc = base + "articles/azure-arc/servers/includes/network-requirements.md"
    src = SourceConfig(name="arc", url=server.url("/learn/arc"),
                       markdown_url=server.url(base + "articles/azure-arc/servers/network-requirements.md"),
                       forms=["markdown"])
    cfg = build_config(tmp_path, [src])
    cat = Catalog(cfg.catalog_path)
    assert run_cycle(cfg, cat).outcomes[0].status == "first"
    baseline = _counts(cat)
    server.set(inc, {"status": 500, "body": b"oops"})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "failed" and "include" in out.error and "HTTP 500" in out.error
    assert server.hits[inc] == 3  # retried like any fetch
    after = _counts(cat)
    assert after["removed"] == 0 and after["rule_versions"] == baseline["rule_versions"]
    cat.close()

    # an include fetched before that 404s now is suspicious too: no removals, and the next
    # cycle with the include back recovers
    cat = Catalog(cfg.catalog_path)
    server.set(inc, {"status": 404, "body": b"404: Not Found"})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "failed" and "HTTP 404" in out.error
    assert _counts(cat)["removed"] == 0 and _counts(cat)["rule_versions"] == baseline["rule_versions"]
    server.set(inc, {"body": (root / "articles/azure-arc/servers/includes/network-requirements.md").read_bytes()})
    assert run_cycle(cfg, cat).outcomes[0].status in ("unchanged", "duplicate")
    cat.close()

    # on a new source a missing include (404) fails the markdown form too (issue 13): its
    # rules would otherwise read as removed once it appears or disappears
    (tmp_path / "b").mkdir()
    fresh = build_config(tmp_path / "b", [src])
    server.set(inc, {"status": 404, "body": b"404: Not Found"})
    cat = Catalog(fresh.catalog_path)
    out = run_cycle(fresh, cat).outcomes[0]
    assert out.status == "failed" and _counts(cat)["versions"] == 0
    cat.close()


@pytest.mark.parametrize("concurrency,per_host,expected", [(8, 2, 2), (3, 8, 3)])
def test_concurrency_limits_hold(tmp_path, server, concurrency, per_host, expected):
    page = b"# Page\n\n| Host | Port |\n|---|---|\n| a.example.com | 443 |\n"
    sources = []
    for i in range(8):
        server.set(f"/md/{i}.md", {"body": page, "delay": 0.15})
        sources.append(SourceConfig(name=f"s{i}", url=server.url(f"/learn/{i}"), markdown_url=server.url(f"/md/{i}.md"),
                                    forms=["markdown"]))
    cfg = build_config(tmp_path, sources, concurrency=concurrency, per_host=per_host)
    cat = Catalog(cfg.catalog_path)
    report = run_cycle(cfg, cat)
    assert report.changed == 8
    assert server.max_inflight == expected  # reached, never exceeded
    cat.close()


def test_redirects_are_followed_hop_by_hop_up_to_the_limit(tmp_path, server, monitor_pages):
    good, _ = monitor_pages
    cfg = _setup(tmp_path, server, max_redirects=2)
    server.set(MD_PATH, {"status": 301, "headers": {"Location": "/hop1"}})
    server.set("/hop1", {"status": 302, "headers": {"Location": server.url("/hop2")}})
    server.set("/hop2", {"body": good})
    cat = Catalog(cfg.catalog_path)
    assert run_cycle(cfg, cat).outcomes[0].status == "first"  # two hops: allowed
    server.set("/hop2", {"status": 307, "headers": {"Location": "/hop3"}})
    server.set("/hop3", {"body": good})
    out = run_cycle(cfg, cat).outcomes[0]
    assert out.status == "failed" and "too many redirects" in out.error
    assert server.hits["/hop3"] == 0 and _counts(cat)["removed"] == 0
    cat.close()


def test_a_new_failure_streak_after_recovery_alerts_again(tmp_path, server, monitor_pages):
    good, _ = monitor_pages
    cfg = _setup(tmp_path, server)
    cat = Catalog(cfg.catalog_path)
    for script in ({"body": good}, {"status": 500}, {"body": good}, {"status": 500}):
        server.set(MD_PATH, script)
        run_cycle(cfg, cat)
    assert _counts(cat)["anomalies"] == 2  # one per failure streak
    cat.close()


def test_scrape_cli_exit_codes_summary_and_status(tmp_path, server, monitor_pages):
    from click.testing import CliRunner

    from docwatch.cli import main

    good, _ = monitor_pages
    server.set("/md/ok.md", {"body": good})
    server.set("/md/bad.md", {"status": 500, "body": b"oops"})
    config = tmp_path / "config.toml"
    config.write_text(
        f'catalog_path = "{tmp_path / "c.db"}"\nsnapshot_dir = "{tmp_path / "s"}"\n'
        f'[fetch]\nretries = 1\nbackoff = 0.001\nallowed_hosts = ["127.0.0.1:{server.port}"]\n'
        f'[[sources]]\nname = "ok"\nurl = "{server.url("/learn/ok")}"\nmarkdown_url = "{server.url("/md/ok.md")}"\n'
        'forms = ["markdown"]\n'
        f'[[sources]]\nname = "bad"\nurl = "{server.url("/learn/bad")}"\nmarkdown_url = "{server.url("/md/bad.md")}"\n'
        'forms = ["markdown"]\n')
    runner = CliRunner()
    r = runner.invoke(main, ["--config", str(config), "scrape"])
    assert r.exit_code == 0, r.output  # one source failed, not all
    assert "2 sources: 1 fetched, 0 unchanged, 1 changed, 1 failed" in r.output
    assert "bad: failed:" in r.output and "HTTP 500" in r.output
    r = runner.invoke(main, ["--config", str(config), "scrape", "--source", "bad"])
    assert r.exit_code == 1 and "every source failed" in r.output
    r = runner.invoke(main, ["--config", str(config), "scrape", "--source", "nope"])
    assert r.exit_code == 2 and "unknown source 'nope'" in r.output
    r = runner.invoke(main, ["--config", str(config), "status", "--json"])
    import json

    rows = {s["source"]: s for s in json.loads(r.output)["sources"]}
    assert rows["ok"]["last_success"] and rows["ok"]["rules"] > 10 and rows["ok"]["last_error"] is None
    assert rows["bad"]["last_success"] is None and "HTTP 500" in rows["bad"]["last_error"]
