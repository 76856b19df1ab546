"""The daemon as a real subprocess against a local server: SIGTERM mid-cycle finishes the
cycle and leaves a sound catalog, the next start resumes, a second daemon refuses."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path


from conftest import corpus_versions
from test_fetch_helpers import REPO, FaultServer, daemon_process, server, wait_until  # noqa: F401 (server: a fixture)

N_SOURCES = 4


def _write_config(tmp_path: Path, server: FaultServer, interval_minutes: float) -> Path:
    lines = [f'catalog_path = "{tmp_path / "cat.db"}"', f'snapshot_dir = "{tmp_path / "snaps"}"',
             "[schedule]", f"interval_minutes = {interval_minutes}", "jitter_seconds = 0", "misfire_grace_seconds = 5",
             "[fetch]", "concurrency = 1", "per_host = 1", "retries = 0", "read_timeout = 5.0",
             f'allowed_hosts = ["127.0.0.1:{server.port}"]']
    for i in range(N_SOURCES):
        lines += ["[[sources]]", f'name = "page{i}"', f'url = "{server.url(f"/learn/{i}")}"',
                  f'markdown_url = "{server.url(f"/md/{i}.md")}"', 'forms = ["markdown"]']
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _q(db: Path, sql: str):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _fetched(db: Path) -> int:
    """Fetch-log rows so far; 0 while the daemon is still creating the catalog (the file exists
    before its tables do)."""
    try:
        return len(_q(db, "SELECT 1 FROM fetch_log"))
    except sqlite3.OperationalError:
        return 0


def test_sigterm_mid_cycle_then_resume(tmp_path, server):
    vs = corpus_versions("azure-monitor-network-access")
    for i in range(N_SOURCES):
        server.set(f"/md/{i}.md", {"body": vs[-1]["file"].read_bytes(), "delay": 0.25})
    config = _write_config(tmp_path, server, interval_minutes=60)
    proc = daemon_process(config)
    try:
        wait_until(lambda: sum(server.hits.values()) >= 2)  # mid-cycle: 2 of 4 slow pages requested
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    db = tmp_path / "cat.db"
    assert _q(db, "PRAGMA integrity_check") == [("ok",)]
    # the running cycle finished: every source was fetched and ingested exactly once
    assert sum(server.hits.values()) == N_SOURCES
    assert _q(db, "SELECT status, count(*) FROM versions GROUP BY status") == [("first", N_SOURCES)]
    state = dict(_q(db, "SELECT key, value FROM daemon_state"))
    assert state["stopped_at"] and state["last_cycle_summary"].startswith(f"{N_SOURCES} sources")
    assert not (tmp_path / "cat.db.lock").read_text().strip()  # lock released

    # the next start resumes on the same catalog: a changed page becomes a new version
    server.set("/md/0.md", {"body": vs[-2]["file"].read_bytes()})
    again = daemon_process(config, "--once")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert _q(db, "PRAGMA integrity_check") == [("ok",)]
    assert _q(db, "SELECT count(*) FROM versions")[0][0] == N_SOURCES + 1
    assert _q(db, "SELECT count(*) FROM change_events WHERE kind = 'removed' AND source != 'page0'")[0][0] == 0


def test_second_daemon_on_same_catalog_refuses(tmp_path, server):
    vs = corpus_versions("azure-monitor-network-access")
    for i in range(N_SOURCES):
        server.set(f"/md/{i}.md", {"body": vs[-1]["file"].read_bytes()})
    config = _write_config(tmp_path, server, interval_minutes=0.02)
    first = daemon_process(config)
    try:
        lock = tmp_path / "cat.db.lock"
        wait_until(lambda: lock.exists() and "daemon pid" in lock.read_text())
        second = daemon_process(config, "--once")
        out, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "already running" in err and str(first.pid) in err
        # the interval is 1.2 s: the first daemon keeps cycling (coalesced, one at a time)
        wait_until(lambda: (tmp_path / "cat.db").exists() and _fetched(tmp_path / "cat.db") >= 2 * N_SOURCES)
        status = subprocess.run([sys.executable, "-m", "docwatch.cli", "--config", str(config), "status"],
                                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and "running" in status.stdout and "next run" in status.stdout, status.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
