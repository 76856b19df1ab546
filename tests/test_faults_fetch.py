"""Issue 13 fetch faults against the real local fault server: a trickled body ends at the total
deadline, cancel() ends in-flight fetches at once, a gzip bomb stops decoding at max_bytes
(memory stays small), and allowed_hosts entries match the port as well as the host."""
from __future__ import annotations

import asyncio
import gzip
import threading
import time
import tracemalloc

import pytest

from docwatch.config import FetchConfig, host_allowed
from docwatch.errors import ConfigError
from docwatch.fetch import Fetcher, cancel_all
from test_fetch_helpers import FaultServer, server  # noqa: F401 (server: a fixture)


def _cfg(server: FaultServer, **kw) -> FetchConfig:
    base = dict(allowed_hosts=[f"127.0.0.1:{server.port}"], retries=2, backoff=0.001, backoff_max=0.01,
                connect_timeout=1.0, read_timeout=1.0)
    base.update(kw)
    return FetchConfig(**base)


def _fetch(cfg: FetchConfig, url: str):
    async def go():
        async with Fetcher(cfg) as f:
            return await f.fetch(url)
    return asyncio.run(go())


def test_trickled_body_ends_at_the_total_deadline(server):
    # 1 byte every 0.5 s: each read is well inside read_timeout, so only a total deadline ends it
    server.set("/slow", {"action": "trickle", "interval": 0.5, "body": b"x" * 200})
    started = time.monotonic()
    res = _fetch(_cfg(server, total_timeout=2.0), server.url("/slow"))
    took = time.monotonic() - started
    assert res.status == "failed" and "total_timeout 2s" in res.error
    assert took < 3.5, took  # retries do not restart the clock
    assert server.hits["/slow"] == 1


def test_deadline_counts_from_the_first_request_not_the_queue(server):
    """Fetches waiting for a concurrency slot are not charged for the wait."""
    server.set("/page", {"action": "sleep", "seconds": 0.6, "body": b"# page\n"})
    cfg = _cfg(server, concurrency=1, per_host=1, total_timeout=1.0, read_timeout=2.0)

    async def go():
        async with Fetcher(cfg) as f:
            return await asyncio.gather(*(f.fetch(server.url("/page")) for _ in range(3)))
    results = asyncio.run(go())
    assert [r.status for r in results] == ["ok", "ok", "ok"]


def test_cancel_ends_in_flight_fetches_at_once(server):
    server.set("/slow", {"action": "trickle", "interval": 0.5, "body": b"x" * 200})
    cfg = _cfg(server, total_timeout=60.0)
    out = {}

    def worker():
        async def go():
            async with Fetcher(cfg) as f:
                out["fetcher"] = f
                return await asyncio.gather(f.fetch(server.url("/slow")), f.fetch(server.url("/slow")))
        out["results"] = asyncio.run(go())

    t = threading.Thread(target=worker)
    t.start()
    deadline = time.monotonic() + 5
    while server.hits["/slow"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert cancel_all("shutting down") >= 1  # what the daemon calls on SIGTERM, from another thread
    t.join(5)
    assert not t.is_alive() and time.monotonic() - started < 2
    assert [r.status for r in out["results"]] == ["failed", "failed"]
    assert all("cancelled: shutting down" in r.error for r in out["results"])
    # a cancelled fetcher refuses new work instead of starting it
    later = asyncio.run(out["fetcher"].fetch(server.url("/slow")))
    assert later.status == "failed" and "not fetched" in later.error


def test_cycle_deadline_option_caps_each_fetch(server):
    server.set("/slow", {"action": "trickle", "interval": 0.3, "body": b"x" * 100})
    cfg = _cfg(server, total_timeout=60.0)

    async def go():
        async with Fetcher(cfg, deadline=time.monotonic() + 1.0) as f:
            return await f.fetch(server.url("/slow"))
    started = time.monotonic()
    res = asyncio.run(go())
    assert res.status == "failed" and "cycle deadline" in res.error
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_stops_at_max_bytes_with_small_memory(server, encoding):
    raw = b"\0" * 60_000_000
    bomb = gzip.compress(raw, 9) if encoding == "gzip" else __import__("zlib").compress(raw, 9)
    assert len(bomb) < 200_000  # the wire size passes the Content-Length check
    server.set("/bomb", {"body": bomb, "headers": {"Content-Encoding": encoding}})
    del raw
    cfg = _cfg(server, max_bytes=2_000_000, retries=0)
    tracemalloc.start()
    try:
        res = _fetch(cfg, server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.status == "failed" and "oversized" in res.error and "decoded" in res.error
    assert peak < 12_000_000, peak  # the cap plus a step or two, never the 60 MB a whole chunk decodes to


def test_compressed_page_still_decodes(server):
    page = ("# Endpoints\n\n| Host | Port |\n|---|---|\n" + "| a.example.com | 443 |\n" * 2000).encode()
    server.set("/gz", {"body": gzip.compress(page), "headers": {"Content-Encoding": "gzip"}})
    res = _fetch(_cfg(server), server.url("/gz"))
    assert res.status == "ok" and res.body == page
    sent = server.requests[-1][1]
    assert sent.get("Accept-Encoding") == "gzip, deflate"


def test_redirect_to_another_port_on_an_allowed_host_is_refused(server):
    other = FaultServer()
    try:
        other.set("/x.md", {"body": b"# other port\n"})
        server.set("/hop", {"status": 302, "headers": {"Location": other.url("/x.md")}})
        res = _fetch(_cfg(server), server.url("/hop"))
        assert res.status == "failed" and f"port {other.port}" in res.error and "refused" in res.error
        assert other.hits["/x.md"] == 0
        # listing host:port admits it
        ok = _fetch(_cfg(server, allowed_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{other.port}"]),
                    server.url("/hop"))
        assert ok.status == "ok" and other.hits["/x.md"] == 1
    finally:
        other.close()


def test_allowed_host_entries_default_to_the_scheme_port():
    allowed = ["learn.microsoft.com", "*.example.org", "docs.example.com:8443", "10.0.0.5:8080"]
    assert host_allowed("learn.microsoft.com", allowed, 443, "https")
    assert host_allowed("learn.microsoft.com", allowed, 80, "http")
    assert not host_allowed("learn.microsoft.com", allowed, 8443, "https")
    assert not host_allowed("learn.microsoft.com", allowed, 443, "http")
    assert host_allowed("a.example.org", allowed, None, "https")
    assert host_allowed("docs.example.com", allowed, 8443, "https")
    assert not host_allowed("docs.example.com", allowed, 443, "https")
    assert host_allowed("10.0.0.5", allowed, 8080, "http") and not host_allowed("10.0.0.5", allowed, 80, "http")


def test_allowed_hosts_config_accepts_ports_and_refuses_junk():
    from docwatch.config import parse_config

    cfg = parse_config({"fetch": {"allowed_hosts": ["learn.microsoft.com", "127.0.0.1:8080", "[::1]:9000"]}})
    assert cfg.fetch.allowed_hosts[1] == "127.0.0.1:8080"
    for bad in ("https://learn.microsoft.com", "host:99999", "a/b"):
        with pytest.raises(ConfigError):
            parse_config({"fetch": {"allowed_hosts": [bad]}})
    with pytest.raises(ConfigError, match="total_timeout"):
        parse_config({"fetch": {"total_timeout": 0}})
