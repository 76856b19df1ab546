"""Issue 13 daemon faults with real processes: SIGTERM during a trickled fetch ends within a few
seconds, a failed alert is retried by its own scheduler job (not at the next cycle), JSON logs
stay JSON when APScheduler itself warns, and an uncreatable lock file gives a clear message."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.daemon import CatalogLock, LockUnavailable
from test_faults_alerts import Recorder
from test_fetch_helpers import REPO, FaultServer, daemon_process, server, wait_until  # noqa: F401 (server: a fixture)
from synthetic_alerts_support import add_events, event, make_outbox

PAGE = (Path(__file__).parent / "synthetic_alerts_v1.md").read_bytes()


def _config(tmp_path: Path, server: FaultServer, *extra: str, fetch: tuple[str, ...] = ()) -> Path:
    lines = [f'catalog_path = "{tmp_path / "cat.db"}"', f'snapshot_dir = "{tmp_path / "snaps"}"',
             "[schedule]", "interval_minutes = 60", "jitter_seconds = 0",
             "[fetch]", "retries = 0", "read_timeout = 5.0", *fetch, f'allowed_hosts = ["127.0.0.1:{server.port}"]',
             "[[sources]]", 'name = "page"', f'url = "{server.url("/learn/page")}"',
             f'markdown_url = "{server.url("/md/page.md")}"', 'forms = ["markdown"]', *extra]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sigterm_during_a_trickled_fetch_stops_within_seconds(tmp_path, server):
    server.set("/md/page.md", {"action": "trickle", "interval": 0.5, "body": b"x" * 10_000})
    proc = daemon_process(_config(tmp_path, server, fetch=("total_timeout = 600",)))
    try:
        wait_until(lambda: server.hits["/md/page.md"] >= 1)
        time.sleep(0.5)  # the body is trickling now
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert took < 9, took  # the grace period (5 s) plus the cancel, not the 600 s deadline
    assert "cancelled in-flight fetches" in err
    import sqlite3

    con = sqlite3.connect(tmp_path / "cat.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM change_events WHERE kind = 'removed'").fetchone() == (0,)
    finally:
        con.close()


def test_failed_alert_is_retried_by_its_own_job_not_the_next_cycle(tmp_path, server):
    from docwatch.catalog import Catalog

    server.set("/md/page.md", {"body": PAGE})
    rec = Recorder(fail=1)
    try:
        Catalog(tmp_path / "cat.db").close()
        db = make_outbox(tmp_path / "cat.db")
        add_events(db, [event(1), event(2)])  # waiting events: the first cycle's delivery step sends them
        db.conn.close()
        config = _config(tmp_path, server, "[alerts.hook]", 'kind = "webhook"', f'url = "{rec.url("/hook")}"',
                         'secret_env = "DW_DAEMON_SECRET"', "retry_base_seconds = 1", "backlog = true")
        proc = daemon_process(config, env={"DW_DAEMON_SECRET": "daemon-secret-123"})
        try:
            wait_until(lambda: len(rec.posts) >= 1)
            first = time.monotonic()
            wait_until(lambda: len(rec.posts) >= 2, timeout=15)
            gap = time.monotonic() - first
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert gap < 8, gap  # the 1 s backoff plus the job's 1 s poll; the next cycle is 60 min away
        keys = {p["headers"]["Idempotency-Key"] for p in rec.posts}
        assert len(keys) == 1  # the same delivery, retried
        assert "cycle done" in err and err.count("cycle done") == 1
    finally:
        rec.close()


def test_apscheduler_warnings_are_json_lines_too(tmp_path):
    script = (
        "import time, logging\n"
        "from docwatch.logs import setup_logging\n"
        "setup_logging(fmt='json')\n"
        "from apscheduler.schedulers.background import BackgroundScheduler\n"
        "s = BackgroundScheduler()\n"
        "s.add_job(lambda: time.sleep(1.2), 'interval', seconds=0.3, max_instances=1)\n"
        "s.start(); time.sleep(1.5); s.shutdown(wait=True)\n"
        "logging.getLogger('docwatch.test').warning('ours too')\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every line parses: nothing printed as plain text
    assert any(r["logger"].startswith("apscheduler") and "maximum number of running instances" in r["message"]
               for r in records), out.stderr
    assert any(r["logger"] == "docwatch.test" for r in records)


def test_lock_file_that_cannot_be_created_gives_a_clear_message(tmp_path):
    # root ignores directory permissions, so use failures root cannot bypass: a "directory"
    # that is a regular file, and a lock path that is a directory
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(LockUnavailable, match="cannot create the catalog lock file .*afile/cat.db.lock"):
        CatalogLock(blocker / "cat.db", "scrape").acquire()
    (tmp_path / "cat.db.lock").mkdir()
    with pytest.raises(LockUnavailable, match="Is a directory"):
        CatalogLock(tmp_path / "cat.db", "daemon").acquire()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories; covered above")
def test_lock_file_in_a_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(LockUnavailable, match="Permission denied"):
            CatalogLock(ro / "cat.db").acquire()
    finally:
        ro.chmod(0o755)


def test_scrape_cli_reports_the_lock_problem_in_one_line(tmp_path):
    from docwatch.cli import main

    (tmp_path / "cat.db.lock").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'catalog_path = "{tmp_path / "cat.db"}"\n[[sources]]\nname = "p"\n'
                   'url = "https://learn.microsoft.com/azure/x"\n')  # never fetched: the lock comes first
    result = CliRunner().invoke(main, ["--config", str(cfg), "scrape"])
    assert result.exit_code == 1
    assert "cannot create the catalog lock file" in result.output and "unexpected" not in result.output
