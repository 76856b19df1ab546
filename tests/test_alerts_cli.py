"""`docwatch alerts list|retry|test|deliver` through the real CLI, config.toml and catalog:
`docwatch ingest` of two versions queues real change events that reach a local receiver."""
from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from docwatch.cli import main
from synthetic_alerts_support import Receiver

HERE = Path(__file__).resolve().parent
SECRET = "cli-webhook-secret-9f8e"


@pytest.fixture
def setup(httpserver, tmp_path):
    web = Receiver("webhook", SECRET, fail_first=1)
    slack = Receiver("slack")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(web)
    httpserver.expect_request("/slack", method="POST").respond_with_handler(slack)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
catalog_path = "{tmp_path / 'docwatch.db'}"

[alerts.hook]
kind = "webhook"
url = "{httpserver.url_for('/hook')}"
secret_env = "DW_CLI_SECRET"

[alerts.chat]
kind = "slack"
url_env = "DW_CLI_SLACK_URL"

[alerts.feed]
kind = "atom"
path = "{tmp_path / 'feed.xml'}"
""")
    env = {"DW_CLI_SECRET": SECRET, "DW_CLI_SLACK_URL": httpserver.url_for("/slack")}

    def run(*args, code=0):
        result = CliRunner().invoke(main, ["--config", str(cfg), *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run, web, slack, tmp_path


def test_ingest_delivers_and_alerts_commands_manage_the_outbox(setup):
    run, web, slack, tmp = setup
    run("ingest", str(HERE / "synthetic_alerts_v1.md"), "--source", "synth", "--at", "2025-01-15")
    assert web.requests == [] and slack.requests == []  # a first version is a baseline: no events
    run("ingest", str(HERE / "synthetic_alerts_v2.md"), "--source", "synth", "--at", "2025-02-20")
    assert len(slack.accepted) == 1 and slack.problems == []
    assert len(web.requests) == 1 and web.accepted == []  # the webhook failed once
    feed = feedparser.parse((tmp / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) >= 2

    listed = json.loads(run("alerts", "list", "--json"))
    pending = listed["deliveries"]
    assert [(d["channel"], d["status"], d["attempts"]) for d in pending] == [("hook", "pending", 1)]
    assert "HTTP 503" in pending[0]["last_error"]
    assert {c["name"] for c in listed["channels"]} == {"hook", "chat", "feed"}
    assert "DW_CLI_SLACK_URL" in run("alerts", "list")  # where the secret comes from, not the secret

    out = run("alerts", "retry", "hook")
    assert "1 delivery due now" in out and "hook: 1 sent" in out
    assert len(web.accepted) == 1 and web.problems == []
    events = web.accepted[0]["json"]["events"]
    assert {e["party"] for e in events} >= {"login.example.com", "telemetry.example.org"}
    slack_text = json.dumps(slack.accepted[0]["json"])
    assert "<!channel>" not in slack_text
    assert "No pending or failed deliveries." in run("alerts", "list")
    assert "hook" in run("alerts", "list", "--all")


def test_alerts_test_sends_a_sample_and_rejects_unknown_channels(setup):
    run, web, slack, tmp = setup
    out = run("alerts", "test", "chat")
    assert "sample digest with 2 changes sent" in out and len(slack.accepted) == 1 and slack.problems == []
    run("alerts", "test", "feed")
    assert not feedparser.parse((tmp / "feed.xml").read_bytes()).bozo
    bad = run("alerts", "test", "nope", code=2)
    assert "unknown alert channel 'nope'" in bad and "hook, chat, feed" in bad
    fail = run("alerts", "test", "hook", code=1)  # the receiver answers 503 the first time
    assert "HTTP 503" in fail and SECRET not in fail


def test_bad_alert_config_names_key_and_line(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[alerts.mail]\nkind = "email"\nhost = "smtp.example.org"\nfrom = "a@example.org"\n'
                   'to = ["b@example.org"]\npassword = "hunter2"\n')
    result = CliRunner().invoke(main, ["--config", str(cfg), "alerts", "list"])
    assert result.exit_code == 2
    assert "[alerts.mail.password]" in result.output and "line 6" in result.output
    assert "password_env" in result.output and "hunter2" not in result.output
