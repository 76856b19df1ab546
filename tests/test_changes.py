"""Alert only when a requirement changed: the restatement cases, read as a user runs them.

Each test ingests page versions with `docwatch ingest` (in-process) into a real SQLite catalog and
reads `docwatch changes --json`, as the README does. The shapes come from ../shared/cases/changes;
the `synthetic_change_*` fixtures are our own variants worded differently.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SHARED, _require
from docwatch.cli import main

HERE = Path(__file__).resolve().parent


@pytest.fixture
def dw(tmp_path, monkeypatch):
    """Run docwatch in a fresh directory (its own catalog and snapshot store)."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args, ok=True):
        res = runner.invoke(main, ["--db", str(tmp_path / "dw.db"), *map(str, args)], catch_exceptions=False)
        if ok:
            assert res.exit_code == 0, res.output
        return res
    return run


def changes(dw, *args):
    return json.loads(dw("changes", "--json", *args).stdout)


def ingest_pair(dw, v1: Path, v2: Path, source="widget"):
    dw("ingest", v1, "--source", source, "--at", "2025-01-01")
    return json.loads(dw("ingest", v2, "--source", source, "--at", "2025-02-01", "--json").stdout)


def cases() -> Path:
    return _require(SHARED / "cases" / "changes")


@pytest.mark.parametrize("case", ["c1", "c2", "c3"])
def test_restatement_cases_give_no_events(dw, case):
    """c1 a heading renamed to name the public cloud, c2 a renamed column, c3 reworded purpose."""
    res = ingest_pair(dw, cases() / f"{case}_v1.md", cases() / f"{case}_v2.md")
    assert res["events"] == [] and res["status"] == "unchanged"
    assert changes(dw) == []


def test_renamed_heading_records_the_cloud_as_a_new_rule_version(dw):
    ingest_pair(dw, cases() / "c1_v1.md", cases() / "c1_v2.md")
    rows = json.loads(dw("history", "img.widget.example.com", "--json").stdout)
    assert [r["cloud"] for r in rows] == [None, "public"]  # stated more precisely, silently


def test_reworded_purpose_is_kept_in_history(dw):
    ingest_pair(dw, cases() / "c3_v1.md", cases() / "c3_v2.md")
    rows = json.loads(dw("history", "login.widget.example.com", "--json").stdout)
    assert ["Entra" in (r["purpose"] or "") for r in rows] == [False, True]


def test_rekeyed_rows_plus_one_addition_give_exactly_one_event(dw):
    res = ingest_pair(dw, cases() / "g1_v1.md", cases() / "g1_v2.md")
    assert res["status"] == "changed"  # six re-keyed rows are explained by identity pairing: no anomaly
    assert [(e["kind"], e["party"], e["severity"]) for e in changes(dw)] == [
        ("added", "new.widget.example.net", "high")]


def test_our_variants_tab_group_dropped_and_notation_changed(dw):
    """A page that drops its cloud tabs (one cloud left) and writes `443` for `https:443`."""
    res = ingest_pair(dw, HERE / "synthetic_change_tabs_v1.md", HERE / "synthetic_change_tabs_v2.md")
    got = [(e["kind"], e["party"], e.get("field"), e["severity"]) for e in res["events"]]
    # the only real changes: the gov-only host went away (you may close it), and a port was added
    assert sorted(got) == [("modified", "ingest.wdgtcloud.net", "ports", "high"),
                           ("removed", "gov.wdgtcloud.us", None, "medium")]


def test_a_real_move_between_clouds_is_reported(dw):
    res = ingest_pair(dw, HERE / "synthetic_change_move_v1.md", HERE / "synthetic_change_move_v2.md")
    got = [(e["kind"], e["party"], e.get("field"), e["severity"]) for e in res["events"]]
    assert got == [("modified", "files.wdgtcloud.net", "cloud", "high")]


def test_versions_are_numbered_per_source_and_diff_uses_them(dw):
    dw("ingest", cases() / "c1_v1.md", "--source", "other", "--at", "2025-01-01")
    ingest_pair(dw, cases() / "g1_v1.md", cases() / "g1_v2.md")
    versions = json.loads(dw("versions", "widget", "--json").stdout)
    assert [(v["version"], v["status"]) for v in versions] == [(1, "first"), (2, "changed")]
    diff = json.loads(dw("diff", "widget", "--from", "1", "--to", "2", "--json").stdout)
    assert [e["party"] for e in diff] == ["new.widget.example.net"]


def test_changes_filters_and_ids(dw):
    ingest_pair(dw, cases() / "g1_v1.md", cases() / "g1_v2.md")
    ev = changes(dw)
    assert all(isinstance(e["id"], int) for e in ev)
    assert changes(dw, "--severity", "high") == ev and changes(dw, "--kind", "removed") == []
    assert changes(dw, "--cloud", "usgov") == [] and changes(dw, "--cloud", "public") == ev
    assert changes(dw, "--limit", "1") == ev[-1:]


def test_accept_an_anomaly_applies_its_events_at_its_own_date(dw, tmp_path):
    page = tmp_path / "page.md"
    rows = "\n".join(f"| h{i}.wdgtcloud.net | 443 |" for i in range(8))
    page.write_text(f"# Widget\n\n| Host | Port |\n| --- | --- |\n{rows}\n")
    dw("ingest", page, "--source", "w", "--at", "2025-01-01")
    rows = "\n".join(f"| n{i}.wdgtcloud.net | 443 |" for i in range(8))
    page.write_text(f"# Widget\n\n| Host | Port |\n| --- | --- |\n{rows}\n")
    held = json.loads(dw("ingest", page, "--source", "w", "--at", "2025-02-01", "--json").stdout)
    assert held["status"] == "anomaly" and [e["kind"] for e in held["events"]] == ["anomaly"]
    assert "8 of 8 rules removed or moved" in held["reason"]
    out = dw("accept", "w").stdout
    assert "version 2 accepted (16 events)" in out
    ev = changes(dw, "--source", "w")
    assert {e["detected_at"] for e in ev if e["kind"] != "anomaly"} == {"2025-02-01T00:00:00Z"}
    assert dw("accept", "w", ok=False).exit_code == 2  # nothing left to accept


def test_ingest_accept_on_bytes_stored_as_an_anomaly_accepts_them(dw, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# W\n\n| Host | Port |\n| --- | --- |\n" + "".join(f"| a{i}.wdgtcloud.net | 443 |\n" for i in range(6)))
    dw("ingest", page, "--source", "w", "--at", "2025-01-01")
    page.write_text("# W\n\nThe table could not be shown.\n")
    assert json.loads(dw("ingest", page, "--source", "w", "--at", "2025-01-02", "--json").stdout)["status"] == "anomaly"
    res = json.loads(dw("ingest", page, "--source", "w", "--at", "2025-01-03", "--accept", "--json").stdout)
    assert res["status"] == "accepted" and len(res["events"]) == 6


def test_identical_collapsed_page_is_reported_again_after_k_observations(dw, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# W\n\n| Host | Port |\n| --- | --- |\n" + "".join(f"| a{i}.wdgtcloud.net | 443 |\n" for i in range(6)))
    dw("ingest", page, "--source", "w", "--at", "2025-01-01")
    page.write_text("# W\n\nSign in to continue.\n")
    for day in range(2, 7):
        dw("ingest", page, "--source", "w", "--at", f"2025-01-0{day}")
    kinds = [(e["kind"], e["impact"]) for e in changes(dw, "--source", "w")]
    assert kinds == [("anomaly", "anomaly"), ("anomaly", "still-anomalous")]  # default K = 3, reported once
    assert not [e for e in changes(dw) if e["kind"] == "removed"]


def test_reparse_turns_parser_differences_into_parser_events_never_alerts(dw, tmp_path):
    """A catalog whose history was extracted by an older parser (one that missed a row): after
    `reparse`, the row is in the history as a `parser` event, and no channel is sent it."""
    from docwatch import pipeline
    from docwatch.catalog import Catalog
    from docwatch.snapshots import SnapshotStore

    src = HERE / "synthetic_change_tabs_v1.md"
    store = SnapshotStore(tmp_path / "snapshots")
    local = pipeline.read_local(src)
    older = [r for r in local.rules if r.party != "ingest.wdgtcloud.net"]  # what the old parser saw
    with Catalog(tmp_path / "dw.db") as cat:
        res = pipeline.ingest(cat, pipeline.Observation(
            "w", local.doc, older, observed_at="2025-01-01", content_hash=local.content_hash, form="markdown",
            snapshot_id=pipeline.store_bundle(store, text=local.text, form="markdown", path=local.path,
                                              includes=local.includes)))
        cat.set_version(res.version_id, parser_version="old-parser")
    out = dw("reparse", "w").stdout
    assert "1 parser events" in out
    ev = changes(dw, "--kind", "parser")
    assert [(e["party"], e["severity"]) for e in ev] == [("ingest.wdgtcloud.net", "info")]
    from docwatch.alerts.config import parse_channels

    feed = parse_channels({"feed": {"kind": "atom", "path": str(tmp_path / "feed.xml"), "min_severity": "info"}})[0]
    assert not feed.accepts(pipeline_event(ev[0]))
    assert json.loads(dw("versions", "w", "--json").stdout)[0]["parser"] == pipeline.parser_version()


def pipeline_event(d: dict):
    from docwatch.model import ChangeEvent

    return ChangeEvent(**{k: v for k, v in d.items() if k in ChangeEvent.__dataclass_fields__})


def test_parser_upgrade_reparses_before_the_next_diff(dw, tmp_path):
    """The one ingest path re-extracts a source whose versions an older parser read, so the
    parser fix shows as `parser` events and the next version's events are only its own."""
    from docwatch import pipeline
    from docwatch.catalog import Catalog
    from docwatch.snapshots import SnapshotStore

    store = SnapshotStore(tmp_path / "snapshots")
    local = pipeline.read_local(HERE / "synthetic_change_tabs_v1.md")
    with Catalog(tmp_path / "dw.db") as cat:
        res = pipeline.ingest(cat, pipeline.Observation(
            "w", local.doc, local.rules[:-1], observed_at="2025-01-01", content_hash=local.content_hash,
            form="markdown", snapshot_id=pipeline.store_bundle(store, text=local.text, form="markdown",
                                                              path=local.path, includes=local.includes)))
        cat.set_version(res.version_id, parser_version="old-parser")
    dropped = local.rules[-1].party
    dw("ingest", HERE / "synthetic_change_tabs_v1.md", "--source", "w", "--at", "2025-01-02")  # same bytes: duplicate
    shutil.copy(HERE / "synthetic_change_tabs_v2.md", tmp_path / "v2.md")
    res = json.loads(dw("ingest", tmp_path / "v2.md", "--source", "w", "--at", "2025-02-01", "--json").stdout)
    assert dropped not in {e["party"] for e in res["events"] if e["kind"] == "added"}
    assert [e["party"] for e in changes(dw, "--kind", "parser")] == [dropped]


@pytest.mark.corpus
def test_form_fallback_is_a_form_switch_note_never_removals(tmp_path):
    """Markdown 2026-04-10 accepted; the markdown then fails and the rendered HTML of 2026-04-30 is
    read instead: one `form-switch` note, no removals; when the markdown of 2026-04-30 comes back,
    the changes seen in the HTML form are not reported twice."""
    from catalog_helpers import ingest_file
    from conftest import corpus_versions
    from docwatch.catalog import Catalog

    page = "apim-virtual-network-reference"
    md = {v["version"]: v["file"] for v in corpus_versions(page)}
    html = _require(SHARED / "corpus" / "rendered" / page)
    cat = Catalog(tmp_path / "c.db")
    assert ingest_file(cat, page, md["2026-04-10_johntrogan_46809bda68"], "2026-04-10").status == "first"
    switch = ingest_file(cat, page, html / "2026-04-10_johntrogan_46809bda68.html", "2026-04-11")
    assert switch.status == "form-switch"
    assert [(e.kind, e.severity) for e in switch.events] == [("form-switch", "info")]
    assert "current rules agree" in switch.events[0].summary
    later = ingest_file(cat, page, html / "2026-04-30_jeofyoung_6f2cca4e44.html", "2026-04-30")
    assert later.status == "form-switch"
    seen_in_html = {(e.kind, e.party, e.impact) for e in later.events}
    assert ("modified", "VirtualNetwork", "ports-added") in seen_in_html  # a real change, seen in the fallback form
    back = ingest_file(cat, page, md["2026-04-30_jeofyoung_6f2cca4e44"], "2026-05-01")
    assert back.status in ("changed", "unchanged")
    assert not {(e.kind, e.party, e.impact) for e in back.events} & seen_in_html  # not reported twice
    assert not [e for e in cat.events(source=page) if e.kind == "removed" and e.version_id == switch.version_id]


def test_gc_keeps_every_part_of_a_stored_bundle(dw, tmp_path):
    """`ingest` stores a version as a bundle manifest naming the page and its includes; `gc`
    keeps all of them, so `reparse` can still re-read the version."""
    from docwatch.catalog import Catalog
    from docwatch.snapshots import SnapshotStore, collect_garbage

    dw("ingest", HERE / "synthetic_change_tabs_v1.md", "--source", "w", "--at", "2025-01-01")
    store = SnapshotStore(tmp_path / "snapshots")
    orphan = store.put(b"nobody refers to this")
    with Catalog(tmp_path / "dw.db", create=False) as cat:
        report = collect_garbage(cat.db, store, keep_suspicious=5, min_age_seconds=0)
    assert report.removed == [orphan]
    assert "1 parser events" not in dw("reparse", "w").stdout  # still readable: same parser, no events
    assert len(store.digests()) == 2  # the manifest and the page
