"""Outbox delivery against real local HTTP receivers (pytest-httpserver) on a real SQLite file.

The receivers validate Slack Block Kit, Teams Adaptive Card and webhook HMAC signatures on
every request (see synthetic_alerts_support.py); a malformed message is answered 400 and
the delivery under test fails.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from docwatch.alerts import deliver_pending, parse_channels
from docwatch.alerts.outbox import DELIVERIES, idempotency_key, list_deliveries, reset_for_retry
from synthetic_alerts_support import Receiver, add_events, event, make_outbox

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SECRET = "whsec-Zq81-very-secret-value"
SLACK_TOKEN = "T000/B000/XXXXslacktokenXXXX"


@pytest.fixture
def db(tmp_path):
    handle = make_outbox(tmp_path / "catalog.db")
    yield handle
    handle.conn.close()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("DW_TEST_SECRET", SECRET)
    return monkeypatch


def hook(httpserver, path: str, receiver: Receiver) -> str:
    httpserver.expect_request(path, method="POST").respond_with_handler(receiver)
    return httpserver.url_for(path)


def channels(**tables) -> list:
    """Channels that take the events stored before them (``backlog = true``): these tests store
    events first, then deliver."""
    return parse_channels({name: {"backlog": True, **t} for name, t in tables.items()})


def test_a_new_channel_starts_from_now_unless_it_asks_for_the_backlog(httpserver, tmp_path):
    web = Receiver("webhook", SECRET)
    url = hook(httpserver, "/hook", web)
    db = make_outbox(tmp_path / "catalog.db")
    add_events(db, [event(1, severity="high"), event(2, severity="high")])
    os.environ["DW_TEST_SECRET"] = SECRET
    fresh = parse_channels({"fresh": {"kind": "webhook", "url": url, "secret_env": "DW_TEST_SECRET"}})
    from docwatch.alerts.outbox import start_channels

    start_channels(db, fresh)  # what every writer does before it adds events
    add_events(db, [event(3, severity="high")])
    deliver_pending(db, fresh, now="2026-01-01T00:00:00Z")
    assert [e["party"] for r in web.accepted for e in r["json"]["events"]] == ["host3.monitor.azure.com"]


def webhook_ids(receiver: Receiver) -> list[list[int]]:
    return [[e["id"] for e in r["json"]["events"]] for r in receiver.accepted]


def test_each_kind_is_delivered_once_in_valid_form(httpserver, db, env):
    slack, teams, web = Receiver("slack"), Receiver("teams"), Receiver("webhook", SECRET)
    env.setenv("DW_TEST_SLACK_URL", hook(httpserver, f"/services/{SLACK_TOKEN}", slack))
    chs = channels(
        slack={"kind": "slack", "url_env": "DW_TEST_SLACK_URL"},
        teams={"kind": "teams", "url": hook(httpserver, "/teams", teams)},
        hook={"kind": "webhook", "url": hook(httpserver, "/hook", web), "secret_env": "DW_TEST_SECRET"},
    )
    ids = add_events(db, [event(1, severity="high", kind="removed"), event(2), event(3, cloud="usgov")])
    report = deliver_pending(db, chs, now=T0)
    assert slack.problems == teams.problems == web.problems == []
    assert [len(r.accepted) for r in (slack, teams, web)] == [1, 1, 1]
    assert {n: (r.sent, r.failed, r.pending, r.events) for n, r in report.channels.items()} == {
        "slack": (1, 0, 0, 3), "teams": (1, 0, 0, 3), "hook": (1, 0, 0, 3)}
    body = web.accepted[0]["json"]
    assert webhook_ids(web) == [ids]
    assert body["events"][0]["summary"] == event(1).summary and body["events"][0]["severity"] == "high"
    assert web.accepted[0]["headers"]["Idempotency-Key"] == idempotency_key("hook", ids)
    # one Slack section per (page, cloud) group: public and usgov
    sections = [b for b in slack.accepted[0]["json"]["blocks"] if b["type"] == "section"]
    assert len(sections) == 2 and "Azure Government" in sections[1]["text"]["text"]
    # a second run finds nothing new: nothing is re-sent
    again = deliver_pending(db, chs, now=T0 + timedelta(hours=1))
    assert [len(r.requests) for r in (slack, teams, web)] == [1, 1, 1]
    assert all(r.sent == 0 and r.pending == 0 for r in again.channels.values())


def test_receiver_failing_then_recovering_gets_every_event_exactly_once(httpserver, db, env):
    web = Receiver("webhook", SECRET, fail_first=3)
    chs = channels(hook={"kind": "webhook", "url": hook(httpserver, "/hook", web), "secret_env": "DW_TEST_SECRET",
                         "retry_base_seconds": 10})
    first = add_events(db, [event(i) for i in range(1, 6)])
    now, later = T0, []
    delays = []
    for step in range(8):
        report = deliver_pending(db, chs, now=now)
        if step == 1:  # events arriving during the outage wait for the stuck delivery
            later = add_events(db, [event(i) for i in range(6, 9)])
        row = db.execute(f"select next_attempt_at from {DELIVERIES} where status = 'pending' order by id limit 1").fetchone()
        if row is None:
            break
        nxt = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
        delays.append((nxt - now).total_seconds())
        now = nxt
    assert web.problems == []
    assert report.channels["hook"].pending == 0
    assert delays[:3] == [10, 20, 40]  # exponential backoff
    got = [i for ids in webhook_ids(web) for i in ids]
    assert sorted(got) == first + later and len(got) == len(set(got))  # every event exactly once
    assert webhook_ids(web) == [first, later]  # in order, and the outage cost no extra messages
    keys = [r["headers"]["Idempotency-Key"] for r in web.requests]
    assert keys[:4] == [idempotency_key("hook", first)] * 4  # 3 failures + success share the key
    status = db.execute(f"select status, attempts from {DELIVERIES} order by id").fetchall()
    assert status == [("sent", 4), ("sent", 1)]


def test_one_failing_channel_never_blocks_the_others(httpserver, db, env):
    bad, good = Receiver("webhook", SECRET, fail_first=10**6), Receiver("slack")
    chs = channels(
        broken={"kind": "webhook", "url": hook(httpserver, "/bad", bad), "secret_env": "DW_TEST_SECRET"},
        refused={"kind": "teams", "url": "http://127.0.0.1:9/nothing-listens-here", "timeout": 2},
        missing_env={"kind": "slack", "url_env": "DW_TEST_UNSET_VARIABLE"},
        ok={"kind": "slack", "url": hook(httpserver, "/ok", good)},
    )
    add_events(db, [event(1), event(2)])
    report = deliver_pending(db, chs, now=T0)
    assert len(good.accepted) == 1 and good.problems == []
    assert report.channels["ok"].sent == 1
    for name in ("broken", "refused", "missing_env"):
        r = report.channels[name]
        assert (r.sent, r.failed, r.pending) == (0, 1, 1), name
    assert "HTTP 503" in report.channels["broken"].errors[0]
    assert "DW_TEST_UNSET_VARIABLE" in report.channels["missing_env"].errors[0]
    pending = {r["channel"]: r for r in list_deliveries(db)}
    assert set(pending) == {"broken", "refused", "missing_env"}
    assert all(r["attempts"] == 1 and r["last_error"] for r in pending.values())


def test_gives_up_after_max_attempts_then_retry_delivers(httpserver, db, env):
    web = Receiver("webhook", SECRET, fail_first=2)
    chs = channels(hook={"kind": "webhook", "url": hook(httpserver, "/hook", web), "secret_env": "DW_TEST_SECRET",
                         "max_attempts": 2, "retry_base_seconds": 1})
    ids = add_events(db, [event(1)])
    deliver_pending(db, chs, now=T0)
    report = deliver_pending(db, chs, now=T0 + timedelta(minutes=5))
    assert report.channels["hook"].gave_up == 1
    assert [r["status"] for r in list_deliveries(db)] == ["failed"]
    # a failed delivery holds the channel's newer events: per channel, events go out in order
    more = add_events(db, [event(2)])
    held = deliver_pending(db, chs, now=T0 + timedelta(minutes=10))
    assert webhook_ids(web) == [] and held.channels["hook"].held
    assert reset_for_retry(db, channel="hook", now=T0 + timedelta(minutes=11)) == 1
    deliver_pending(db, chs, now=T0 + timedelta(minutes=11))
    assert webhook_ids(web) == [ids, more]
    assert list_deliveries(db) == []


def test_channel_filters_sources_clouds_and_severity(httpserver, db, env):
    web = {n: Receiver("webhook", SECRET) for n in ("all", "gov", "high", "info")}
    base = {"kind": "webhook", "secret_env": "DW_TEST_SECRET"}
    chs = channels(
        all=dict(base, url=hook(httpserver, "/all", web["all"])),
        gov=dict(base, url=hook(httpserver, "/gov", web["gov"]), sources=["azure-monitor"], clouds=["usgov"]),
        high=dict(base, url=hook(httpserver, "/high", web["high"]), min_severity="high"),
        info=dict(base, url=hook(httpserver, "/info", web["info"]), min_severity="info"),
    )
    ids = add_events(db, [
        event(1, severity="high"),                       # public
        event(2, cloud="usgov"),                         # usgov, medium
        event(3, severity="info"),                       # info: only for the "info" channel
        event(4, source="apim", cloud="usgov"),          # other page
        event(5, kind="anomaly", cloud=None, severity="high", summary="page fetch returned an error page"),
    ])
    deliver_pending(db, chs, now=T0)
    got = {n: [i for ids_ in webhook_ids(r) for i in ids_] for n, r in web.items()}
    assert got == {"all": [ids[0], ids[1], ids[3], ids[4]], "gov": [ids[1], ids[4]],
                   "high": [ids[0], ids[4]], "info": ids}


def test_restart_does_not_resend_and_crash_after_send_resends_same_key(httpserver, tmp_path, env):
    web = Receiver("webhook", SECRET)
    url = hook(httpserver, "/hook", web)
    path = tmp_path / "catalog.db"
    db = make_outbox(path)
    ids = add_events(db, [event(1, severity="high"), event(2)])
    db.conn.close()
    raw = {"hook": {"kind": "webhook", "url": url, "secret_env": "DW_TEST_SECRET", "backlog": True}}
    script = ("import json, sys\nfrom docwatch.alerts import deliver_pending, parse_channels\n"
              "r = deliver_pending(sys.argv[1], parse_channels(json.loads(sys.argv[2])), now=sys.argv[3])\n"
              "print(json.dumps(r.to_dict()))\n")

    def run(crash: bool) -> subprocess.CompletedProcess:
        env_vars = dict(os.environ, DW_TEST_SECRET=SECRET)
        env_vars.pop("DOCWATCH_TEST_CRASH_AFTER_SEND", None)
        if crash:
            env_vars["DOCWATCH_TEST_CRASH_AFTER_SEND"] = "1"
        return subprocess.run([sys.executable, "-c", script, str(path), json.dumps(raw), T0.isoformat()],
                              cwd=REPO, env=env_vars, capture_output=True, text=True, timeout=60)

    crashed = run(crash=True)
    assert crashed.returncode == 86, crashed.stderr  # died between the POST and the mark
    assert len(web.accepted) == 1
    resumed = run(crash=False)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["hook"]["sent"] == 1
    keys = [r["headers"]["Idempotency-Key"] for r in web.accepted]
    assert keys == [idempotency_key("hook", ids)] * 2  # the duplicate is recognisable
    assert webhook_ids(web) == [ids, ids]  # nothing lost
    again = run(crash=False)  # a restart after the mark sends nothing
    assert again.returncode == 0 and len(web.requests) == 2
    assert web.problems == []


def test_secrets_never_reach_the_db_or_logs(httpserver, tmp_path, env, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("docwatch").propagate = True  # setup_logging may have turned it off
    failing = Receiver("slack", fail_first=10**6)
    web = Receiver("webhook", SECRET, fail_first=1)
    slack_url = hook(httpserver, f"/services/{SLACK_TOKEN}", failing)
    env.setenv("DW_TEST_SLACK_URL", slack_url)
    env.setenv("DW_TEST_SMTP_PASSWORD", "smtp-pa55-secret")
    chs = channels(
        slack={"kind": "slack", "url_env": "DW_TEST_SLACK_URL"},
        inline={"kind": "teams", "url": f"http://127.0.0.1:9/workflows/{SLACK_TOKEN}inline", "timeout": 2},
        hook={"kind": "webhook", "url": hook(httpserver, "/hook", web), "secret_env": "DW_TEST_SECRET"},
        mail={"kind": "email", "host": "127.0.0.1", "port": 9, "security": "none", "from": "dw@example.org",
              "to": ["ops@example.org"], "username": "dw", "password_env": "DW_TEST_SMTP_PASSWORD", "timeout": 2},
    )
    path = Path(tmp_path / "catalog.db")
    db = make_outbox(path)
    add_events(db, [event(1)])
    for minutes in (0, 60):
        deliver_pending(db, chs, now=T0 + timedelta(minutes=minutes))
    assert len(web.accepted) == 1 and len(failing.requests) == 2
    errors = [r["last_error"] for r in list_deliveries(db)]
    assert len(errors) == 3 and all(errors)
    secrets = [SECRET, SLACK_TOKEN, slack_url, "smtp-pa55-secret"]
    # everything our side logged (docwatch, httpx, httpcore); werkzeug is the receiver's access log
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in ours)
    assert "docwatch.alerts" in logged and "httpx HTTP Request" in logged  # the run was logged at all
    text = logged + repr(chs) + json.dumps(errors)
    db.conn.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("catalog.db"))
    for secret in secrets:
        assert secret not in text, secret
        assert secret.encode() not in stored, secret
