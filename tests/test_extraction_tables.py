"""Table shapes and not-rules (issue 9, tables): what `docwatch rules PAGE --json` reads from them.

Each ``synthetic_shape_<topic>.md`` fixture states a shape seen on real Learn pages in its own
words and hosts (gizmo-cloud.*); the ../shared/cases/extraction pages are checked too when
present. Diagnostics (``not-a-rule``, ``repaired-row``) are read from ``normalize_checked``.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import CORPUS, SHARED, _require
from rules_support import rules_at
from docwatch.documents import load_local
from docwatch.model import Rule
from docwatch.normalize import merge_rules, normalize, normalize_checked
from parsers import parse_document

HERE = Path(__file__).resolve().parent
def shape(name: str) -> list[dict]:
    return rules_at(HERE / f"synthetic_shape_{name}.md")


def find(rules: list[dict], party: str, **facts) -> list[dict]:
    return [r for r in rules if party in (r["endpoint"], r["service_tag"]) and all(r[k] == v for k, v in facts.items())]


def one(rules: list[dict], party: str, **facts) -> dict:
    hits = find(rules, party, **facts)
    assert len(hits) == 1, (party, facts, [(r["endpoint"], r["service_tag"], r["protocol"], r["cloud"]) for r in rules])
    return hits[0]


def parties(rules: list[dict]) -> set[str]:
    return {r["endpoint"] or r["service_tag"] for r in rules}


def diagnostics(name: str, code: str) -> dict[str, str]:
    _, diags = normalize_checked(load_local(HERE / f"synthetic_shape_{name}.md"))
    return {d.token: d.message for d in diags if d.code == code}


# ---------------------------------------------------------------- host columns


def test_host_columns_by_meaning_and_by_content():
    rules = shape("host_columns")
    for host in ("relay-a.gizmo-cloud.net", "relay-b.gizmo-cloud.net", "relay-c.gizmo-cloud.net", "relay-d.gizmo-cloud.net"):
        assert one(rules, host)["endpoint_kind"] == "fqdn"  # "Host record", several per cell
    assert one(rules, "telemetry.gizmo-cloud.io")["direction"] == "outbound"  # "Domain"
    assert one(rules, "updates.gizmo-cloud.net")["purpose"] == "Signed packages"  # header "Value"
    assert one(rules, "https://licence.gizmo-cloud.net/activate")["ports"] == ["443"]
    pg = one(rules, "pgsync.gizmo-cloud.net")  # "Endpoint name" holds names, "Target address" the host
    assert (pg["ports"], pg["protocol"], pg["purpose"]) == (["5432"], "tcp", "PostgreSQL sync adapter")
    assert len(rules) == 8


# ---------------------------------------------------------------- role parties


def test_role_names_become_role_rules_with_ports_and_protocol():
    rules = shape("role_parties")
    ops = one(rules, "Operator laptops")  # no direction: the side not naming the page's service is remote
    assert (ops["endpoint_kind"], ops["source"], ops["destination"], ops["ports"], ops["protocol"], ops["direction"]) == (
        "role", "Operator laptops", "Gizmo fleet hosts", ["22"], "tcp", None)
    backup = one(rules, "Backup vault servers")  # outbound: the destination is remote
    assert (backup["endpoint_kind"], backup["ports"], backup["direction"]) == ("role", ["7000-7002"], "outbound")
    assert facts_of(one(rules, "Branch routers"), "endpoint_kind", "ports", "protocol", "direction") == (
        "role", ["161"], "udp", "inbound")
    assert one(rules, "*")["endpoint_kind"] == "cidr"  # the any-address is never a role
    assert one(rules, "203.0.113.40")["endpoint_kind"] == "ip"  # an address side beats a role
    assert "Gizmo fleet hosts" not in parties(rules)
    assert not [r for r in rules if r["ports"] in (["2222"], ["2223"])]  # a note or a sentence is no role


def facts_of(rule: dict, *names: str) -> tuple:
    return tuple(rule[n] for n in names)


# ---------------------------------------------------------------- clouds


def test_bold_cloud_labels_inside_a_cell():
    rules = shape("clouds")
    assert one(rules, "auth.gizmo-cloud.com")["cloud"] == "public"
    assert one(rules, "auth.gizmo-cloud.us")["cloud"] == "usgov"
    assert one(rules, "auth-backup.gizmo-cloud.us")["cloud"] == "usgov"
    assert one(rules, "auth.gizmo-cloud.cn")["cloud"] == "china"
    assert one(rules, "portal.gizmo-cloud.com")["cloud"] == "public"  # "**Azure**: host"
    assert one(rules, "portal.gizmo-cloud.us")["cloud"] == "usgov"


def test_region_and_geography_names_imply_a_cloud():
    rules = shape("clouds")
    assert one(rules, "192.0.2.130")["cloud"] == "china"
    assert one(rules, "192.0.2.140")["cloud"] == "usgov"
    assert one(rules, "192.0.2.150")["cloud"] is None
    assert one(rules, "Gizmo.USDoDEast")["cloud"] == "usgov"
    assert one(rules, "Gizmo.USGovVirginia")["cloud"] == "usgov"
    assert not {"US DoD", "US DoD East", "DoD", "China North 3"} & parties(rules)  # regions are not parties
    assert one(rules, "192.0.2.160")["cloud"] == "usgov"  # a row label under a generic "Name" header
    assert one(rules, "192.0.2.170")["cloud"] is None


# ---------------------------------------------------------------- ports


def test_ip_range_is_one_rule():
    rules = shape("ports")
    assert one(rules, "198.51.100.64-198.51.100.79")["endpoint_kind"] == "ip_range"
    assert one(rules, "198.51.100.90")["endpoint_kind"] == "ip"
    assert one(rules, "198.51.100.100-198.51.100.109")["endpoint_kind"] == "ip_range"  # "a to b"
    assert not {"198.51.100.64", "198.51.100.79"} & parties(rules)


def test_protocol_qualified_port_lists_split_by_protocol():
    rules = shape("ports")
    assert one(rules, "media.gizmo-cloud.net", protocol="tcp")["ports"] == ["8443"]
    assert one(rules, "media.gizmo-cloud.net", protocol="udp")["ports"] == ["50000-50019"]
    assert one(rules, "turn.gizmo-cloud.net", protocol="tcp")["ports"] == ["443"]
    assert one(rules, "turn.gizmo-cloud.net", protocol="udp")["ports"] == ["3478"]


def test_ports_stated_in_a_description_cell():
    agent = one(shape("ports"), "dl.gizmo-cloud.net/agent")
    assert facts_of(agent, "ports", "protocol") == (["8080", "8081"], "tcp")


def test_port_phrases_in_sentences():
    from docwatch.normalize_values import ports_in_sentence
    assert ports_in_sentence("ports in the range of 12495-30015 aren't required") == {None: ["12495-30015"]}
    assert ports_in_sentence("TLS 1.2 over TCP port 8443, then port 8444") == {"tcp": ["8443", "8444"]}
    assert ports_in_sentence("retries 5 times within 30 seconds") == {}


def test_not_required_sentence_names_only_its_ports():
    rules = shape("ports")
    assert one(rules, "collector.gizmo-cloud.net")["required"] is False  # 6005 lies in 6000-6010
    assert one(rules, "console.gizmo-cloud.net")["required"] is None


# ---------------------------------------------------------------- tags


def test_direction_from_a_tag_description():
    rules = shape("tags")
    assert one(rules, "GizmoIngress")["direction"] == "inbound"
    assert one(rules, "GizmoEgress")["direction"] == "outbound"
    assert one(rules, "GizmoShared")["direction"] is None  # nothing says: no guess


def test_any_to_virtualnetwork_row():
    vnet = one(shape("tags"), "VirtualNetwork")
    assert facts_of(vnet, "ports", "protocol", "direction") == (["22", "5986"], "any", "outbound")


def test_route_table_destination_tags_are_rules_next_hops_and_default_route_are_not():
    rules = shape("tags")
    for tag in ("AzureCloud.REGION_NAME", "AzureCloud.PAIRED_REGION", "Storage"):
        assert one(rules, tag)["endpoint"] is None
    assert not {"Internet", "VirtualAppliance", "0.0.0.0/0"} & parties(rules)
    notes = diagnostics("tags", "not-a-rule")
    assert "default route" in notes["0.0.0.0/0"] and "next hop" in notes["Internet"]


def test_spaced_tags_normalized_and_direction_left_null():
    rules = shape("tags")
    assert one(rules, "AzureKeyVault")["direction"] is None  # "Azure Key Vault", no direction context
    assert one(rules, "Storage.WestEurope")["direction"] is None  # "Storage. WestEurope"


def test_words_that_only_look_like_tags_are_no_tags():
    rules = shape("tags")
    assert not [r for r in rules if r["service_tag"] in ("ZX9", "BrokerEndpointUrl")]
    assert one(rules, "ZX9")["endpoint_kind"] == "role"  # a device name in a Destination column
    assert one(rules, "broker.gizmo-cloud.net")["ports"] == ["8883"]
    assert "BrokerEndpointUrl" in diagnostics("tags", "not-a-rule")


# ---------------------------------------------------------------- not rules


def test_reserved_ranges_proxy_exclusions_and_examples_are_set_aside():
    rules = shape("not_rules")
    # example.net is real unless called an example; a public endpoint in a bypass list must still be allowed
    # (a lead-in that only mentions `no_proxy` does not make its table a bypass list: edge.gizmo-cloud.net)
    assert parties(rules) == {"api.gizmo-cloud.net", "api.example.net", "login.gizmo-cloud.net", "edge.gizmo-cloud.net"}
    notes = diagnostics("not_rules", "not-a-rule")
    assert "reserved" in notes["172.30.0.0/16"] and "reserved" in notes["172.31.0.0/16"]
    assert "proxy" in notes["169.254.169.254"] and "proxy" in notes["svc.cluster.local"]
    assert "example" in notes["api.example.org"] and "example" in notes["192.0.2.99"]
    assert "example" in notes["gizmo.contoso.com"]
    # a sample ruleset: A. Datum and Relecloud are fictitious companies, and the private forwarding
    # targets beside them are the example's too; a "Sample value" column and a note saying no rule is
    # needed ("Platform addresses") give nothing
    assert "fictitious" in notes["corp.adatum.com"] and "fictitious" in notes["branch.relecloud.com"]
    assert "example" in notes["10.20.0.4:53"] and "example" in notes["192.168.40.5:53"]
    assert not {"168.63.129.16", "169.254.21.0/30", "gw.gizmo-cloud.net"} & parties(rules)
    # a table whose lead-in says its leg needs no rule on your network, addresses "always allowed by the
    # default NSG rules", and what a sentence adds to `no_proxy` are no rules
    assert not {"push.gadgetpns.net", "169.254.169.254"} & parties(rules)
    assert "need no rule" in notes["push.gadgetpns.net"]
    # a table the sentence after calls samples ("These values are samples.") holds no rule
    assert "example" in notes["10.90.1.0/30"] and "example" in notes["198.51.100.12/30"]


# ---------------------------------------------------------------- repaired rows


def test_missing_pipe_row_is_repaired_with_its_port():
    gm = one(shape("repaired"), "GatewayManager")
    assert facts_of(gm, "ports", "protocol", "direction", "destination", "required") == (
        ["7002"], "tcp", "inbound", "VirtualNetwork", False)
    [msg] = diagnostics("repaired", "repaired-row").values()
    assert "VirtualNetwork 7002" in msg and "7002" in msg


def test_apim_corpus_row_6391_is_recovered(corpus_dir):
    page = next(corpus_dir.glob("markdown/apim-virtual-network-reference/2025-06-17_*/articles/api-management/"
                                "virtual-network-reference.md"))
    rules, diags = normalize_checked(load_local(page))
    lb = [r for r in rules if r.service_tag == "AzureLoadBalancer" and r.direction == "inbound"]
    assert [(r.protocol, r.ports) for r in lb] == [("tcp", ["6390", "6391"])]
    assert [d for d in diags if d.code == "repaired-row" and "6391" in d.message and d.section]


# ---------------------------------------------------------------- required, URLs


def test_required_from_bold_only_when_the_bold_says_so():
    rules = shape("required")
    for host in ("events.gizmo-cloud.net", "alerts.gizmo-cloud.us", "*.exports.gizmo-cloud.net"):
        assert one(rules, host)["required"] is None  # a bold category label, a bold condition
    assert one(rules, "core.gizmo-cloud.net")["required"] is True
    assert one(rules, "beta.gizmo-cloud.net")["required"] is False


def test_bold_legend_on_the_page_makes_bold_purposes_required(seeds_dir):
    """APIM: "**Bold** items in the *Purpose* column indicate port configurations required …"."""
    rules = normalize(load_local(seeds_dir / "002_f775d9f0e224927a.txt"))
    tm = [r for r in rules if r.service_tag == "AzureTrafficManager"]  # "**Azure Traffic Manager** routing …"
    assert tm and all(r.required is True for r in tm)


def test_trailing_slash_makes_no_second_rule():
    assert len(find(shape("required"), "https://sync.gizmo-cloud.net")) == 1
    assert not find(shape("required"), "https://sync.gizmo-cloud.net/")


# ---------------------------------------------------------------- origin, merge, parity


def test_origin_and_deadline_survive_merge():
    a = Rule(endpoint="x.gizmo-cloud.net", endpoint_kind="fqdn", origin="prose", deadline="2026-09-30",
             deadline_text="Allow it by 30 September 2026.")
    b = Rule(endpoint="X.gizmo-cloud.net", endpoint_kind="fqdn", origin="list", table=0, row=3)
    [m] = merge_rules([a, b])
    assert (m.origin, m.deadline, m.deadline_text) == ("list", "2026-09-30", "Allow it by 30 September 2026.")
    assert {r["origin"] for r in shape("host_columns")} == {"table"}


@pytest.mark.parametrize("name", ["clouds", "host_columns", "not_rules", "ports", "repaired", "required",
                                  "role_parties", "tags"])
def test_markdown_and_html_forms_give_the_same_rules(name):
    """The same page rendered to HTML (tables, bold, <br>) gives the same rules."""
    path = HERE / f"synthetic_shape_{name}.md"
    text = path.read_text(encoding="utf-8")
    body = text.split("---\n", 2)[-1] if text.startswith("---") else text
    html = ("<!DOCTYPE html><html><head><title>t</title></head><body><main id=\"main\"><div class=\"content\">"
            + MarkdownIt("commonmark").enable("table").render(body) + "</div></main></body></html>")
    md_rules = [r.facts() for r in normalize(load_local(path))]
    html_rules = [r.facts() for r in normalize(parse_document(html, path="page.html"))]
    assert md_rules == html_rules


# ---------------------------------------------------------------- the shared cases


CASES = {
    "r02_dns_record_col": lambda rs: parties(rs) == {"north-jobs.widget.example.net", "north-agent.widget.example.net"},
    "r03_freetext_party": lambda rs: {r["endpoint_kind"] for r in rs} == {"role"} and {tuple(r["ports"]) for r in rs} == {
        ("5985",), ("443",)},
    "r04_bold_cloud_labels": lambda rs: {r["endpoint"]: r["cloud"] for r in rs} == {
        "login.widget.example.com": "public", "login.widget.example.us": "usgov", "login.widget.example.cn": "china"},
    "r06_region_cloud": lambda rs: {r["endpoint"] or r["service_tag"]: r["cloud"] for r in rs} == {
        "192.0.2.10": "china", "192.0.2.20": None, "Widget.USGovTexas": "usgov", "Widget.ChinaNorth2": "china"},
    "r07_bold_required": lambda rs: {r["endpoint"]: r["required"] for r in rs if r["required"] is not None} == {},
    "r08_ip_range": lambda rs: {(r["endpoint"], r["endpoint_kind"]) for r in rs} == {
        ("198.51.100.16-198.51.100.31", "ip_range"), ("203.0.113.5", "ip")},
    "r09_junk_tags": lambda rs: not {r["service_tag"] for r in rs} - {None},
    "r10_nonfirewall_ips": lambda rs: rs == [],
    "r11_vnet_any": lambda rs: [(r["ports"], r["protocol"]) for r in rs if r["service_tag"] == "VirtualNetwork"] == [
        (["22", "3389"], "any")],
    "r12_route_tags": lambda rs: parties(rs) == {"AzureCloud.REGION", "AzureCloud.REGION_PAIR", "Storage"},
    "r13_desc_direction": lambda rs: {r["service_tag"]: r["direction"] for r in rs} == {
        "WidgetControl": "inbound", "WidgetRuntime": "outbound"},
    "r14_trailing_slash": lambda rs: len(rs) == 1,
    "r15_desc_ports": lambda rs: [(r["ports"], r["protocol"]) for r in rs] == [(["80", "443"], "tcp")],
    "r16_spaced_tag": lambda rs: {(r["service_tag"], r["direction"]) for r in rs} == {
        ("AzureMonitor", None), ("Widget.NorthUS", None)},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shared_extraction_cases(case):
    page = _require(SHARED / "cases" / "extraction") / f"{case}.md"
    rules = rules_at(page)
    assert CASES[case](rules), rules


def test_r07_portal_keeps_required_null():
    page = _require(SHARED / "cases" / "extraction") / "r07_bold_required.md"
    assert one(rules_at(page), "portal.widget.example.net")["required"] is None


def test_corpus_pages_keep_table_rules_and_parity(corpus_dir):
    """Rendered corpus pages give the same table rules as their markdown (new shapes included)."""
    page = "arc-servers-network-requirements"
    for html in sorted((CORPUS / "rendered" / page).glob("*.html"))[:2]:
        md = next((CORPUS / "markdown" / page / html.stem).glob("articles/**/network-requirements*.md"), None)
        if md is None:
            continue
        a = {r.key for r in normalize(load_local(md)) if r.origin == "table"}
        b = {r.key for r in normalize(load_local(html)) if r.origin == "table"}
        assert a and a == b
