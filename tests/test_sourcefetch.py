"""Fetching one source into a Bundle against a real local server serving corpus pages: form
fallback, a missing include fails its form (fetched before or not), known-missing includes are
re-checked on a slower schedule, shared includes are requested once per cycle, and the rendered
page is not requested for meta when the markdown did not change."""
from __future__ import annotations

import asyncio


from docwatch.catalog import Catalog
from docwatch.crawlstate import CrawlState
from docwatch.fetch import Fetcher
from docwatch.snapshots import SnapshotStore
from docwatch.sourcefetch import FormFailed, SourceFetcher
from cycle_support import config, fetch_log, serve_html, serve_markdown, source
from test_fetch_helpers import server  # noqa: F401 (server: a fixture)

ARC = "arc-servers-network-requirements"
APIM = "apim-virtual-network-reference"
ARC_INCLUDE = "/MicrosoftDocs/azure-management-docs/main/articles/azure-arc/servers/includes/network-requirements.md"


def _bundles(cfg, srcs, last_hashes=None, **kw):
    """One cycle's worth of SourceFetcher.bundle calls on a real catalog's crawl state (flushed)."""
    cat = Catalog(cfg.catalog_path)
    state = CrawlState(cat.db)

    async def run():
        async with Fetcher(cfg.fetch) as fetcher:
            sf = SourceFetcher(fetcher, state, SnapshotStore(cfg.snapshot_dir), cfg)
            out = []
            for s in srcs:
                try:
                    out.append(await sf.bundle(s, last_hash=(last_hashes or {}).get(s.name)))
                except FormFailed as exc:
                    out.append(exc)
            return out

    try:
        return asyncio.run(run())
    finally:
        state.flush()
        cat.close()


def test_markdown_500_falls_back_to_html_and_says_degraded(tmp_path, server):
    md = serve_markdown(server, APIM, 1)
    serve_html(server, APIM, 1, "/learn/apim")
    src = source(server, "apim", md, "/learn/apim", forms=("markdown", "html"))
    cfg = config(tmp_path, [src])
    (b,) = _bundles(cfg, [src])
    assert b.form == "markdown" and b.degraded is None and b.includes  # the availability include came along
    assert b.meta["doc_commit"]  # meta from the rendered page, for a changed markdown version

    server.set(md, {"status": 500, "body": b"oops"})
    (b,) = _bundles(cfg, [src])
    assert b.form == "html" and "<table" in b.text
    assert b.degraded.startswith("preferred form markdown failed") and "HTTP 500" in b.degraded


def test_missing_include_fails_the_form_fetched_before_or_not(tmp_path, server):
    md = serve_markdown(server, ARC, -1)
    src = source(server, "arc", md)
    cfg = config(tmp_path, [src], missing_include_recheck_hours=0)
    server.set(ARC_INCLUDE, {"status": 404, "body": b"404: Not Found"})  # never fetched before
    (err,) = _bundles(cfg, [src])
    assert isinstance(err, FormFailed) and "include" in str(err) and "missing" in str(err)

    serve_markdown(server, ARC, -1)  # the include is back
    (b,) = _bundles(cfg, [src])
    assert ARC_INCLUDE.split("main", 1)[1] in "".join(b.includes)
    server.set(ARC_INCLUDE, {"status": 410, "body": b"gone"})  # fetched before, gone now
    (err,) = _bundles(cfg, [src])
    assert isinstance(err, FormFailed) and "HTTP 410" in str(err)


def test_known_missing_include_is_rechecked_on_its_own_schedule(tmp_path, server):
    md = serve_markdown(server, ARC, -1)
    src = source(server, "arc", md)
    server.set(ARC_INCLUDE, {"status": 404, "body": b"404: Not Found"})
    cfg = config(tmp_path, [src], missing_include_recheck_hours=24)
    _bundles(cfg, [src])
    assert server.hits[ARC_INCLUDE] == 1
    (err,) = _bundles(cfg, [src])  # next cycle: remembered, not asked again, the form still fails
    assert isinstance(err, FormFailed) and "re-checked every 24 h" in str(err)
    assert server.hits[ARC_INCLUDE] == 1
    server.set(md, {"body": b"[!INCLUDE [reqs](includes/network-requirements.md)]\n\nReworded page.\n"})
    _bundles(cfg, [src])  # the including page changed: its missing include is asked for again
    assert server.hits[ARC_INCLUDE] == 2
    cat = Catalog(cfg.catalog_path)
    log = fetch_log(cat.db, limit=10)
    cat.close()
    assert any(r.status == "skipped-missing" and r.url == server.url(ARC_INCLUDE) for r in log)

    due = config(tmp_path, [src], missing_include_recheck_hours=0)  # re-check due: asked again
    serve_markdown(server, ARC, -1)
    hits = server.hits[ARC_INCLUDE]
    (b,) = _bundles(due, [src])
    assert not isinstance(b, FormFailed) and server.hits[ARC_INCLUDE] == hits + 1


def test_includes_are_conditional_and_shared_includes_fetched_once(tmp_path, server):
    md = serve_markdown(server, ARC, -1)
    a, b = source(server, "arc-a", md), source(server, "arc-b", md)
    cfg = config(tmp_path, [a, b])
    first = _bundles(cfg, [a, b])
    assert first[0].content_hash == first[1].content_hash
    assert server.hits[ARC_INCLUDE] == 1  # two sources, one request this cycle
    _bundles(cfg, [a])
    sent = [h for p, h in server.requests if p == ARC_INCLUDE][-1]
    assert sent.get("If-None-Match")  # the include was asked conditionally: 304, from the store


def test_unchanged_markdown_does_not_fetch_the_rendered_page(tmp_path, server):
    md = serve_markdown(server, APIM, 1)
    serve_html(server, APIM, 1, "/learn/apim")
    src = source(server, "apim", md, "/learn/apim", forms=("markdown", "html"))
    cfg = config(tmp_path, [src])
    (b,) = _bundles(cfg, [src])
    assert server.hits["/learn/apim"] == 1
    (again,) = _bundles(cfg, [src], {"apim": b.content_hash})
    assert again.content_hash == b.content_hash and server.hits["/learn/apim"] == 1
