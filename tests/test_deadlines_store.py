"""Deadlines kept in a real SQLite catalog: change events for new and moved deadlines, page-level
deadlines, ``docwatch deadlines``, and reminders fired once per offset with a fake clock and
delivered through the real outbox to a local webhook receiver."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CORPUS, SEEDS, corpus_versions
from docwatch.alerts import deliver_pending
from docwatch.catalog import Catalog
from docwatch.cli import main
from docwatch.config import ConfigError, parse_config
from docwatch.deadline_store import (deadline_key, due_reminders, emit_reminders, record_deadlines,
                                     reminder_offsets, stored_deadlines, upcoming)
from docwatch.pipeline import Observation, extract, ingest
from synthetic_alerts_support import Receiver

HERE = Path(__file__).resolve().parent
PAGE = HERE / "synthetic_backfill_page.md"

try:  # the extractor's own record type once it lands; same fields otherwise
    from docwatch.deadlines import Deadline as _Deadline  # type: ignore
except ImportError:  # pragma: no cover - until docwatch/deadlines.py exists
    _Deadline = None


@dataclass
class _Record:
    date: date
    sentence: str
    parties: list[str] = field(default_factory=list)
    section: list[str] = field(default_factory=list)
    line: int | None = None


def dl(day: str, sentence: str, parties=(), section=("Outbound endpoints",), line=12):
    kw = dict(sentence=sentence, parties=list(parties), section=list(section), line=line)
    if _Deadline is not None:
        return _Deadline(date=day, **kw)
    return _Record(date=date.fromisoformat(day), **kw)


def put(cat, text: str, at: str, deadlines, source="svc"):
    doc, rules = extract(text, path=str(PAGE))
    obs = Observation(source, doc, rules, observed_at=at, content_hash=str(hash((text, at))), form="markdown",
                      doc_commit="c0ffee" + at[:4], commit_url=f"https://github.com/o/r/commit/c0ffee{at[:4]}")
    res = ingest(cat, obs, deadlines=deadlines)  # the pipeline records them (and raises their events)
    return obs, res, [e for e in res.events if e.kind in ("deadline",)]


TLS = "Starting {d}, the service enforces TLS 1.2 or higher."
TAG = "After {d}, allowing the `AzureMonitor` tag to login.example.com will be required."


def test_new_moved_and_page_level_deadlines(tmp_path):
    text = PAGE.read_text()
    with Catalog(tmp_path / "c.db") as cat:
        _, res, evs = put(cat, text, "2025-01-01T00:00:00Z", [dl("2026-03-01", TLS.format(d="March 1, 2026"))])
        assert res.status == "first" and evs == []  # the baseline raises no events, as for rules
        assert [d.date for d in stored_deadlines(cat)] == ["2026-03-01"]
        text2 = text + "| `extra.example.com` | 443 | More |\n"
        obs, res, evs = put(cat, text2, "2025-02-01T00:00:00Z",
                            [dl("2026-03-01", TLS.format(d="March 1, 2026")),
                             dl("2026-06-30", TAG.format(d="June 30, 2026"), parties=["login.example.com", "AzureMonitor"])])
        assert [(e.kind, e.impact, e.old, e.new) for e in evs] == [("deadline", "deadline-added", None, "2026-06-30")]
        assert evs[0].doc_commit == "c0ffee2025" and evs[0].commit_url.endswith("/c0ffee2025")
        assert "login.example.com" in evs[0].rule_key
        # idempotent per version: a second call (pipeline and backfill both) adds nothing
        assert record_deadlines(cat, obs, res, deadlines=[dl("2027-01-01", "By January 1, 2027, x.")]) == []
        by_date = {d.date: d for d in stored_deadlines(cat)}
        assert by_date["2026-03-01"].level == "page" and by_date["2026-03-01"].rule_keys == []
        assert by_date["2026-06-30"].level == "rule" and by_date["2026-06-30"].section == ["Outbound endpoints"]
        # moved: same sentence, new date → one "moved" event, the same deadline row
        _, _, evs = put(cat, text2 + "\n", "2025-03-01T00:00:00Z",
                        [dl("2026-04-01", TLS.format(d="April 1, 2026")),
                         dl("2026-06-30", TAG.format(d="June 30, 2026"), parties=["login.example.com", "AzureMonitor"])])
        assert [(e.impact, e.old, e.new) for e in evs] == [("deadline-moved", "2026-03-01", "2026-04-01")]
        assert "page level" in evs[0].summary
        assert sorted(d.date for d in stored_deadlines(cat)) == ["2026-04-01", "2026-06-30"]
        # shown by `docwatch changes` with the other change events
        assert {e.kind for e in cat.events(source="svc")} == {"deadline", "added"}
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "c.db"), "changes", "--json"])
    assert r.exit_code == 0, r.output
    assert [e["impact"] for e in json.loads(r.output) if e["kind"] == "deadline"] == ["deadline-added", "deadline-moved"]


def test_vanished_deadline_is_not_listed_and_anomaly_changes_nothing(tmp_path):
    text = PAGE.read_text()
    with Catalog(tmp_path / "c.db") as cat:
        put(cat, text, "2025-01-01T00:00:00Z", [dl("2026-03-01", TLS.format(d="March 1, 2026"))])
        # a collapsed version (no tables) is an anomaly: its (missing) deadlines are ignored
        _, res, evs = put(cat, "# Network requirements\n\nNothing here.\n", "2025-02-01T00:00:00Z", [])
        assert res.status == "anomaly" and evs == []
        assert len(stored_deadlines(cat)) == 1
        put(cat, text + "\n", "2025-03-01T00:00:00Z", [])
        assert stored_deadlines(cat) == [] and len(stored_deadlines(cat, include_removed=True)) == 1
    assert deadline_key(TLS.format(d="March 1, 2026"), []) == deadline_key(TLS.format(d="1 April 2027"), [])


def _catalog_with(tmp_path, day: str) -> Catalog:
    cat = Catalog(tmp_path / "r.db")
    put(cat, PAGE.read_text(), "2025-01-01T00:00:00Z", [dl(day, TLS.format(d=day))])
    return cat


def test_reminder_fires_once_at_each_offset_through_the_outbox(tmp_path, httpserver, monkeypatch):
    monkeypatch.setenv("DW_TEST_SECRET", "whsec-reminder-test-secret")
    day = date(2027, 3, 1)
    web = Receiver("webhook", "whsec-reminder-test-secret")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(web)
    cfg = parse_config({"deadlines": {"reminders": [30, 7, 1]}, "servicetags": [],
                        "alerts": {"hook": {"kind": "webhook", "url": httpserver.url_for("/hook"),
                                            "secret_env": "DW_TEST_SECRET"}}})
    assert reminder_offsets(cfg) == [30, 7, 1]
    channels = cfg.channels
    cat = _catalog_with(tmp_path, day.isoformat())
    try:
        fired = []
        for back in (45, 31, 30, 30, 29, 8, 7, 7, 3, 1, 1, 0, -1):
            now = datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc) - timedelta(days=back)
            evs = emit_reminders(cat, cfg, now=now)  # the daemon's per-cycle hook, fake clock
            fired += [(back, e.impact) for e in evs]
            deliver_pending(cat, channels, now=now)
        assert fired == [(30, "deadline-in-30d"), (7, "deadline-in-7d"), (1, "deadline-in-1d")]
        sent = [e for r in web.accepted for e in r["json"]["events"]]
        assert [e["kind"] for e in sent] == ["reminder"] * 3
        assert "tomorrow" in sent[-1]["summary"] and sent[-1]["severity"] == "high"
        assert sent[0]["doc_commit"] == "c0ffee2025"
    finally:
        cat.close()


def test_overtaken_offsets_fire_only_the_most_imminent(tmp_path):
    cat = _catalog_with(tmp_path, "2027-03-01")
    try:
        evs = due_reminders(cat, [30, 7, 1], now="2027-02-24T00:00:00Z")  # 5 days left, first check
        assert [e.impact for e in evs] == ["deadline-in-7d"] and "in 5 days" in evs[0].summary
        assert due_reminders(cat, [30, 7, 1], now="2027-02-25T00:00:00Z") == []
        assert [e.impact for e in due_reminders(cat, [30, 7, 1], now="2027-02-28T00:00:00Z")] == ["deadline-in-1d"]
    finally:
        cat.close()


def test_config_rejects_bad_reminders():
    with pytest.raises(ConfigError):
        parse_config({"deadlines": {"reminders": [30, -1]}})
    with pytest.raises(ConfigError):
        parse_config({"deadlines": {"remind": [1]}})
    assert parse_config({}).deadlines.reminders == [30, 7, 1]


def test_deadlines_command(tmp_path):
    cat = _catalog_with(tmp_path, "2027-03-01")
    cat.close()
    db = str(tmp_path / "r.db")

    def run(*args):
        return CliRunner().invoke(main, ["--db", db, "deadlines", *args])

    r = run("--as-of", "2027-01-15", "--within", "90d", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(d["date"], d["days_left"], d["level"]) for d in rows] == [("2027-03-01", 45, "page")]
    assert json.loads(run("--as-of", "2027-01-15", "--within", "30d", "--json").output) == []
    assert json.loads(run("--as-of", "2027-03-02", "--json").output) == []  # past deadlines are not upcoming
    out = run("--as-of", "2027-01-15").output
    assert "2027-03-01" in out and "45d" in out
    assert "No upcoming deadlines within 7 days" in run("--as-of", "2027-01-15", "--within", "1w").output
    r = run("--within", "soon")
    assert r.exit_code == 2 and "bad --within" in r.output
    with Catalog(db) as c:
        assert [d.date for d in upcoming(c, now="2027-01-15", within_days=90)] == ["2027-03-01"]


def _real_deadlines():
    return pytest.importorskip("docwatch.deadlines", reason="docwatch/deadlines.py (the extractor) not merged yet")


def test_real_corpus_deadlines_are_stored(tmp_path):
    """Azure Monitor's March 1, 2026 TLS change and the Arc servers seed's October 28, 2025 tag
    requirement, read by the real extractor, stored with provenance."""
    _real_deadlines()
    v = next(v for v in corpus_versions("azure-monitor-network-access") if v["ms_date"] >= "2025-07-01")
    seed = SEEDS / "003_90d62027cc5eb295.txt"
    if not seed.exists():
        pytest.skip(f"seed {seed} not found")
    with Catalog(tmp_path / "c.db") as cat:
        for name, path in (("monitor", Path(v["file"])), ("arc", seed)):
            text = path.read_text(encoding="utf-8")
            doc, rules = extract(text, path=str(path))
            for at in ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"):  # baseline, then a changed copy
                obs = Observation(name, doc, rules, observed_at=at, content_hash=at, form="markdown")
                record_deadlines(cat, obs, ingest(cat, obs))
        dates = {(d.source, d.date) for d in stored_deadlines(cat)}
        assert ("monitor", "2026-03-01") in dates and ("arc", "2025-10-28") in dates
        arc = next(d for d in stored_deadlines(cat, source="arc") if d.date == "2025-10-28")
        assert "AzureArcInfrastructure" in arc.sentence and arc.level == "rule"
        assert any("azurearcinfrastructure" in k for k in arc.rule_keys)
        tls = next(d for d in stored_deadlines(cat, source="monitor") if d.date == "2026-03-01")
        assert tls.level == "page" and "TLS 1.2" in tls.sentence  # names no rule: kept at page level
    assert CORPUS.exists()


def test_daemon_cycle_sends_a_due_reminder_once(tmp_path, httpserver, monkeypatch):
    """The real daemon job (no sources to fetch): a deadline 7 days from today is reminded in
    the first cycle, through the outbox to a webhook, and not again in the next cycle."""
    from docwatch.daemon import Daemon

    monkeypatch.setenv("DW_TEST_SECRET", "whsec-reminder-test-secret")
    web = Receiver("webhook", "whsec-reminder-test-secret")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(web)
    day = (datetime.now(timezone.utc) + timedelta(days=7)).date().isoformat()
    cat = _catalog_with(tmp_path, day)
    cat.close()
    cfg = parse_config({"snapshot_dir": str(tmp_path / "snaps"), "deadlines": {"reminders": [30, 7, 1]},
                        "servicetags": [],  # nothing to fetch: this cycle only reminds and delivers
                        "alerts": {"hook": {"kind": "webhook", "url": httpserver.url_for("/hook"),
                                            "secret_env": "DW_TEST_SECRET"}}})
    daemon = Daemon(cfg, tmp_path / "r.db", sources=[])
    daemon.run_cycle()
    daemon.run_cycle()
    sent = [e for r in web.accepted for e in r["json"]["events"] if e["kind"] == "reminder"]
    assert [(e["impact"], e["new"]) for e in sent] == [("deadline-in-7d", day)]
    with Catalog(tmp_path / "r.db") as c:
        assert [e.kind for e in c.events()].count("reminder") == 1
