"""Issue 13 delivery faults on a real SQLite outbox and real local HTTP receivers: two real
processes racing give 0 duplicate POSTs (claims with a lease), a failed delivery holds its
channel's queue in order until retried or skipped, and no secret (nor a fragment of one) echoed
by a receiver or quoted by a URL parser reaches a log line, the outbox or `alerts list`."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from docwatch.alerts import deliver_pending, parse_channels
from docwatch.alerts.outbox import (DELIVERIES, channel_states, ensure_schema, list_deliveries, reset_for_retry,
                                    skip_deliveries)
from docwatch.logs import secret_terms, setup_logging
from synthetic_alerts_support import add_events, event, make_outbox
from test_fetch_helpers import POLL

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SECRET = "whsec-race-3f9a-secret"
TOKEN_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"
FRAGMENTS = ["T0SECRET", "B0SECRET", "xoxSECRETTOKEN"]


class Recorder:
    """A real threaded HTTP receiver that records every POST; optionally slow or failing,
    and able to echo the request path in its error body (as a misbehaving proxy does)."""

    def __init__(self, *, delay: float = 0.0, fail: int = 0, echo_path: bool = False):
        self.delay, self.fail, self.echo_path = delay, fail, echo_path
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(owner.delay)
                with owner.lock:
                    owner.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    failing = len(owner.posts) <= owner.fail
                msg = (f"upstream said no for {self.path}" if owner.echo_path else "no").encode()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(msg) if failing else 2))
                self.end_headers()
                self.wfile.write(msg if failing else b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": POLL}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def keys(self) -> Counter:
        return Counter(p["headers"].get("Idempotency-Key") for p in self.posts)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder():
    made = []

    def make(**kw) -> Recorder:
        made.append(Recorder(**kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


def _webhooks(rec: Recorder, n: int, **extra) -> dict:
    return {f"hook{i}": {"kind": "webhook", "url": rec.url(f"/hook{i}"), "secret_env": "DW_RACE_SECRET",
                          "backlog": True, **extra}
            for i in range(n)}


_RUNNER = ("import json, sys\nfrom docwatch.alerts import deliver_pending, parse_channels\n"
           "r = deliver_pending(sys.argv[1], parse_channels(json.loads(sys.argv[2])))\n"
           "print(json.dumps(r.to_dict()))\n")


def test_two_processes_racing_send_each_delivery_once(tmp_path, recorder):
    rec = recorder(delay=0.3)  # slow: both runners are inside the same deliveries at once
    path = tmp_path / "catalog.db"
    db = make_outbox(path)
    add_events(db, [event(i) for i in range(1, 6)])
    db.conn.close()
    raw = _webhooks(rec, 4)
    env = dict(os.environ, DW_RACE_SECRET=SECRET)
    env.pop("DOCWATCH_TEST_CRASH_AFTER_SEND", None)
    procs = [subprocess.Popen([sys.executable, "-c", _RUNNER, str(path), json.dumps(raw)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    keys = rec.keys()
    assert len(keys) == 4 and set(keys.values()) == {1}, keys  # 4 deliveries, 0 duplicates
    reports = [json.loads(o[0]) for o in outs]
    assert sum(r[f"hook{i}"]["sent"] for r in reports for i in range(4)) == 4
    check = make_outbox(path)
    rows = check.execute(f"select status, claimed_by from {DELIVERIES}").fetchall()
    assert rows == [("sent", None)] * 4  # every claim released
    check.conn.close()


def test_threads_racing_in_one_process_send_once(tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("DW_RACE_SECRET", SECRET)
    rec = recorder(delay=0.2)
    path = tmp_path / "catalog.db"
    db = make_outbox(path)
    add_events(db, [event(1), event(2)])
    db.conn.close()
    chs = parse_channels(_webhooks(rec, 3))
    errors = []

    def run():
        try:
            deliver_pending(str(path), chs)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(rec.keys()) == 3 and set(rec.keys().values()) == {1}


def test_a_dead_holders_claim_is_taken_over_at_once(tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("DW_RACE_SECRET", SECRET)
    rec = recorder()
    db = make_outbox(tmp_path / "c.db")
    add_events(db, [event(1)])
    chs = parse_channels(_webhooks(rec, 1))
    ensure_schema(db)
    # cut the delivery, then pretend a runner that has since died (no such pid) claimed it
    db.execute("insert into alert_cursors values ('hook0', 1, '2024-05-01T12:00:00Z')")
    db.execute(f"insert into {DELIVERIES} (channel, first_event_id, last_event_id, event_ids, event_count, "
               "idempotency_key, status, attempts, next_attempt_at, created_at, claimed_by, claim_expires_at) values "
               "('hook0', 1, 1, '[1]', 1, 'k1', 'pending', 0, '2024-05-01T12:00:00Z', '2024-05-01T12:00:00Z', ?, ?)",
               [f"{os.uname().nodename}:999999999:dead", "2999-01-01T00:00:00Z"])
    db.conn.commit()
    report = deliver_pending(db, chs, now=T0)
    assert report.channels["hook0"].sent == 1 and len(rec.posts) == 1
    # a live holder's unexpired claim is respected
    add_events(db, [event(2)])
    db.execute(f"insert into {DELIVERIES} (channel, first_event_id, last_event_id, event_ids, event_count, "
               "idempotency_key, status, attempts, next_attempt_at, created_at, claimed_by, claim_expires_at) values "
               "('hook0', 2, 2, '[2]', 1, 'k2', 'pending', 0, '2024-05-01T12:00:00Z', '2024-05-01T12:00:00Z', ?, ?)",
               [f"{os.uname().nodename}:{os.getpid()}:other", "2999-01-01T00:00:00Z"])
    db.execute("update alert_cursors set last_event_id = 2")
    db.conn.commit()
    busy = deliver_pending(db, chs, now=T0)
    assert busy.channels["hook0"].busy == 1 and len(rec.posts) == 1
    db.conn.close()


def test_failed_delivery_holds_the_channel_in_order_until_retry_or_skip(tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("DW_RACE_SECRET", SECRET)
    rec = recorder(fail=2)
    db = make_outbox(tmp_path / "c.db")
    chs = parse_channels(_webhooks(rec, 1, max_attempts=2, retry_base_seconds=1))
    first = add_events(db, [event(i) for i in range(1, 4)])
    deliver_pending(db, chs, now=T0)
    r = deliver_pending(db, chs, now=T0 + timedelta(seconds=5))
    assert r.channels["hook0"].gave_up == 1
    later = add_events(db, [event(i) for i in range(4, 7)])
    held = deliver_pending(db, chs, now=T0 + timedelta(minutes=1))
    assert held.channels["hook0"].held and len(rec.posts) == 2  # newer events did not overtake
    [state] = channel_states(db, chs, now=T0 + timedelta(minutes=1))
    assert state.state == "held" and state.failed == 1 and state.undelivered_events == 3
    assert "alerts skip hook0" in state.line() and "HTTP 500" in state.line()
    # retry: the held events go first, then the newer ones
    reset_for_retry(db, channel="hook0", now=T0 + timedelta(minutes=2))
    deliver_pending(db, chs, now=T0 + timedelta(minutes=2))
    sent = [[e["id"] for e in json.loads(p["body"])["events"]] for p in rec.posts[2:]]
    assert sent == [first, later]
    assert channel_states(db, chs)[0].state == "ok"
    db.conn.close()


def test_skip_releases_a_held_channel_without_sending_the_skipped_events(tmp_path, recorder, monkeypatch):
    monkeypatch.setenv("DW_RACE_SECRET", SECRET)
    rec = recorder(fail=1)
    db = make_outbox(tmp_path / "c.db")
    chs = parse_channels(_webhooks(rec, 1, max_attempts=1))
    add_events(db, [event(1)])
    deliver_pending(db, chs, now=T0)
    later = add_events(db, [event(2)])
    assert deliver_pending(db, chs, now=T0).channels["hook0"].held
    skipped = skip_deliveries(db, "hook0", now=T0)
    assert [r["event_count"] for r in skipped] == [1]
    deliver_pending(db, chs, now=T0)
    assert [[e["id"] for e in json.loads(p["body"])["events"]] for p in rec.posts[1:]] == [later]
    statuses = [r["status"] for r in list_deliveries(db, statuses=("pending", "failed", "sent", "skipped"))]
    assert statuses == ["sent", "skipped"]
    db.conn.close()


def test_an_old_outbox_table_is_upgraded_in_place(tmp_path):
    db = make_outbox(tmp_path / "old.db")
    db.conn.executescript("""
        DROP TABLE alert_deliveries; DROP TABLE alert_cursors;
        CREATE TABLE alert_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
          first_event_id INTEGER, last_event_id INTEGER, event_ids TEXT NOT NULL, event_count INTEGER NOT NULL,
          idempotency_key TEXT NOT NULL UNIQUE, status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
          attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_attempt_at TEXT, last_error TEXT,
          created_at TEXT NOT NULL, sent_at TEXT);
        CREATE TABLE alert_cursors (channel TEXT PRIMARY KEY, last_event_id INTEGER NOT NULL, updated_at TEXT NOT NULL);
        INSERT INTO alert_deliveries (channel, event_ids, event_count, idempotency_key, status, created_at)
          VALUES ('x', '[1]', 1, 'k', 'failed', '2024-01-01T00:00:00Z');
    """)
    ensure_schema(db)
    assert {"claimed_by", "claim_expires_at", "skipped_at"} <= set(db["alert_deliveries"].columns_dict)
    assert len(skip_deliveries(db, "x")) == 1
    db.conn.close()


def test_secret_fragments_echoed_by_a_receiver_appear_nowhere(tmp_path, recorder, monkeypatch):
    rec = recorder(fail=10**6, echo_path=True)
    slack_url = rec.url(TOKEN_PATH)
    monkeypatch.setenv("DW_LEAK_SLACK", slack_url)
    monkeypatch.setenv("DW_LEAK_BAD", "https://hooks.slack.com:xoxSECRETTOKEN/services/T0SECRET/B0SECRET")
    stream = io.StringIO()
    setup_logging(debug=True, fmt="json")
    root = logging.getLogger()
    mine = [h for h in root.handlers if getattr(h, "_docwatch", False)]
    mine[0].setStream(stream)
    cfg_path = tmp_path / "config.toml"
    db_path = tmp_path / "cat.db"
    cfg_path.write_text(f'catalog_path = "{db_path}"\n[alerts.slack]\nkind = "slack"\nurl_env = "DW_LEAK_SLACK"\n'
                        'backlog = true\n[alerts.bad]\nkind = "slack"\nurl_env = "DW_LEAK_BAD"\nbacklog = true\n')
    try:
        from docwatch.catalog import Catalog

        Catalog(db_path).close()  # a real catalog, so `alerts list` reads it as users would
        db = make_outbox(db_path)
        add_events(db, [event(1)])
        chs = parse_channels({"slack": {"kind": "slack", "url_env": "DW_LEAK_SLACK", "backlog": True},
                              "bad": {"kind": "slack", "url_env": "DW_LEAK_BAD", "backlog": True}})
        deliver_pending(db, chs, now=T0)
        deliver_pending(db, chs, now=T0 + timedelta(hours=1))
        assert len(rec.posts) == 2 and TOKEN_PATH in rec.posts[0]["path"]  # the receiver did echo it
        errors = [r["last_error"] for r in list_deliveries(db)]
        assert len(errors) == 2 and all(errors)
        assert any("malformed channel URL" in e for e in errors)
        db.conn.close()
        from click.testing import CliRunner

        from docwatch.cli import main
        listed = CliRunner().invoke(main, ["--config", str(cfg_path), "alerts", "list"], catch_exceptions=False)
        listed_json = CliRunner().invoke(main, ["--config", str(cfg_path), "alerts", "list", "--json"])
    finally:
        logging.getLogger("docwatch").setLevel(logging.WARNING)
        mine[0].setStream(sys.stderr)
    logged = stream.getvalue()
    assert "upstream said no" in logged  # the echoed body was logged, scrubbed
    for line in logged.splitlines():
        json.loads(line)  # JSON logs stay JSON
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("cat.db"))
    for text in (logged, json.dumps(errors), listed.output, listed_json.output, stored.decode("latin-1")):
        for secret in [*FRAGMENTS, slack_url]:
            assert secret not in text, (secret, text[:2000])
    assert "HTTP 500" in listed.output


def test_secret_terms_keep_hosts_and_plain_words():
    terms = secret_terms("https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxSECRETTOKEN")
    assert {"T0SECRET", "B0SECRET", "xoxSECRETTOKEN"} <= set(terms)
    assert "hooks.slack.com" not in terms and "services" not in terms


def test_alerts_cli_shows_a_held_channel_and_skip_releases_it(tmp_path, recorder, monkeypatch):
    from click.testing import CliRunner

    from docwatch.catalog import Catalog
    from docwatch.cli import main

    monkeypatch.setenv("DW_RACE_SECRET", SECRET)
    rec = recorder(fail=1)
    db_path = tmp_path / "cat.db"
    Catalog(db_path).close()
    db = make_outbox(db_path)
    add_events(db, [event(1)])
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'catalog_path = "{db_path}"\n[alerts.hook]\nkind = "webhook"\nurl = "{rec.url("/hook")}"\n'
                   'secret_env = "DW_RACE_SECRET"\nmax_attempts = 1\nbacklog = true\n')
    run = lambda *a: CliRunner().invoke(main, ["--config", str(cfg), *a])  # noqa: E731
    first = run("alerts", "deliver")
    assert first.exit_code == 1 and "HTTP 500" in first.output
    later = add_events(db, [event(2)])
    db.conn.close()
    held = run("alerts", "deliver")
    assert "HELD" in held.output and len(rec.posts) == 1
    listed = run("alerts", "list")
    assert "HELD since" in listed.output and "alerts skip hook" in listed.output
    assert json.loads(run("alerts", "list", "--json").output)["channels"][0]["state"] == "held"
    skipped = run("alerts", "skip", "hook")
    assert skipped.exit_code == 0, skipped.output
    assert "1 delivery skipped (1 events will not be sent)" in skipped.output
    assert [[e["id"] for e in json.loads(p["body"])["events"]] for p in rec.posts[1:]] == [later]
    assert run("alerts", "skip", "nope").exit_code == 2
