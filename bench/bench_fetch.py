"""Fetch/cycle throughput: 500 sources on a local server adding 50 ms latency per response.

Figures: fetch-only time vs the ideal ceil(500/16) x 50 ms at concurrency 16 (goal <= 1.3x);
the full first cycle (fetch + snapshot + parse + normalize + ingest) for reference; then the
all-304 cycle's time and the rule rows it writes (goal 0).
"""
from __future__ import annotations

import asyncio
import math
import tempfile
import multiprocessing
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

N_SOURCES = 500
CONCURRENCY = 16
LATENCY = 0.050

PAGE = """---
title: Service {i} network requirements
ms.date: 01/02/2025
---
# Service {i} network requirements

## Outbound

| Host | Port | Purpose |
|---|---|---|
| svc{i}.example.com | 443 | API |
| *.blob.core.windows.net | 443 | Storage |
| login.microsoftonline.com | 443 | Sign-in |
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every keep-alive response

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(LATENCY)
        i = self.path.rsplit("/", 1)[-1].split(".")[0]
        etag = f'"p{i}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PAGE.format(i=i).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _serve(port_q) -> None:
    """The server lives in its own process so it does not compete with the client for the GIL."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    port_q.put(httpd.server_address[1])
    httpd.serve_forever()


def run() -> list[tuple[str, str, str]]:
    from docwatch.catalog import Catalog
    from docwatch.config import Config, FetchConfig, SourceConfig
    from docwatch.cycle import run_cycle
    from docwatch.fetch import Fetcher

    ctx = multiprocessing.get_context("fork")
    port_q = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_q,), daemon=True)
    server.start()
    port = port_q.get(timeout=10)
    ideal = math.ceil(N_SOURCES / CONCURRENCY) * LATENCY
    rows: list[tuple[str, str, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fetch = FetchConfig(concurrency=CONCURRENCY, per_host=CONCURRENCY, retries=0,
                                allowed_hosts=["127.0.0.1"], read_timeout=10.0)
            sources = [SourceConfig(name=f"s{i}", url=f"http://127.0.0.1:{port}/learn/{i}",
                                    markdown_url=f"http://127.0.0.1:{port}/md/{i}.md", forms=["markdown"])
                       for i in range(N_SOURCES)]
            cfg = Config(catalog_path=str(Path(tmp) / "b.db"), snapshot_dir=str(Path(tmp) / "snaps"),
                         sources=sources, fetch=fetch)

            async def fetch_only() -> float:
                async with Fetcher(fetch) as f:
                    t0 = time.perf_counter()
                    res = await asyncio.gather(*(f.fetch(s.markdown_url) for s in sources))
                    took = time.perf_counter() - t0
                assert all(r.status == "ok" for r in res), [r.error for r in res if r.status != "ok"][:3]
                return took

            t_fetch = asyncio.run(fetch_only())
            rows.append(("fetch-only 500 pages, 50 ms latency, concurrency 16",
                         f"{t_fetch:.2f} s = {t_fetch / ideal:.2f}x ideal {ideal:.2f} s", "<= 1.3x ideal"))

            cat = Catalog(cfg.catalog_path)
            t0 = time.perf_counter()
            first = run_cycle(cfg, cat, deliver=False)
            t_full = time.perf_counter() - t0
            assert first.changed == N_SOURCES, first.summary()
            rows.append(("full first cycle (fetch+snapshot+parse+normalize+ingest)",
                         f"{t_full:.2f} s = {t_full / ideal:.2f}x ideal", "reported (parse-bound)"))

            before = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0]
            t0 = time.perf_counter()
            again = run_cycle(cfg, cat, deliver=False)
            t_304 = time.perf_counter() - t0
            written = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0] - before
            n304 = cat.db.execute("SELECT count(*) FROM fetch_log WHERE status = 'not-modified'").fetchone()[0]
            cat.close()
            assert again.unchanged == N_SOURCES, again.summary()
            rows.append(("all-304 cycle time", f"{t_304:.2f} s = {t_304 / ideal:.2f}x ideal ({n304} x 304)",
                         "<= 1.3x ideal"))
            rows.append(("all-304 cycle rule rows written", str(written), "0"))
    finally:
        server.terminate()
        server.join(5)
    return rows


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name}: {value} (goal {goal})")
