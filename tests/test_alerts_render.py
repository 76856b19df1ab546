"""Digest grouping/truncation, escaping of hostile doc text, the Atom feed, and real corpus
change events through the validating receivers."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import feedparser
import pytest

from docwatch.alerts import deliver_pending, parse_channels
from docwatch.alerts import atom, mail, slack, teams
from docwatch.alerts.digest import StoredEvent, build_digest, event_from_row
from docwatch.alerts.outbox import DeliveryMeta, send_test, start_channels
from docwatch.model import ChangeEvent
from synthetic_alerts_support import Receiver, add_events, event, make_outbox, slack_problems, teams_problems

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOSTILE = ("<!channel> @here *bold* _it_ ~s~ `tick` [x](http://evil.example) <http://evil.example|click> "
           "&amp; <script>alert(1)</script>\r\nBcc: victim@example.org")


def hostile_events() -> list[StoredEvent]:
    return [
        StoredEvent(1, event(1, summary=HOSTILE, party="*.blob.core.windows.net", severity="high",
                             page_url="javascript:alert(1)", commit_url="https://github.com/x/y/commit/1?a=1&b=2")),
        StoredEvent(2, event(2, source="[evil](http://evil.example) <!everyone>", summary="", kind="modified",
                             field="purpose", old="*old*", new="[new](http://evil.example)")),
    ]


# ---------------------------------------------------------------- digest

def test_digest_groups_by_page_and_cloud_and_truncates():
    events = [StoredEvent(i, event(i, source=f"page-{i % 3}", cloud=("public", "usgov", None)[i % 2],
                                   severity=("low", "medium", "high")[i % 3])) for i in range(1, 80)]
    d = build_digest("x", events, max_items=20)
    assert d.total == 79 and d.shown == 20 and d.hidden == 59
    assert sum(g.hidden for g in d.groups) == 59 and d.more_line() is None  # each group counts its own cut
    keys = [(g.source, g.cloud) for g in d.groups]
    rank = ("info", "low", "medium", "high").index
    top = {(g.source, g.cloud): max(rank(e.event.severity) for e in events
                                    if (e.event.source, e.event.cloud) == (g.source, g.cloud)) for g in d.groups}
    assert keys == sorted(keys, key=lambda k: (-top[k], k[0], k[1] is None, k[1] or ""))  # most severe group first
    assert len({(e.event.source, e.event.cloud) for e in events}) == len(keys)  # every group got lines
    for g in d.groups:
        ranks = [("info", "low", "medium", "high").index(i.event.severity) for i in g.items]
        assert ranks == sorted(ranks, reverse=True)  # most severe first
        assert g.total == sum(1 for e in events if (e.event.source, e.event.cloud) == (g.source, g.cloud))
    two = build_digest("x", events, max_items=20, max_groups=2)
    left_out = sum(1 for e in events if (e.event.source, e.event.cloud) not in {(g.source, g.cloud) for g in two.groups})
    since = min(e.event.detected_at for e in events
                if (e.event.source, e.event.cloud) not in {(g.source, g.cloud) for g in two.groups})
    assert two.more_line() == (f"… and {left_out} more changes in 4 more page/cloud groups; "
                               f"all of them: docwatch changes --since {since}")
    assert two.shown == 20 and sum(g.hidden for g in two.groups) + left_out == 59
    few = build_digest("x", events[:3], max_items=20)
    assert few.hidden == 0 and few.more_line() is None


def test_many_groups_stay_within_slack_and_teams_limits():
    events = [StoredEvent(i, event(i, source=f"page-{i:03d}", summary="x" * 400)) for i in range(1, 200)]
    d = build_digest("x", events, max_items=60)
    payload = slack.render(d)
    assert slack_problems(payload) == []
    assert "… and" in payload["blocks"][-1]["elements"][0]["text"]
    assert teams_problems(teams.render(d)) == []
    assert len(json.dumps(teams.render(d))) < 28_000  # Teams card size limit


def test_event_rows_round_trip_through_json_columns(tmp_path):
    db = make_outbox(tmp_path / "c.db")
    ev = event(1, kind="modified", field="ports", old=["443"], new=["443", "1886"], section=["A", "B"])
    add_events(db, [ev])
    row = dict(zip([c[0] for c in db.execute("select * from changes").description],
                   db.execute("select * from changes").fetchone()))
    stored = event_from_row(row)
    facts = lambda e: {k: v for k, v in e.to_dict().items() if k != "id"}  # noqa: E731 - the row id is the store's
    assert stored.id == 1 and facts(stored.event) == facts(ev)
    db.execute("update change_events set severity = null, summary = null, section_id = null")
    row = dict(zip([c[0] for c in db.execute("select * from changes").description],
                   db.execute("select * from changes").fetchone()))
    bare = event_from_row(row).event
    assert (bare.severity, bare.summary, bare.section) == ("low", "", [])


def test_groups_are_ordered_by_severity_high_first():
    events = [StoredEvent(1, event(1, source="a-page", severity="low")),
              StoredEvent(2, event(2, source="b-page", severity="high")),
              StoredEvent(3, event(3, source="c-page", severity="medium")),
              StoredEvent(4, event(4, source="a-page", cloud="usgov", severity="high"))]
    d = build_digest("x", events)
    assert [(g.source, g.cloud, g.top_severity) for g in d.groups] == [
        ("a-page", "usgov", "high"), ("b-page", "public", "high"), ("c-page", "public", "medium"), ("a-page", "public", "low")]


def test_a_cut_digest_ends_with_the_command_that_lists_the_rest_and_the_page_link():
    learn = "https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access"
    events = [StoredEvent(i, event(i, cloud="usgov", detected_at=f"2024-05-0{1 + i % 3}T10:00:00Z")) for i in range(1, 9)]
    d = build_digest("x", events, max_items=3)
    (g,) = d.groups
    cmd = "docwatch changes --source azure-monitor --cloud usgov --since 2024-05-01T10:00:00Z"
    assert g.hidden == 5 and g.rest_command == cmd
    assert g.more_line() == f"… and 5 more changes; all of them: {cmd}; page: {learn}"
    text = mail.render_text(d)
    assert f"… and 5 more changes; all of them: {cmd}; page: {learn}" in text
    assert f"<code>{cmd}</code>" in mail.render_html(d)
    section = slack.render(d)["blocks"][1]["text"]["text"]
    assert section.splitlines()[-1] == f"_… and 5 more changes_; all of them: `{cmd}`; <{learn}|page>"
    card = teams.render(d)["attachments"][0]["content"]
    subtle = [el["text"] for el in card["body"][1]["items"] if el.get("isSubtle")]
    assert subtle == [teams.escape(g.more_line())] and "more changes" in subtle[0]
    assert build_digest("x", events[:2], max_items=3).groups[0].more_line() is None


def test_values_read_as_english():
    from docwatch.alerts.digest import describe, fmt_value

    old_writer = event(1, kind="modified", field="protocol", old="tcp", new=None,
                       summary="protocol changed from 'tcp' to None for x.example.com (s, public cloud)")
    assert describe(old_writer) == "protocol changed from TCP to none for x.example.com (s, public cloud)"
    bare = event(2, kind="modified", field="required", old=True, new=False, summary="", party="x.example.com")
    assert describe(bare) == "required of x.example.com changed: yes → no"
    assert fmt_value({"ports": ["443", "1886"], "protocol": "udp"}) == "ports: 443, 1886; protocol: UDP"
    wording = event(3, summary="the page's note isn't changed; ports ['443', '80'] added")
    assert describe(wording) == "the page's note isn't changed; ports 443, 80 added"
    for text in (mail.render_text(build_digest("x", [StoredEvent(1, old_writer), StoredEvent(2, bare)])),):
        assert not re.search(r"\b(None|True|False)\b|'tcp'", text), text


# ---------------------------------------------------------------- escaping

def test_slack_escapes_hostile_doc_text():
    payload = slack.render(build_digest("s", hostile_events()))
    assert slack_problems(payload) == []
    text = json.dumps(payload, ensure_ascii=False)
    assert "<!channel>" not in text and "<!everyone>" not in text and "<script>" not in text
    assert "&lt;!channel&gt;" in text and "@\u200bhere" in text
    assert "\r" not in text and "\\r" not in text
    for block in payload["blocks"]:
        for t in [block.get("text", {})] + block.get("elements", []):
            body = t.get("text", "")
            outside_code = re.sub(r"`[^`]*`", "", body)
            assert "*bold*" not in outside_code and "[x](" not in outside_code  # only inside code spans
            assert "<http://evil" not in body and "javascript:" not in body
    links = re.findall(r"<(https?://[^|>]+)\|", text)
    learn = "https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access"
    assert sorted(links) == ["https://github.com/x/y/commit/1?a=1&amp;b=2", learn]  # javascript: dropped
    assert "javascript" not in text


def test_teams_card_keeps_doc_text_out_of_markdown():
    payload = teams.render(build_digest("t", hostile_events()))
    assert teams_problems(payload) == []
    card = payload["attachments"][0]["content"]

    def walk(items):
        for el in items:
            yield el
            yield from walk(el.get("items", []))

    elements = list(walk(card["body"]))
    runs = [r["text"] for el in elements if el["type"] == "RichTextBlock" for r in el["inlines"]]
    assert any(HOSTILE.split("\r")[0] in r for r in runs)  # shown literally, in a non-markdown TextRun
    blocks = [el["text"] for el in elements if el["type"] == "TextBlock"]
    assert any(r"\[evil\]\(http://evil\.example\)" in b for b in blocks)  # source name escaped
    urls = [a["url"] for el in elements if el["type"] == "ActionSet" for a in el["actions"]]
    assert sorted(urls) == ["https://github.com/x/y/commit/1?a=1&b=2",
                            "https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access"]


# ---------------------------------------------------------------- atom

def _atom_channel(tmp_path, db=None, **kw):
    """An Atom channel, registered in ``db`` (as a writer does) before the test adds events."""
    ch = parse_channels({"feed": {"kind": "atom", "path": str(tmp_path / "out" / "feed.xml"), **kw}})[0]
    if db is not None:
        start_channels(db, [ch])
    return ch


def test_atom_feed_is_valid_newest_first_capped_and_stable(tmp_path):
    db = make_outbox(tmp_path / "c.db")
    ch = _atom_channel(tmp_path, db, max_entries=5)
    add_events(db, [event(i, severity="high" if i % 2 else "low") for i in range(1, 9)])
    add_events(db, [event(9, summary=HOSTILE, severity="high")])
    add_events(db, [event(10, severity="info")])  # below the channel's min severity
    report = deliver_pending(db, [ch], now=T0)
    assert report.channels["feed"].sent == 1
    raw = Path(ch.path).read_bytes()
    feed = feedparser.parse(raw)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == "urn:docwatch:feed:feed"
    assert len(feed.entries) == 5
    times = [e.updated for e in feed.entries]
    assert times == sorted(times, reverse=True) and times[0] == "2024-05-01T10:09:00Z"
    assert feed.entries[0].title.startswith("[HIGH] azure-monitor")
    assert "<!channel>" in feed.entries[0].summary  # the text is data, escaped by XML
    assert feed.entries[0].link.startswith("https://learn.microsoft.com/")
    assert [e.id for e in feed.entries] == [atom.entry_id(s) for s in atom.recent_events(db, ch)]
    assert not [p for p in Path(ch.path).parent.iterdir() if p.name != "feed.xml"]  # no temp files left
    # rewriting (a re-sent delivery) gives the same ids; a new event moves to the top
    first_ids = [e.id for e in feed.entries]
    add_events(db, [event(11, severity="medium", detected_at="2024-05-02T08:00:00Z")])
    deliver_pending(db, [ch], now=T0)
    feed2 = feedparser.parse(Path(ch.path).read_bytes())
    assert len(feed2.entries) == 5 and [e.id for e in feed2.entries][1:] == first_ids[:4]


def test_atom_ids_are_unique_per_event_across_a_port_swap(tmp_path):
    db = make_outbox(tmp_path / "c.db")
    ch = _atom_channel(tmp_path, db)
    swap = dict(kind="modified", field="ports", old=["80"], new=["8080"], version_id=7, detected_at="2024-05-01T10:00:00Z")
    add_events(db, [event(1, impact="ports-removed", summary="port 80 removed for host1 outbound TCP", **swap),
                    event(1, impact="ports-added", summary="port 8080 added for host1 outbound TCP", **swap),
                    event(1, impact="ports-added", summary="port 8080 added for host1 outbound TCP", **swap)])
    deliver_pending(db, [ch], now=T0)
    feed = feedparser.parse(Path(ch.path).read_bytes())
    ids = [e.id for e in feed.entries]
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    deliver_pending(db, [ch], now=T0)  # rewritten: the same ids
    again = feedparser.parse(Path(ch.path).read_bytes())
    assert [e.id for e in again.entries] == ids


def test_atom_test_command_writes_a_valid_feed_without_events(tmp_path):
    db = make_outbox(tmp_path / "c.db")
    ch = _atom_channel(tmp_path)
    send_test(ch, db=db)
    feed = feedparser.parse(Path(ch.path).read_bytes())
    assert not feed.bozo and feed.entries == []


# ---------------------------------------------------------------- real corpus events

def _rules(path: Path):
    from docwatch.normalize import normalize

    try:
        from docwatch.documents import load_local

        return normalize(load_local(path))
    except ImportError:  # parsers.parse_document not landed yet: same parse, by hand
        from parsers.markdown import parse_markdown

        return normalize(parse_markdown(path.read_text(), path=str(path),
                                        loader=lambda p: Path(p).read_text() if Path(p).is_file() else None))


@pytest.mark.corpus
def test_real_corpus_changes_reach_every_receiver_intact(httpserver, tmp_path, monkeypatch):
    from conftest import corpus_versions
    from docwatch.diff import diff_rules

    versions = corpus_versions("azureml-behind-firewall")
    old, new = _rules(versions[0]["file"]), _rules(versions[1]["file"])
    events = diff_rules(old, new, source="azureml-behind-firewall")
    assert len(events) > 30  # a real, large change set: exercises truncation
    db = make_outbox(tmp_path / "c.db")
    monkeypatch.setenv("DW_TEST_SECRET", "s3cret")
    receivers = {"slack": Receiver("slack"), "teams": Receiver("teams"), "hook": Receiver("webhook", "s3cret")}
    for name, r in receivers.items():
        httpserver.expect_request(f"/{name}", method="POST").respond_with_handler(r)
    chs = parse_channels({
        "slack": {"kind": "slack", "url": httpserver.url_for("/slack"), "min_severity": "info"},
        "teams": {"kind": "teams", "url": httpserver.url_for("/teams"), "min_severity": "info"},
        "hook": {"kind": "webhook", "url": httpserver.url_for("/hook"), "secret_env": "DW_TEST_SECRET",
                 "min_severity": "info"},
        "feed": {"kind": "atom", "path": str(tmp_path / "feed.xml"), "min_severity": "info"},
    })
    start_channels(db, chs)  # configured before the change arrives, as in a scrape
    ids = add_events(db, events)
    report = deliver_pending(db, chs, now=T0)
    assert all(r.sent == 1 and r.failed == 0 for r in report.channels.values()), report
    for r in receivers.values():
        assert r.problems == [] and len(r.accepted) == 1
    got = receivers["hook"].accepted[0]["json"]["events"]
    assert [e["id"] for e in got] == ids
    assert [ChangeEvent(**{k: v for k, v in e.items() if k != "id"}) for e in got] == events
    slack_text = json.dumps(receivers["slack"].accepted[0]["json"], ensure_ascii=False)
    assert f"… and {len(events) - 25} more changes" in slack_text
    assert "docwatch changes --source azureml-behind-firewall" in slack_text
    # real doc text with angle brackets (<region>, <your ACR name>) is escaped, not a Slack link
    if any("<region>" in (e.summary or "") for e in events):
        assert "&lt;region&gt;" in slack_text
    feed = feedparser.parse((tmp_path / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == min(50, len(events))


def test_sample_digest_for_alerts_test_is_valid(httpserver):
    r = Receiver("teams")
    httpserver.expect_request("/t", method="POST").respond_with_handler(r)
    ch = parse_channels({"t": {"kind": "teams", "url": httpserver.url_for("/t")}})[0]
    digest = send_test(ch, now=T0)
    assert digest.total == 2 and r.problems == [] and len(r.accepted) == 1


def test_delivery_meta_times():
    meta = DeliveryMeta(1, "k", T0)
    assert meta.sent_at == "2024-05-01T12:00:00Z" and meta.timestamp == int(T0.timestamp())
