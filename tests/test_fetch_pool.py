"""Connection reuse through docwatch/http_pool.py against a real HTTP/1.1 keep-alive server:
requests to one host share a few connections (never more than the per-host limit), a
connection the server closed while idle is not reused (the next fetch still succeeds), and
two origins never share a connection."""
from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docwatch.config import FetchConfig
from docwatch.fetch import Fetcher
from test_fetch_helpers import POLL, server  # noqa: F401 (server: a fixture)


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        with srv.lock:
            srv.peers.add(self.client_address)
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"page {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"v1"')
        if self.path.startswith("/close"):  # answer, then drop the idle connection
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def keepalive():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    httpd.daemon_threads = True
    httpd.lock, httpd.peers = threading.Lock(), set()
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": POLL}, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _cfg(port: int, per_host: int) -> FetchConfig:
    return FetchConfig(concurrency=per_host, per_host=per_host, retries=0, read_timeout=5.0,
                       allowed_hosts=[f"127.0.0.1:{port}", f"localhost:{port}"])


def _fetch_all(cfg: FetchConfig, urls: list[str], etag: str | None = None):
    async def go():
        async with Fetcher(cfg) as f:
            return await asyncio.gather(*(f.fetch(u, etag=etag) for u in urls))
    return asyncio.run(go())


def test_requests_to_one_host_share_at_most_per_host_connections(keepalive):
    port = keepalive.server_address[1]
    urls = [f"http://127.0.0.1:{port}/p/{i}" for i in range(60)]
    res = _fetch_all(_cfg(port, 4), urls)
    assert [r.status for r in res] == ["ok"] * 60
    assert [r.body for r in res] == [f"page /p/{i}\n".encode() for i in range(60)]
    assert 1 <= len(keepalive.peers) <= 4  # 60 requests over the per-host limit's connections


def test_a_304_leaves_its_connection_reusable(keepalive):
    port = keepalive.server_address[1]
    res = _fetch_all(_cfg(port, 1), [f"http://127.0.0.1:{port}/p/{i}" for i in range(10)], etag='"v1"')
    assert {r.status for r in res} == {"not-modified"}
    assert len(keepalive.peers) == 1


def test_a_connection_the_server_closed_is_not_reused(keepalive):
    port = keepalive.server_address[1]

    async def one_by_one():
        async with Fetcher(_cfg(port, 1)) as f:
            out = []
            for i in range(5):
                out.append(await f.fetch(f"http://127.0.0.1:{port}/close/{i}"))
                await asyncio.sleep(0.05)  # the server's FIN has arrived: the idle connection reads as closed
            return out
    res = asyncio.run(one_by_one())
    assert [r.status for r in res] == ["ok"] * 5, [r.error for r in res]
    assert len(keepalive.peers) == 5


def test_origins_do_not_share_connections(keepalive):
    port = keepalive.server_address[1]
    urls = [f"http://{host}:{port}/p/{i}" for i in range(6) for host in ("127.0.0.1", "localhost")]
    res = _fetch_all(_cfg(port, 1), urls)
    assert {r.status for r in res} == {"ok"}
    assert len(keepalive.peers) == 2  # one per origin, each reused


def test_a_proxy_from_the_environment_is_still_used(monkeypatch, server):
    """With ``HTTP_PROXY`` set, requests take httpx's proxy transport (the fault server plays the
    proxy: it is asked for the absolute URL of a host that listens nowhere)."""
    target = "http://127.0.0.1:9/md/a.md"  # port 9 (discard): nothing answers there directly
    server.set(target, {"body": b"# via the proxy\n"})
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    (res,) = _fetch_all(FetchConfig(retries=0, allowed_hosts=["127.0.0.1:9"]), [target])
    assert res.status == "ok" and res.body == b"# via the proxy\n"
    assert server.hits[target] == 1
