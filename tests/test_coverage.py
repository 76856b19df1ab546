"""Coverage: tokens seen on a page, turned into rules, set aside, unparsed (synthetic + corpus)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import corpus_versions
from docwatch.cli import main
from docwatch.coverage import Coverage, coverage_counts, page_tokens
from docwatch.documents import load_local
from docwatch.normalize import normalize_checked
from parsers.markdown import parse_markdown
from parsers.model import Diagnostic

HERE = Path(__file__).parent


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("ext", ["md", "html"])
def test_synthetic_page_counts(ext):
    doc = load_local(HERE / f"synthetic_text_shapes.{ext}")
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, diags)
    # 10 parties in rules; set aside: the command block's host, the example output's host, the
    # negated sentence's host and the example host in a "for example" sentence
    assert (cov.seen, cov.in_rules, cov.set_aside, cov.unparsed) == (14, 10, 4, 0)
    assert not [d for d in diags if d.code == "unparsed"]
    # page chrome (notification banner, nav, header/footer) is never a token
    values = {t.value for t in page_tokens(doc)}
    assert not values & {"nav.widget.example.com", "chrome.widget.example.com", "feedback.widget.example.com"}


def test_unparsed_token_is_a_diagnostic_with_line_and_section():
    text = ("# Page\n\n## Relays\n\nThe relay at odd.gadget.example.io is fast.\n\n"
            "| Host | Port |\n| --- | --- |\n| `ok.gadget.example.io` | 443 |\n")
    doc = parse_markdown(text)
    rules, diags = normalize_checked(doc)
    [d] = [d for d in diags if d.code == "unparsed"]
    assert (d.token, d.line, d.section, d.level) == ("odd.gadget.example.io", 5, ["Page", "Relays"], "info")
    cov = coverage_counts(doc, rules, diags)
    assert (cov.seen, cov.in_rules, cov.set_aside, cov.unparsed) == (2, 1, 0, 1)
    assert cov.ratio == 0.5 and "1 unparsed" in cov.summary()


def test_not_a_rule_diagnostics_count_as_set_aside():
    doc = parse_markdown("# P\n\nThe range 10.1.0.0/16 is reserved and the relay odd.gadget.example.io is fast.\n")
    rules, _ = normalize_checked(doc)
    notes = [Diagnostic("not-a-rule", "reserved range", 3, "info", token="10.1.0.0/16", section=["P"])]
    cov = coverage_counts(doc, rules, notes)
    assert (cov.seen, cov.in_rules, cov.set_aside, cov.unparsed) == (2, 0, 1, 1)


def test_same_token_counted_once_and_url_matches_its_host_rule():
    doc = parse_markdown("# P\n\nAllow outbound access to https://api.gadget.example.io/ on port 443.\n\n"
                         "Keep api.gadget.example.io reachable. See api.gadget.example.io.\n")
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, diags)
    assert (cov.seen, cov.in_rules) == (1, 1)


def test_empty_page_has_full_coverage():
    cov = coverage_counts(parse_markdown("# Nothing here\n\nJust words.\n"), [])
    assert cov == Coverage() and cov.ratio == 1.0
    assert cov.to_dict() == {"seen": 0, "in_rules": 0, "set_aside": 0, "unparsed": 0, "ratio": 1.0}


def test_rules_command_prints_coverage_and_keeps_the_json_list():
    page = str(HERE / "synthetic_text_shapes.md")
    human = _run("rules", page)
    assert human.exit_code == 0, human.output
    assert "coverage: 14 tokens seen, 10 in rules, 4 set aside, 0 unparsed" in human.output
    plain = _run("rules", page, "--json")
    assert isinstance(json.loads(plain.output), list)
    full = json.loads(_run("rules", page, "--json", "--coverage").output)
    assert full["coverage"] == {"seen": 14, "in_rules": 10, "set_aside": 4, "unparsed": 0, "ratio": 1.0}
    assert len(full["rules"]) == len(json.loads(plain.output)) and full["unparsed"] == []


@pytest.mark.corpus
def test_corpus_coverage_facts():
    """Checked by reading the pages: every host and tag APIM's current page names is in a rule;
    the AMA page's firewall table has sample hosts (westus2…, a workspace GUID) in its "Example"
    column: set aside as examples, never unparsed."""
    apim = load_local(corpus_versions("apim-virtual-network-reference")[-1]["file"])
    rules, diags = normalize_checked(apim)
    cov = coverage_counts(apim, rules, diags)
    assert cov.seen >= 40 and cov.unparsed == 0
    ama = load_local(corpus_versions("ama-network-configuration")[-1]["file"])
    rules, diags = normalize_checked(ama)
    unparsed = {d.token for d in diags if d.code == "unparsed"}
    assert "westus2.monitoring.azure.com" not in unparsed
    assert {t.aside for t in page_tokens(ama) if t.value == "westus2.monitoring.azure.com"} == {"in an example column"}
    cov = coverage_counts(ama, rules, diags)
    assert cov.seen == cov.in_rules + cov.set_aside + cov.unparsed


@pytest.mark.corpus
def test_text_dump_shows_as_unparsed(seeds_dir):
    """Seed 004 lost its tables: its hosts are seen but unparsed, so the coverage drop is visible."""
    doc = load_local(next(seeds_dir.glob("004_*.txt")))
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, diags)
    assert rules == [] and cov.seen > 40 and cov.unparsed == cov.seen - cov.set_aside and cov.ratio < 0.5


def test_tag_with_port_footnote_marks_and_service_names_in_cells():
    text = ("# P\n\n## Outbound\n\n| Destination | Port | Purpose |\n| --- | --- | --- |\n"
            "| `GadgetCloud.<Region>:1194`, `AzureCloud.<Region>:1194` | 1194 | Tunnel |\n"
            "| relay.gadget.example.io<sup>1</sup> | 443 | Microsoft Container Registry |\n"
            "| mirror.gadget.example.net* | 443 | Consumer Outlook.com sign-in |\n")
    doc = parse_markdown(text)
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, diags)
    values = {t.key for t in page_tokens(doc)}
    # the tag token keeps no ":1194"; footnote marks are not part of hosts; service names
    # ("Microsoft Container Registry", "Outlook.com") in a purpose cell are not tokens
    assert {"azurecloud.<region>", "relay.gadget.example.io", "mirror.gadget.example.net"} <= values
    assert not {"microsoftcontainerregistry", "outlook.com", "relay.gadget.example.io1"} & values
    assert cov.unparsed == len([d for d in diags if d.code == "unparsed"])


def test_what_a_page_says_needs_no_rule_is_set_aside():
    """A host the next sentence says needs no rule, an address beside an example row's party, and a
    range a list item calls reserved are classified, not unparsed."""
    doc = parse_markdown(
        "# P\n\n## DNS\n\nThe relay sends lookups to `168.63.129.16`. That traffic is always allowed; you don't need a"
        " rule for it.\n\n## Rules\n\nThe following ruleset is an example only:\n\n| Name | Domain | Target |\n|---|---|---|\n"
        "| any | `.` | `192.0.2.53:53` |\n\n## Subnets\n\n- The range `10.0.1.0 - 10.0.16.255` is reserved by the service.\n")
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, diags)
    assert not rules
    assert (cov.seen, cov.set_aside, cov.unparsed) == (cov.seen, cov.seen, 0) and cov.seen >= 3
