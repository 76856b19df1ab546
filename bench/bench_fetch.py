"""Fetch/cycle throughput: 500 sources on a local server adding 50 ms latency per response.

Figures: fetch-only time vs the ideal ceil(500/16) x 50 ms at concurrency 16 (goal <= 1.3x);
the full first cycle (fetch + snapshot + parse + normalize + ingest) for reference; then the
all-304 cycle's time and the rule rows it writes (goal 0).

Side by side with urlwatch 2.29 (installed by ``make bench`` into ``.venv/bench`` only; set
``DOCWATCH_URLWATCH`` to another ``urlwatch`` executable): both watch the same 500 URLs on
the same server, each as a command a user runs (``docwatch scrape`` / ``urlwatch``, process
start included, bytecode cached for both as for installed packages); the timed run is the
second one, when every answer is 304. Each is shown against its own ideal (urlwatch runs 10
workers) and docwatch against urlwatch (goal ≤ 0.5×; at concurrency 16 docwatch's ideal alone is
1.6 s, about half of urlwatch's time, so the goal leaves no room for process start).
"""
from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

N_SOURCES = 500
CONCURRENCY = 16
LATENCY = 0.050
URLWATCH_WORKERS = 10  # urlwatch 2.x: worker.MAX_WORKERS
REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / ".venv" / "bench"

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
                                allowed_hosts=[f"127.0.0.1:{port}"], read_timeout=10.0)
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
            t_parse = _serial_extraction(sources)
            first_ideal = ideal + t_parse / (os.cpu_count() or 1)
            rows.append(("full first cycle (fetch+snapshot+parse+normalize+ingest)",
                         f"{t_full:.2f} s = {t_full / first_ideal:.2f}x (fetch ideal {ideal:.2f} s + "
                         f"serial extraction {t_parse:.2f} s / {os.cpu_count() or 1} cores)", "<= 1.3x"))

            before = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0]
            commits: list[str] = []
            cat.db.conn.set_trace_callback(
                lambda sql: commits.append(sql) if sql.strip().upper().startswith(("COMMIT", "RELEASE")) else None)
            t0 = time.perf_counter()
            again = run_cycle(cfg, cat, deliver=False)
            t_304 = time.perf_counter() - t0
            cat.db.conn.set_trace_callback(None)
            written = cat.db.execute("SELECT count(*) FROM rule_versions").fetchone()[0] - before
            n304 = cat.db.execute("SELECT count(*) FROM fetch_log WHERE status = 'not-modified'").fetchone()[0]
            cat.close()
            assert again.unchanged == N_SOURCES, again.summary()
            rows.append(("all-304 cycle time", f"{t_304:.2f} s = {t_304 / ideal:.2f}x ideal ({n304} x 304)",
                         "<= 1.3x ideal"))
            rows.append(("all-304 cycle rule rows written", str(written), "0"))
            rows.append(("all-304 cycle commits on the catalog connection", str(len(commits)), "<= 1"))
            rows += side_by_side(port, Path(tmp), sources)
    finally:
        server.terminate()
        server.join(5)
    return rows


def _serial_extraction(sources) -> float:
    """Parse + normalize of every page the first cycle ingests, one after another, in this process."""
    from docwatch.normalize import normalize
    from parsers.markdown import parse_markdown

    texts = [PAGE.format(i=s.name[1:]) for s in sources]
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        normalize(parse_markdown(text, path=f"md/{i}.md"))
    return time.perf_counter() - t0


def _urlwatch() -> tuple[str | None, str]:
    """The urlwatch executable, or None and why not."""
    exe = os.environ.get("DOCWATCH_URLWATCH") or str(BENCH_VENV / "bin" / "urlwatch")
    if Path(exe).is_file():
        return str(Path(exe).resolve()), ""
    log = REPO / ".venv" / "bench.log"
    why = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
    return None, (f"urlwatch not installed: {why[0][:160]}" if why else
                  "urlwatch not installed (run `make bench`, which installs urlwatch==2.29 into .venv/bench)")


def _timed_run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return took


def side_by_side(port: int, tmp: Path, sources) -> list[tuple[str, str, str]]:
    """``docwatch scrape`` and ``urlwatch`` over the same 500 URLs, second (all-304) run timed."""
    work = tmp / "side"
    work.mkdir()
    # bytecode cached for both tools (the untimed first runs write it under the bench's tmp dir): an
    # installed package has its .pyc files, and PYTHONDONTWRITEBYTECODE would recompile docwatch's
    # editable source on every run while urlwatch's pip-installed files are compiled
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_") and k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"HOME": str(work), "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    # the processes run in ``work``: a relative PYTHONPATH (``PYTHONPATH=. python -m bench``) would
    # point there, and the editable install's docwatch (another checkout) would be timed instead
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    lines = [f'catalog_path = "{work / "dw.db"}"', f'snapshot_dir = "{work / "snaps"}"', "[fetch]",
             f"concurrency = {CONCURRENCY}", f"per_host = {CONCURRENCY}", "retries = 0",
             f'allowed_hosts = ["127.0.0.1:{port}"]']
    for s in sources:
        lines += ["[[sources]]", f'name = "{s.name}"', f'url = "{s.url}"', f'markdown_url = "{s.markdown_url}"',
                  'forms = ["markdown"]']
    (work / "config.toml").write_text("\n".join(lines) + "\n")
    script = Path(sys.executable).with_name("docwatch")
    dw = [str(script)] if script.is_file() else [sys.executable, "-m", "docwatch.cli"]
    _timed_run(dw + ["--config", "config.toml", "scrape"], work, env)
    t_dw = _timed_run(dw + ["--config", "config.toml", "scrape"], work, env)
    ideal_dw = math.ceil(N_SOURCES / CONCURRENCY) * LATENCY
    rows = [("no-change cycle, `docwatch scrape` process, all 304",
             f"{t_dw:.2f} s = {t_dw / ideal_dw:.2f}x its ideal {ideal_dw:.2f} s", "<= 1.3x ideal")]
    exe, why = _urlwatch()
    if exe is None:
        return rows + [("no-change cycle, urlwatch 2.29, same URLs", why, "-")]
    (work / "urls.yaml").write_text("".join(f"url: {s.markdown_url}\n---\n" for s in sources))
    uw = [exe, "--urls", str(work / "urls.yaml"), "--config", str(work / "urlwatch.yaml"),
          "--cache", str(work / "cache.db"), "--hooks", str(work / "hooks.py")]
    _timed_run(uw, work, env)  # first run: every job is new
    t_uw = _timed_run(uw, work, env)
    ideal_uw = math.ceil(N_SOURCES / URLWATCH_WORKERS) * LATENCY
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    rows += [(f"no-change cycle, {version or 'urlwatch'}, same URLs, all 304",
              f"{t_uw:.2f} s = {t_uw / ideal_uw:.2f}x its ideal {ideal_uw:.2f} s ({URLWATCH_WORKERS} workers)", "report"),
             ("no-change cycle: docwatch / urlwatch", f"{t_dw / t_uw:.2f}x", "<= 0.5x")]
    return rows


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name}: {value} (goal {goal})")
