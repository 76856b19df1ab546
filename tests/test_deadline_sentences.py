"""Deadline sentences: dates a page attaches to a requirement (real corpus sentences + synthetic forms)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS, corpus_versions
from docwatch.deadlines import apply_deadlines, deadlines_in, find_deadlines
from docwatch.documents import load_local
from docwatch.model import Rule
from docwatch.normalize import normalize
from parsers.markdown import parse_markdown

HERE = Path(__file__).parent


@pytest.mark.corpus
def test_arc_servers_tag_requirement_after_october_28_2025(seeds_dir):
    """Seed 003 (the Arc servers include): "After October 28, 2025, adding the
    `AzureArcInfrastructure` service tag for Azure public cloud will be required, …"."""
    doc = load_local(next(seeds_dir.glob("003_*.txt")))
    [d] = [d for d in find_deadlines(doc) if d.date == "2025-10-28"]
    assert d.cue == "after" and d.parties == ["AzureArcInfrastructure"] and d.precision == "day"
    assert d.sentence.startswith("After October 28, 2025, adding the AzureArcInfrastructure service tag")
    tagged = [r for r in normalize(doc) if r.service_tag == "AzureArcInfrastructure"]
    assert tagged and all(r.deadline == "2025-10-28" and r.deadline_text == d.sentence for r in tagged)


@pytest.mark.corpus
@pytest.mark.parametrize("form", ["markdown", "html"])
def test_azure_monitor_tls_from_march_1_2026(form):
    """Azure Monitor 2025-08-18: "Starting March 1, 2026, Logs Ingestion enforces TLS 1.2 or higher …"
    names no host or tag: a page-level deadline (no rule gets it)."""
    v = next(v for v in corpus_versions("azure-monitor-network-access") if v["version"].startswith("2025-08-18"))
    path = v["file"] if form == "markdown" else CORPUS / "rendered" / "azure-monitor-network-access" / f"{v['version']}.html"
    doc = load_local(path)
    found = {(d.date, d.cue): d for d in find_deadlines(doc)}
    tls = found[("2026-03-01", "starting")]
    assert tls.parties == [] and "Logs Ingestion enforces TLS 1.2" in tls.sentence
    assert ("2025-07-01", "starting") in found  # "Starting July 1, 2025, Log Analytics enforces TLS 1.2 …"
    assert not [r for r in normalize(doc) if r.deadline == "2026-03-01"]


@pytest.mark.parametrize(("sentence", "expected"), [
    ("After October 28, 2026, adding the `WidgetHub` service tag will be required.", [("2026-10-28", "day", "after")]),
    ("Starting **March 1, 2027**, the relay enforces TLS 1.3.", [("2027-03-01", "day", "starting")]),
    ("By June 30, 2026, you must allow new.widget.example.net.", [("2026-06-30", "day", "by")]),
    ("old.widget.example.com is no longer supported after 2026-05-01.", [("2026-05-01", "day", "after")]),
    ("The endpoint legacy.widget.example.com will be retired on 15 January 2027.", [("2027-01-15", "day", "on")]),
    ("Beginning in September 2026, port 8443 is required.", [("2026-09-01", "month", "beginning")]),
    ("Effective Dec. 1, 2026, the gateway blocks TLS 1.0.", [("2026-12-01", "day", "effective")]),
    ("Version 2.1 was released on March 3, 2020 with fixes.", []),  # a date, but no change stated
    ("See the 2024 release notes for details.", []),
])
def test_deadline_forms(sentence, expected):
    assert deadlines_in(sentence) == expected


def test_synthetic_page_deadlines_attach_to_the_named_rules():
    doc = load_local(HERE / "synthetic_text_shapes.md")
    found = {d.date: d for d in find_deadlines(doc)}
    assert found["2027-03-01"].parties == ["ingest.widget.example.com"]
    assert found["2027-06-30"].parties == ["relay.widget.example.com"]
    assert found["2027-06-30"].section == ["Widget relay network requirements", "Upcoming changes"]
    by_party = {}
    for r in normalize(doc):
        by_party.setdefault(r.party, set()).add(r.deadline)
    assert by_party["ingest.widget.example.com"] == {"2027-03-01"}
    assert by_party["relay.widget.example.com"] == {"2027-06-30"}  # the code-block rule of the public tab
    assert by_party["telemetry.widget.example.com"] == {None}


def test_deadline_naming_no_rule_stays_page_level():
    doc = load_local(HERE / "synthetic_text_variant.md")
    found = {d.date: d for d in find_deadlines(doc)}
    assert found["2027-01-15"].parties == ["GadgetLegacy"]  # "… the GadgetLegacy service tag is no longer supported."
    assert found["2026-12-31"].parties == ["edge.gadget.example.io"]
    rules = normalize(doc)
    assert not [r for r in rules if r.deadline == "2027-01-15"]
    assert [r.party for r in rules if r.deadline == "2026-12-31"] == ["edge.gadget.example.io"]


def test_deadlines_in_table_cells_and_first_deadline_wins():
    doc = parse_markdown("# P\n\n| Host | Notes |\n| --- | --- |\n| `a.gadget.example.io` | "
                         "Required after January 5, 2027 for a.gadget.example.io. |\n\n"
                         "After March 5, 2027, a.gadget.example.io must be allowed.\n")
    assert [d.date for d in find_deadlines(doc)] == ["2027-03-05", "2027-01-05"]  # blocks, then tables
    rules = apply_deadlines([Rule(endpoint="a.gadget.example.io"), Rule(endpoint="b.gadget.example.io")],
                            find_deadlines(doc))
    assert [r.deadline for r in rules] == ["2027-03-05", None]


def test_odd_text_never_raises():
    for text in ["By 2026.", "After February 30, 2026, x must.", "Starting 99/99/2026 must", "on 2026-13-45 will"]:
        find_deadlines(parse_markdown(text))
    assert deadlines_in("After February 31, 2026, X is required.") == []
