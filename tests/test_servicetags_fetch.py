"""Discovering and fetching the weekly Service Tags file from a real local HTTP server: the
current link is found on a (synthetic) download-center page, the JSON (served as
octet-stream, as the download host does) is fetched with conditional GET, and every failure
is an anomaly that keeps the current prefixes."""
from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from docwatch.catalog import Catalog
from docwatch.catalog_tags import tag_as_of
from docwatch.config import Config, FetchConfig, ServiceTagsConfig
from docwatch.fetch import Fetcher
from docwatch.servicetags_fetch import discover_json_url, run_servicetags
from docwatch.snapshots import SnapshotStore
from test_fetch_helpers import FaultServer

HERE = Path(__file__).parent
PAGE = (HERE / "synthetic_servicetags_download_page.html").read_text(encoding="utf-8")
PAGE_PATH = "/en-us/download/details.aspx"
JSON_PATH = "/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/ServiceTags_Public_20251020.json"
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.close()


def _page(server: FaultServer, text: str = PAGE) -> bytes:
    base = f"http://127.0.0.1:{server.port}"
    text = text.replace("https://download.microsoft.com", base).replace("https:\\/\\/download.microsoft.com",
                                                                       base.replace("/", "\\/"))
    return text.encode()


def _raw(corpus: Path, name: str) -> bytes:
    return gzip.decompress((corpus / "servicetags" / name).read_bytes())


def _config(tmp_path, server, entries, **fetch) -> Config:
    hosts = [f"127.0.0.1:{server.port}", "127.0.0.1"]
    fc = FetchConfig(retries=1, backoff=0.001, backoff_max=0.01, connect_timeout=1.0, read_timeout=2.0,
                     allowed_hosts=hosts, **fetch)
    return Config(catalog_path=str(tmp_path / "cat.db"), snapshot_dir=str(tmp_path / "snaps"), fetch=fc,
                  servicetags=entries)


def _run(cfg: Config, cat: Catalog):
    async def go():
        async with Fetcher(cfg.fetch) as fetcher:
            return await run_servicetags(cfg, cat, fetcher, SnapshotStore(cfg.snapshot_dir))
    return asyncio.run(go())


def test_discovery_on_the_synthetic_page():
    base = "https://www.microsoft.com/en-us/download/details.aspx?id=56519"
    assert discover_json_url(PAGE, base, "public") == (
        "https://download.microsoft.com/download/7/1/d/71d86715-5596-4529-9b13-da13a5de5b63/ServiceTags_Public_20251020.json")
    assert discover_json_url(PAGE, base, "usgov").endswith("ServiceTags_AzureGovernment_20251027.json")
    assert discover_json_url(PAGE, base, "china") is None
    assert discover_json_url('<a href="/dl/ServiceTags_China_20250102.json">x</a>', base, "china") == \
        "https://www.microsoft.com/dl/ServiceTags_China_20250102.json"


def test_page_discovery_conditional_get_and_weekly_change(tmp_path, server, corpus_dir):
    server.set(PAGE_PATH, {"body": _page(server), "headers": {"Content-Type": "text/html; charset=utf-8"}})
    server.set(JSON_PATH, {"body": _raw(corpus_dir, "ServiceTags_Public_2025-09-11.json.gz"), "headers": OCTET,
                           "etag": '"w37"'})
    cfg = _config(tmp_path, server, [ServiceTagsConfig(cloud="public", page_url=server.url(PAGE_PATH + "?id=56519"))])
    cat = Catalog(cfg.catalog_path)
    (out,) = _run(cfg, cat)
    assert (out.source, out.status, out.url) == ("servicetags-public", "first", server.url(JSON_PATH))
    assert tag_as_of(cat, "AzureCloud", "public").file_change_number == 370
    row = cat._one("SELECT v.doc_date, f.snapshot_id FROM versions v JOIN tag_files f ON f.version_id = v.id "
                   "WHERE v.id = (SELECT max(id) FROM versions)")
    assert row["doc_date"] == "2025-10-20"  # the date in the weekly file name
    assert SnapshotStore(cfg.snapshot_dir).has(row["snapshot_id"])

    (again,) = _run(cfg, cat)  # the same file: a conditional GET answered 304, nothing stored
    assert again.status == "duplicate"
    sent = [h for p, h in server.requests if p == JSON_PATH][-1]
    assert sent.get("If-None-Match") == '"w37"'

    # next week the page links a new file
    new_path = JSON_PATH.replace("20251020", "20251027")
    server.set(PAGE_PATH, {"body": _page(server, PAGE.replace("20251020", "20251027")),
                           "headers": {"Content-Type": "text/html"}})
    server.set(new_path, {"body": _raw(corpus_dir, "ServiceTags_Public_2025-10-17.json.gz"), "headers": OCTET})
    (week,) = _run(cfg, cat)
    assert week.status == "changed" and week.url == server.url(new_path) and week.events > 0
    old = {v["name"]: set(v["properties"]["addressPrefixes"])
           for v in json.loads(_raw(corpus_dir, "ServiceTags_Public_2025-09-11.json.gz"))["values"]}
    new = {v["name"]: set(v["properties"]["addressPrefixes"])
           for v in json.loads(_raw(corpus_dir, "ServiceTags_Public_2025-10-17.json.gz"))["values"]}
    ev = next(e for e in cat.events(source="servicetags-public") if e.party == "AzureCloud")
    assert set(ev.new) == new["AzureCloud"] - old["AzureCloud"] and set(ev.old) == old["AzureCloud"] - new["AzureCloud"]
    assert "effective after 2025-11-03" in ev.summary
    cat.close()


def test_every_failure_is_an_anomaly_never_a_removal(tmp_path, server, corpus_dir):
    good = _raw(corpus_dir, "ServiceTags_AzureGovernment_2025-07-13.json.gz")
    server.set("/gov.json", {"body": good, "headers": OCTET})
    gov = ServiceTagsConfig(cloud="usgov", json_url=server.url("/gov.json"))
    cfg = _config(tmp_path, server, [gov])
    cat = Catalog(cfg.catalog_path)
    assert [o.status for o in _run(cfg, cat)] == ["first"]
    before = tag_as_of(cat, "AzureCloud", "usgov").prefixes

    cases = [
        ({"status": 500, "body": b"oops"}, "failed", "HTTP 500"),
        ({"body": good[: len(good) // 2], "headers": OCTET}, "anomaly", "not valid JSON"),
        ({"body": _raw(corpus_dir, "ServiceTags_Public_2025-07-30.json.gz"), "headers": OCTET}, "anomaly", "cloud 'Public'"),
    ]
    for response, status, reason in cases:
        server.set("/gov.json", response)
        (out,) = _run(cfg, cat)
        assert out.status == status and reason in out.error, out
    server.set("/gov.json", {"body": good, "headers": OCTET})
    small = _config(tmp_path, server, [ServiceTagsConfig(cloud="usgov", json_url=server.url("/gov.json"), max_bytes=1000)])
    (out,) = _run(small, cat)
    assert out.status == "failed" and "oversized" in out.error
    server.set("/page", {"body": b"<html><title>Download</title><p>no link here</p></html>",
                         "headers": {"Content-Type": "text/html"}})
    nolink = _config(tmp_path, server, [ServiceTagsConfig(cloud="usgov", page_url=server.url("/page"))])
    (out,) = _run(nolink, cat)
    assert out.status == "failed" and "no ServiceTags_AzureGovernment_*.json link" in out.error
    elsewhere = _config(tmp_path, server, [ServiceTagsConfig(cloud="usgov", json_url="http://127.0.0.2:9/gov.json")])
    (out,) = _run(elsewhere, cat)
    assert out.status == "failed" and "not allowed" in out.error

    assert tag_as_of(cat, "AzureCloud", "usgov").prefixes == before
    events = cat.events(source="servicetags-usgov")
    assert [e.kind for e in events] == ["anomaly"]  # one per streak, no removals
    # recovery: the next good (new) file is diffed against the last accepted one
    server.set("/gov.json", {"body": _raw(corpus_dir, "ServiceTags_AzureGovernment_2025-11-23.json.gz"), "headers": OCTET})
    (out,) = _run(cfg, cat)
    assert out.status == "changed" and out.events > 0
    cat.close()


def test_the_scrape_cycle_runs_the_service_tag_entries(tmp_path, server, corpus_dir):
    from docwatch.cycle import run_cycle

    server.set("/gov.json", {"body": _raw(corpus_dir, "ServiceTags_AzureGovernment_2025-07-13.json.gz"), "headers": OCTET})
    cfg = _config(tmp_path, server, [ServiceTagsConfig(cloud="usgov", json_url=server.url("/gov.json"))])
    cat = Catalog(cfg.catalog_path)
    report = run_cycle(cfg, cat, deliver=False)
    assert [(o.source, o.status) for o in report.outcomes if o.source.startswith("servicetags-")] == [("servicetags-usgov", "first")]
    server.set("/gov.json", {"body": _raw(corpus_dir, "ServiceTags_AzureGovernment_2025-11-23.json.gz"), "headers": OCTET})
    report = run_cycle(cfg, cat, deliver=False)
    assert [(o.source, o.status) for o in report.outcomes if o.source.startswith("servicetags-")] == [("servicetags-usgov", "changed")]
    assert cat.events(source="servicetags-usgov")
    cat.close()
