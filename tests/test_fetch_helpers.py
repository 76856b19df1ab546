"""A real local HTTP server with scripted faults, shared by the fetch/cycle/daemon tests, with
its ``server`` fixture, a config factory, and the daemon tests' subprocess helpers.

Each path has a list of responses consumed one per request (the last one repeats). A
response is a dict: ``status``, ``body`` (bytes), ``headers``, ``etag`` (answers a matching
If-None-Match with 304) and ``action``: ``"reset"`` (TCP RST), ``"sleep"`` (``seconds``
before answering), ``"truncate"`` (Content-Length larger than the body), ``"trickle"``
(the body one byte every ``interval`` seconds). No tests here.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from docwatch.config import Config, FetchConfig, ScheduleConfig, SourceConfig

# serve_forever's poll interval for the tests' local servers: shutdown() waits for the loop's next
# poll, 0.5 s by default, in every test's teardown
POLL = 0.02


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv: FaultServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        with srv.lock:
            srv.inflight += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        self._counted = True
        try:
            self._respond(srv, path)
        finally:
            self._done(srv)

    def _done(self, srv: "FaultServer") -> None:
        """The request stops counting as in flight once its answer starts to go out: the client may send
        its next request as soon as it has read this answer, before this thread gets to finish (on a busy
        machine that overlap made a per-host limit of 2 look like 3)."""
        if self._counted:
            self._counted = False
            with srv.lock:
                srv.inflight -= 1

    def _respond(self, srv: "FaultServer", path: str) -> None:
        with srv.lock:
            srv.hits[path] += 1
            srv.requests.append((path, dict(self.headers)))
            script = srv.routes.get(path)
            if script is None:
                spec = {"status": 404, "body": b"not found", "headers": {"Content-Type": "text/plain"}}
            else:
                spec = script[min(srv.hits[path] - 1, len(script) - 1)]
        if spec.get("delay"):
            time.sleep(spec["delay"])
        if not spec.get("action"):
            self._done(srv)
        action = spec.get("action")
        if action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if action == "sleep":
            time.sleep(spec.get("seconds", 1.0))
        body = spec.get("body", b"")
        etag = spec.get("etag")
        if etag and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(spec.get("status", 200))
        headers = {"Content-Type": "text/plain; charset=utf-8", **spec.get("headers", {})}
        for k, v in headers.items():
            if v is not None:
                self.send_header(k, v)
        if etag:
            self.send_header("ETag", etag)
        length = len(body) + (1000 if action == "truncate" else 0)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            if action == "trickle":
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    if srv.closed.wait(spec.get("interval", 0.5)):
                        break
            else:
                self.wfile.write(body)
                self.wfile.flush()
        except OSError:
            pass
        if action == "truncate":
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class FaultServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[dict]] = {}
        self.hits: Counter = Counter()
        self.requests: list = []
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": POLL}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, *responses: dict) -> None:
        """Replace the script of ``path`` and reset its hit counter."""
        with self.lock:
            self.routes[path] = list(responses)
            self.hits[path] = 0

    def close(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def local_hosts(*urls: str | None) -> list[str]:
    """``host:port`` allowed-host entries for local test URLs (entries match the port too)."""
    out = []
    for u in urls:
        if u:
            p = urlsplit(u)
            entry = f"{p.hostname}:{p.port}" if p.port else p.hostname
            if entry not in out:
                out.append(entry)
    return out


def build_config(tmp_path, sources: list[SourceConfig], **fetch_kw) -> Config:
    """A config for tests: the sources' local host:port explicitly allowed, tiny backoff and timeouts.
    ``allowed_hosts`` given as bare hosts get the sources' ports added the same way."""
    local = local_hosts(*(u for s in sources for u in (s.url, s.markdown_url)))
    fetch = dict(concurrency=4, per_host=4, connect_timeout=1.0, read_timeout=0.5, retries=2, backoff=0.001,
                 backoff_max=0.01, retry_after_max=0.02, max_bytes=2_000_000,
                 allowed_hosts=[*local, "learn.microsoft.com", "raw.githubusercontent.com", "github.com"])
    fetch.update(fetch_kw)
    if "allowed_hosts" in fetch_kw:
        bare = [h for h in fetch_kw["allowed_hosts"] if ":" not in h]
        fetch["allowed_hosts"] = [*(e for e in local if e.split(":")[0] in bare), *fetch_kw["allowed_hosts"]]
    return Config(catalog_path=str(tmp_path / "cat.db"), snapshot_dir=str(tmp_path / "snaps"), sources=sources,
                  schedule=ScheduleConfig(), fetch=FetchConfig(**fetch))


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def server():
    """A :class:`FaultServer` for one test (import this fixture into the test module)."""
    srv = FaultServer()
    yield srv
    srv.close()


def daemon_process(config: Path, *args: str, global_args: tuple[str, ...] = (),
                   env: dict | None = None) -> subprocess.Popen:
    """``docwatch [global_args] daemon [args]`` as a real subprocess running this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "docwatch.cli", "--config", str(config), *global_args, "daemon",
                             *args], cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_until(cond, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
