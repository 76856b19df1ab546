"""Rules stated outside tables (code blocks, lists, alerts, sentences), the parser blocks they are
read from, and the include tab-group closure: synthetic fixtures (markdown + Learn HTML) and the
real corpus."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, SHARED, _require, corpus_versions, load_kept
from docwatch.documents import load_local
from docwatch.normalize import normalize
from docwatch.textrules import port_phrases, sentences, text_rules
from parsers.markdown import parse_markdown

HERE = Path(__file__).parent


def _rules(path) -> dict[tuple, dict]:
    out = {}
    for r in normalize(load_local(path)):
        out[(r.endpoint or r.service_tag, r.cloud)] = r
    return out


def _facts(r) -> tuple:
    return (r.endpoint_kind, r.ports, r.protocol, r.direction, r.origin)


# ---------------------------------------------------------------- synthetic shapes


@pytest.mark.parametrize("ext", ["md", "html"])
def test_synthetic_shapes(ext):
    rules = _rules(HERE / f"synthetic_text_shapes.{ext}")
    # code block under "(TLS 443)", cloud from the enclosing tab
    assert _facts(rules[("relay.widget.example.com", "public")]) == ("fqdn", ["443"], "tcp", "outbound", "code")
    assert _facts(rules[("*.blob.widget.example.net", "public")]) == ("wildcard", ["443"], "tcp", "outbound", "code")
    assert _facts(rules[("relay.widget.example.us", "usgov")]) == ("fqdn", ["443"], "tcp", "outbound", "code")
    # plain bullet list of hosts, port from the lead-in
    assert _facts(rules[("telemetry.widget.example.com", None)]) == ("fqdn", ["443"], None, "outbound", "list")
    assert _facts(rules[("updates.widget.example.org", None)]) == ("fqdn", ["443"], None, "outbound", "list")
    # bare names under a "service tags" lead-in: known names and an unknown CamelCase one
    for tag in ("Storage", "WidgetHub", "AzureMonitor"):
        assert _facts(rules[(tag, None)]) == (None, [], None, "outbound", "list"), tag
    # sentences: port-only → the any-address party "*"
    stars = [r for r in normalize(load_local(HERE / f"synthetic_text_shapes.{ext}")) if r.endpoint == "*"]
    assert sorted((r.ports, r.protocol, r.direction) for r in stars) == [
        (["123"], "udp", "outbound"), (["8704-8710"], None, None)]
    assert _facts(rules[("ingest.widget.example.com", None)]) == ("fqdn", ["443"], "tcp", "outbound", "prose")
    assert _facts(rules[("downloads.widget.example.net", None)]) == ("fqdn", ["80", "443"], None, "outbound", "prose")
    # TIP and NOTE boxes
    assert _facts(rules[("AzureFrontDoor.Frontend", None)]) == (None, [], None, None, "prose")
    assert _facts(rules[("https://portal.widget.example.net", None)]) == ("url", ["443"], "tcp", "outbound", "prose")
    # not rules: the command and the example output blocks, a negated sentence, an example party,
    # the retirement notice (it restates no requirement of its own)
    parties = {p for p, _ in rules}
    for absent in ("setup.widget.example.com", "status.widget.example.com", "legacy.widget.example.com",
                   "contoso.widget.example.com", "nav.widget.example.com", "chrome.widget.example.com"):
        assert absent not in parties, absent
    assert len(normalize(load_local(HERE / f"synthetic_text_shapes.{ext}"))) == 14
    assert rules[("ingest.widget.example.com", None)].section == ["Widget relay network requirements", "Time and ports"]


@pytest.mark.parametrize("ext", ["md", "html"])
def test_synthetic_variant_wording(ext):
    rules = _rules(HERE / f"synthetic_text_variant.{ext}")
    assert _facts(rules[("https://api.gadget.example.io", "public")]) == ("url", ["443"], "tcp", "outbound", "code")
    assert _facts(rules[("203.0.113.10", "public")]) == ("ip", ["443"], None, None, "code")
    assert _facts(rules[("https://api.gadget.example.cn", "china")]) == ("url", ["443"], "tcp", "outbound", "code")
    # "over HTTPS" in the lead-in of a list: 443 over TCP
    assert _facts(rules[("files.gadget.example.io", None)]) == ("fqdn", ["443"], "tcp", "outbound", "list")
    assert _facts(rules[("auth.gadget.example.io", None)]) == ("fqdn", ["443"], "tcp", "outbound", "list")
    # spaced and dotted tag names under a tag lead-in
    for tag in ("AzureMonitor", "GadgetRelay.EastUS", "EventHub"):
        assert rules[(tag, None)].origin == "list", tag
    assert _facts(rules[("management.gadget.example.io", None)]) == ("fqdn", ["5000-5010"], "tcp", "inbound", "prose")
    assert _facts(rules[("relay.gadget.example.io", None)]) == ("fqdn", ["443"], "tcp", "outbound", "prose")
    assert _facts(rules[("GadgetHub", None)]) == (None, [], None, None, "prose")
    stars = sorted((r.ports, r.protocol, r.direction) for r in normalize(load_local(HERE / f"synthetic_text_variant.{ext}"))
                   if r.endpoint == "*")
    assert stars == [(["123"], "udp", "outbound"), (["9350-9354"], None, None)]
    parties = {p for p, _ in rules}
    for absent in ("probe.gadget.example.io", "mirror.gadget.example.org", "WidgetPowerShell", "GadgetLegacy"):
        assert absent not in parties, absent


@pytest.mark.parametrize("name", ["synthetic_text_shapes", "synthetic_text_variant"])
def test_markdown_and_html_give_the_same_rules(name):
    md = [r.to_dict() for r in normalize(load_local(HERE / f"{name}.md"))]
    html = [r.to_dict() for r in normalize(load_local(HERE / f"{name}.html"))]
    assert md == html


def test_port_phrases_and_sentences():
    assert port_phrases("Allow outbound UDP access on port 123 for NTP.") == {"udp": ["123"]}
    assert port_phrases("You must allow network traffic to ports 8704 to 8710.") == {None: ["8704-8710"]}
    assert port_phrases("outbound over TCP port 443") == {"tcp": ["443"]}
    assert port_phrases("on ports 80 and 443") == {None: ["80", "443"]}
    assert port_phrases("TCP 443, UDP 3478-3481") == {"tcp": ["443"], "udp": ["3478-3481"]}
    assert port_phrases("use 443/TCP") == {"tcp": ["443"]}
    assert port_phrases("(TLS 443)") == {"tcp": ["443"]}
    assert port_phrases("TLS 1.2 is enforced") == {}
    assert sentences("Use a.example.com, e.g. for logs. Then b.example.net.") == [
        "Use a.example.com, e.g. for logs.", "Then b.example.net."]


def test_a_code_block_of_commands_is_not_an_allowlist():
    doc = parse_markdown("# P\n\nAllow these hosts:\n\n```azurecli\naz login\naz network list --host x.example.com\n```\n\n"
                         "Allow these hosts:\n\n```\nx.example.com\ny.example.com:8443\n```\n")
    got = sorted((r.endpoint, tuple(r.ports), r.origin) for r in text_rules(doc))
    assert got == [("x.example.com", (), "code"), ("y.example.com", ("8443",), "code")]


def test_a_flattened_text_dump_gives_no_text_rules(seeds_dir):
    """Seed 004 is a rendered page saved as text (tables, lines and spaces lost): it must stay a
    collapse the guard sees, not become rules with glued words."""
    doc = load_local(next(seeds_dir.glob("004_*.txt")))
    assert doc.blocks and text_rules(doc) == []


# ---------------------------------------------------------------- include tab closure


def test_tab_group_opened_in_an_include_closes_with_it():
    files = {"inc/part.md": "#### [Azure Government](#tab/gov)\n\nAllow these hosts (TLS 443):\n\n```\ngov.gadget.example.us\n```\n"}
    page = "# P\n\n## One\n\n[!INCLUDE [p](inc/part.md)]\n\n## Two\n\nAllow these hosts (TLS 443):\n\n```\nplain.gadget.example.io\n```\n"
    doc = parse_markdown(page, path="page.md", loader=files.get)
    assert [b.tabs for b in doc.blocks if b.kind == "code"][1] == []
    assert any(d.code == "include-unclosed-tab" for d in doc.diagnostics)
    clouds = {r.endpoint: r.cloud for r in normalize(doc)}
    assert clouds == {"gov.gadget.example.us": "usgov", "plain.gadget.example.io": None}


@pytest.mark.skipif(not (SHARED / "cases").exists(), reason="../shared/cases not found")
def test_cases_r01_and_r05():
    r01 = {r.endpoint: r for r in normalize(load_local(SHARED / "cases/extraction/r01_codeblock.md"))}
    assert set(r01) == {"api.widget.example.com", "*.cdn.widget.example.net"}
    assert all(r.ports == ["443"] and r.direction == "outbound" and r.origin == "code" for r in r01.values())
    r05 = {r.endpoint: r.cloud for r in normalize(load_local(SHARED / "cases/extraction/r05_include_tab_leak/r05_main.md"))}
    assert r05["b.widget.example.com"] is None and r05["a.widget.example.com"] == "public"


# ---------------------------------------------------------------- real corpus


def _version(page: str, prefix: str) -> Path:
    return next(v["file"] for v in corpus_versions(page) if v["version"].startswith(prefix))


@pytest.mark.corpus
def test_apim_prose_requirements():
    """APIM 2025-06-17 states several requirements only in sentences (checked by reading the page)."""
    rules = {r.party: r for r in normalize(load_local(_version("apim-virtual-network-reference", "2025-06-17")))}
    for host in ("mscrl.microsoft.com", "crl.microsoft.com", "oneocsp.microsoft.com", "csp.digicert.com"):
        assert (rules[host].ports, rules[host].direction, rules[host].origin) == (["80", "443"], "outbound", "prose")
    assert rules["dc.services.visualstudio.com"].ports == ["443"]
    assert rules["<region>.login.microsoft.com"].ports == ["443"]
    diag = rules["azurewatsonanalysis-prod.core.windows.net"]
    assert (diag.ports, diag.origin, diag.section[-1]) == (["443"], "list", "Internal infrastructure and diagnostics")
    assert rules["go.microsoft.com"].ports == ["80", "443"]
    assert "AzureLoadBalancer" in rules or any(r.service_tag == "AzureLoadBalancer" for r in rules.values())


@pytest.mark.corpus
def test_azureml_prose_ports():
    rules = normalize(load_kept(corpus_versions("azureml-behind-firewall")[-1]["file"]))
    # "You must allow network traffic to ports 8704 to 8710." and "Ports 8787 and 18881 for compute
    # instance are only needed when …" (a list item): both port-only, one any-address rule
    star = [r for r in rules if r.endpoint == "*" and r.origin in ("prose", "list")]
    assert [r.ports for r in star] == [["8704-8710", "8787", "18881"]]
    storage = [r for r in rules if r.service_tag == "Storage.<region>" and r.direction == "outbound"]
    assert storage and "445" in storage[0].ports  # "allow outbound access to Storage.<region> on port 445"
    assert any(r.endpoint == "cloud.r-project.org" and r.origin == "prose" for r in rules)


@pytest.mark.corpus
def test_list_item_restating_a_table_row_makes_no_second_rule():
    """Batch: "Inbound TCP traffic on ports 29876 and 29877 … BatchNodeManagement.region" restates the table row."""
    rules = normalize(load_kept(corpus_versions("batch-virtual-network")[-1]["file"]))
    bnm = [r for r in rules if r.service_tag == "BatchNodeManagement.region" and r.direction == "inbound"]
    assert [(r.protocol, r.ports) for r in bnm] == [("tcp", ["29876-29877"])]


@pytest.mark.corpus
def test_text_rules_lose_no_table_rule(monkeypatch):
    """On the newest version of every corpus page, every rule the tables alone give is still there
    with the same ports: text rules add requirements and fill what a table leaves open, they never
    replace or widen table facts."""
    import docwatch.textrules as T

    real = T.text_rules
    for page in sorted(p.name for p in _require(CORPUS / "markdown").iterdir()):
        doc = load_kept(corpus_versions(page)[-1]["file"])
        monkeypatch.setattr(T, "text_rules", lambda d, known=None: [])
        before = {r.key: r for r in normalize(doc)}
        monkeypatch.setattr(T, "text_rules", real)
        after = {r.key: r for r in normalize(doc)}
        # a page's default statement may give a table rule the protocol its table leaves open
        # ("All connections are TCP unless otherwise specified"): it is the same rule then
        for k, r in before.items():
            if k not in after and r.protocol is None:
                k2 = next((a for a in after if a.split("|")[:3] + a.split("|")[4:] == k.split("|")[:3] + k.split("|")[4:]
                           and after[a].protocol), None)
                if k2:
                    after[k] = after[k2]
        assert set(before) <= set(after), page
        # (ports a table leaves open may come from the page's port statement: that is no widening)
        widened = [k for k in before if after[k].ports != before[k].ports and before[k].ports]
        # the page sentences that add a port to a table rule (read on the pages): Azure ML "You must
        # also allow outbound access to Storage.<region> on port 445."; Batch's default NSG rules list
        # "Inbound TCP traffic on port 22 (Linux nodes) or port 3389 (Windows nodes)" (any source)
        allowed = {"azureml-behind-firewall": ["-|-|outbound|-|storage.<region>"],
                   "batch-virtual-network": ["-|-|inbound|tcp|*"]}
        assert widened in ([], allowed.get(page)), (page, widened)


def _block_key(b):
    return (b.kind, b.text, tuple(b.headings), tuple((t.label, t.id) for t in b.tabs), b.lead_in, b.alert,
            b.lang, tuple(b.code), tuple(b.bold), b.depth)


@pytest.mark.corpus
def test_blocks_parity_markdown_and_rendered_html():
    """Both parsers give the same non-table blocks for the same page version (versions whose
    markdown needs a table repair or misses an include are the documented parity tolerances)."""
    checked = 0
    for page in sorted(p.name for p in _require(CORPUS / "rendered").iterdir()):
        versions = {v["version"]: v for v in json.loads((CORPUS / "markdown" / page / "versions.json").read_text())}
        for html in sorted((CORPUS / "rendered" / page).glob("*.html")):
            md = load_kept(CORPUS / "markdown" / page / versions[html.stem]["path"])
            if {"recovered-table", "missing-include"} & {d.code for d in md.diagnostics}:
                continue
            ht = load_kept(html)
            assert [_block_key(b) for b in md.blocks] == [_block_key(b) for b in ht.blocks], (page, html.stem)
            checked += 1
    assert checked >= 20


@pytest.mark.corpus
def test_text_rules_parity_on_the_corpus():
    """The rules read outside tables are the same from a version's markdown and its rendered HTML
    (versions whose markdown needs a table repair, or misses an include the renderer had, are the
    documented tolerance)."""
    checked = 0
    for page in sorted(p.name for p in _require(CORPUS / "rendered").iterdir()):
        versions = {v["version"]: v for v in json.loads((CORPUS / "markdown" / page / "versions.json").read_text())}
        for html in sorted((CORPUS / "rendered" / page).glob("*.html")):
            md = load_kept(CORPUS / "markdown" / page / versions[html.stem]["path"])
            if {"recovered-table", "missing-include"} & {d.code for d in md.diagnostics}:
                continue  # the renderer shows a repaired table as text, and had the include the markdown lacks
            a = sorted((r.key, tuple(r.ports)) for r in normalize(md) if r.origin != "table")
            b = sorted((r.key, tuple(r.ports)) for r in normalize(load_kept(html)) if r.origin != "table")
            assert a == b, (page, html.stem)
            checked += 1
    assert checked >= 20  # 23 of the 31 rendered versions today


@pytest.mark.parametrize("text", [
    "", "```\n", "> [!TIP]\n>", "- \n- `", "Allow port 99999 and ports 0 to 70000.", "By 31 Smarch 2026 must",
    "Allow " + "a." * 3000 + "com", "| a |\n|---|\n| allow port 443 to x.example.com |", "\x00\ufeff# \u200b",
    "Open ports 443 to " + "<" * 50 + "region>.x.example.com", "Use the `` service tag.",
])
def test_odd_text_never_raises(text):
    from docwatch.coverage import coverage_counts
    from docwatch.deadlines import find_deadlines
    from docwatch.normalize import normalize_checked

    for doc in (parse_markdown(text), load_html_text(text)):
        rules, diags = normalize_checked(doc)
        coverage_counts(doc, rules, diags)
        find_deadlines(doc)


def load_html_text(text: str):
    from parsers.html import parse_html

    return parse_html(f"<html><body><main><div class='content'><p>{text}</p><pre>{text}</pre></div></main></body></html>")


def test_code_host_lists_take_lead_in_ports_and_tag_names():
    md = ("# P\n\n## Hosts\n\nAllow outbound access on port 443 to:\n\n- `a.gadget.example.io`\n- `b.gadget.example.io`\n\n"
          "## Tags\n\nThe service tags to allow (TCP 443):\n\n- `GadgetHub`\n- `Storage`\n")
    html = ("<html><body><main><div class='content'><h1>P</h1><h2>Hosts</h2><p>Allow outbound access on port 443 to:</p>"
            "<ul><li><code>a.gadget.example.io</code></li><li><code>b.gadget.example.io</code></li></ul>"
            "<h2>Tags</h2><p>The service tags to allow (TCP 443):</p>"
            "<ul><li><code>GadgetHub</code></li><li><code>Storage</code></li></ul></div></main></body></html>")
    from parsers.html import parse_html

    for doc in (parse_markdown(md), parse_html(html)):
        got = sorted((r.party, tuple(r.ports), r.protocol, r.origin) for r in normalize(doc))
        assert got == [("GadgetHub", ("443",), "tcp", "list"), ("Storage", ("443",), "tcp", "list"),
                       ("a.gadget.example.io", ("443",), None, "list"), ("b.gadget.example.io", ("443",), None, "list")]


def test_a_sentence_naming_one_cloud_gives_that_cloud():
    doc = parse_markdown("# P\n\n## Sovereign clouds\n\nFor Azure Government, also allow outbound access to "
                         "relay.gadget.example.us on port 443.\n\nIn Azure public and Azure China, allow "
                         "relay.gadget.example.io.\n")
    got = {r.endpoint: r.cloud for r in normalize(doc)}
    assert got == {"relay.gadget.example.us": "usgov", "relay.gadget.example.io": None}


def test_list_under_a_heading_naming_endpoints_without_lead_in():
    doc = parse_markdown("# P\n\n## Required endpoints\n\n- Gadget portal: `portal.gadget.example.io`\n"
                         "- Sign-in (TCP 443): login.gadget.example.io\n\n## History\n\n- Moved from old.gadget.example.io\n")
    got = sorted((r.endpoint, tuple(r.ports), r.protocol, r.origin) for r in normalize(doc))
    assert got == [("login.gadget.example.io", ("443",), "tcp", "list"), ("portal.gadget.example.io", (), None, "list")]
