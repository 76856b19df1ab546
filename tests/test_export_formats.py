"""Exports checked with each consumer's own rules: Azure REST API constraints for Azure Firewall
rule collection groups and NSG security rules, a real PAC engine (pypac), the PAN-OS external
dynamic list line formats, the Microsoft 365 endpoints field set. Catalogs are real SQLite
files built by ``docwatch ingest`` on real corpus pages and on tests/synthetic_policy_requirements.md.
"""
from __future__ import annotations

import ipaddress
import re

import pytest

from export_helpers import SYNTH, Dw

PAGES = ("azureml-behind-firewall", "apim-virtual-network-reference", "azure-monitor-network-access",
         "service-tags-overview")
M365_FIELDS = {"id", "serviceArea", "serviceAreaDisplayName", "urls", "ips", "tcpPorts", "udpPorts", "expressRoute",
               "category", "required", "notes"}
# Azure REST API (Microsoft.Network firewallPolicies/ruleCollectionGroups, networkSecurityGroups)
APP_PROTOCOL_TYPES = {"Http", "Https", "Mssql"}
IP_PROTOCOLS = {"TCP", "UDP", "ICMP", "Any"}
NSG_PROTOCOLS = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*"}
NSG_NAME = re.compile(r"^\w[\w.-]{0,78}[\w_]$|^\w$")


@pytest.fixture(scope="module")
def corpus_dw(tmp_path_factory, corpus_dir):
    dw = Dw(tmp_path_factory.mktemp("corpus"))
    for p in PAGES:
        dw.ingest_corpus(p)
    return dw


@pytest.fixture(scope="module")
def synth_dw(tmp_path_factory):
    dw = Dw(tmp_path_factory.mktemp("synth"))
    dw.ingest(SYNTH, "widget", "2025-04-01")
    return dw


def _check_port(p: str) -> None:
    if p == "*":
        return
    lo, _, hi = p.partition("-")
    assert 0 <= int(lo) <= 65535 and 0 <= int(hi or lo) <= 65535 and int(lo) <= int(hi or lo), p


def check_rule_collection_group(doc: dict) -> list[dict]:
    """The REST API's rules for a ruleCollectionGroups resource; returns its rules."""
    (res,) = doc["resources"]
    assert res["type"] == "Microsoft.Network/firewallPolicies/ruleCollectionGroups" and res["apiVersion"]
    props = res["properties"]
    assert 100 <= props["priority"] <= 65000
    names, prios, rules = set(), set(), []
    for rc in props["ruleCollections"]:
        assert rc["ruleCollectionType"] == "FirewallPolicyFilterRuleCollection"
        assert rc["action"]["type"] in ("Allow", "Deny") and 100 <= rc["priority"] <= 65000
        assert rc["name"] not in names and rc["priority"] not in prios
        names.add(rc["name"]); prios.add(rc["priority"])
        rnames = set()
        for r in rc["rules"]:
            assert r["name"] not in rnames and r["sourceAddresses"]
            rnames.add(r["name"])
            if r["ruleType"] == "ApplicationRule":
                assert r["targetFqdns"] and r["protocols"]
                for p in r["protocols"]:
                    assert p["protocolType"] in APP_PROTOCOL_TYPES and 0 <= p["port"] <= 64000
                for f in r["targetFqdns"]:  # '*' only as a whole leftmost label, no placeholders
                    assert "<" not in f and (f.count("*") == 0 or (f.startswith("*.") and f.count("*") == 1)), f
            else:
                assert r["ruleType"] == "NetworkRule"
                assert set(r["ipProtocols"]) <= IP_PROTOCOLS and r["ipProtocols"]
                kinds = [k for k in ("destinationAddresses", "destinationFqdns", "destinationIpGroups") if r.get(k)]
                assert len(kinds) == 1, r  # one destination kind per network rule
                assert all("*" not in f for f in r.get("destinationFqdns", []))
                for p in r["destinationPorts"]:
                    _check_port(p)
            rules.append(r)
    return rules


def check_nsg(doc: dict) -> list[dict]:
    (res,) = doc["resources"]
    assert res["type"] == "Microsoft.Network/networkSecurityGroups"
    rules = res["properties"]["securityRules"]
    seen_names, seen_prio = set(), set()
    for r in rules:
        p = r["properties"]
        assert NSG_NAME.match(r["name"]) and r["name"] not in seen_names
        assert p["protocol"] in NSG_PROTOCOLS and p["access"] in ("Allow", "Deny")
        assert p["direction"] in ("Inbound", "Outbound") and 100 <= p["priority"] <= 4096
        assert (p["direction"], p["priority"]) not in seen_prio and len(p.get("description", "")) <= 140
        seen_names.add(r["name"]); seen_prio.add((p["direction"], p["priority"]))
        for side in ("source", "destination"):
            assert (f"{side}AddressPrefix" in p) != (f"{side}AddressPrefixes" in p)
            for a in p.get(f"{side}AddressPrefixes", []):  # lists hold addresses only, never tags
                ipaddress.ip_network(a, strict=False)
        assert ("destinationPortRange" in p) != ("destinationPortRanges" in p)
        for port in p.get("destinationPortRanges", [p.get("destinationPortRange")]):
            _check_port(port)
    return rules


def test_m365_json_shape_reference_and_protocols(corpus_dw):
    doc = corpus_dw.export_json("json")
    assert doc["catalogVersion"] > 0 and set(doc["instances"]) == {"Worldwide", "USGovernment", "China"}
    areas = set()
    for name, sets in doc["instances"].items():
        ids = [s["id"] for s in sets]
        assert len(ids) == len(set(ids))
        for s in sets:
            assert {"id", "serviceArea", "serviceAreaDisplayName", "expressRoute", "category", "required"} <= set(s)
            assert set(s) - M365_FIELDS <= {"serviceTags", "direction", "unknownProtocolPorts"}
            assert s["category"] in ("Allow", "Default", "Optimize") and isinstance(s["required"], bool)
            # never doubled: a set has TCP and UDP ports only when the page said both (protocol any)
            if s.get("tcpPorts") and s.get("udpPorts"):
                assert s["tcpPorts"] == s["udpPorts"]
            if s.get("unknownProtocolPorts"):
                assert "protocol unknown" in s["notes"] and not s.get("tcpPorts") and not s.get("udpPorts")
            areas.add(s["serviceArea"])
    assert "service-tags-overview" not in areas  # a reference source is never an allow rule
    assert doc["referenceSourcesNotExported"] == ["service-tags-overview"]
    # the cloud-neutral azure-monitor sets are in every instance
    mon = {i: {s["id"] for s in sets if s["serviceArea"] == "azure-monitor-network-access"}
           for i, sets in doc["instances"].items()}
    assert mon["Worldwide"] and mon["Worldwide"] == mon["USGovernment"] == mon["China"]
    one = corpus_dw.export_json("json", "--cloud", "usgov")
    assert list(one["instances"]) == ["USGovernment"]
    # APIM marks some rows optional (required false): --required-only leaves exactly those out
    apim = [s for s in doc["instances"]["Worldwide"] if s["serviceArea"] == "apim-virtual-network-reference"]
    req = corpus_dw.export_json("json", "--required-only", "--source", "apim-virtual-network-reference")
    kept = req["instances"]["Worldwide"]
    assert any(s["category"] == "Default" for s in apim) and all(s["required"] for s in kept)
    assert {s["id"] for s in kept} == {s["id"] for s in apim if s["required"]}


def test_every_format_is_deterministic(corpus_dw):
    for fmt, extra in (("json", ()), ("csv", ()), ("azure-firewall", ()), ("nsg", ()), ("edl-urls", ()),
                       ("edl-ips", ()), ("pac", ("--pac-default", "PROXY proxy.example:3128")), ("changes-json", ())):
        assert corpus_dw.export(fmt, *extra) == corpus_dw.export(fmt, *extra), fmt


def test_azure_firewall_follows_rest_api_rules(corpus_dw, synth_dw):
    doc = corpus_dw.export_json("azure-firewall")
    rules = check_rule_collection_group(doc)
    assert {r["ruleType"] for r in rules} == {"ApplicationRule", "NetworkRule"}
    assert doc["metadata"]["catalogVersion"] > 0
    codes = {w["code"] for w in doc["metadata"]["warnings"]}
    assert {"unresolved-template", "protocol-unknown", "inbound-not-firewall"} <= codes
    # names come from endpoint-set ids: the same across runs and with other options
    again = check_rule_collection_group(corpus_dw.export_json("azure-firewall", "--priority", "700"))
    assert [r["name"] for r in again] == [r["name"] for r in rules]
    # Azure ML states "*.<region>.batch.azure.com | ANY | 443": with --region the TCP part is an
    # application rule and the UDP part a warning (a wildcard cannot be a network rule)
    ml = corpus_dw.export_json("azure-firewall", "--source", "azureml-behind-firewall", "--region", "eastus")
    fqdns = {f for r in check_rule_collection_group(ml) for f in r.get("targetFqdns", [])}
    assert "*.eastus.batch.azure.com" in fqdns and "*.blob.core.windows.net" in fqdns
    assert ("udp-not-expressible", "*.eastus.batch.azure.com") in {(w["code"], w["party"]) for w in ml["metadata"]["warnings"]}

    s = synth_dw.export_json("azure-firewall")
    rules = check_rule_collection_group(s)
    app = {f for r in rules if r["ruleType"] == "ApplicationRule" for f in r["targetFqdns"]}
    assert app == {"api.widget.example.com", "*.blob.widget.example.net", "*.queue.widget.example.net"}
    net = {a for r in rules if r["ruleType"] == "NetworkRule" for a in r.get("destinationAddresses", [])}
    assert net == {"198.51.100.0/24", "203.0.113.7", "AzureMonitor"}
    fq = [r for r in rules if r.get("destinationFqdns")]
    assert fq[0]["destinationFqdns"] == ["time.widget.example.org"] and fq[0]["ipProtocols"] == ["UDP"]
    warned = {(w["code"], w["party"]) for w in s["metadata"]["warnings"]}
    assert ("wildcard-not-expressible", "*pkgs.widget.example.io") in warned
    assert ("unresolved-template", "Storage.<region>") in warned
    assert ("protocol-unknown", "AzureKeyVault") in warned  # no protocol stated for a tag: not doubled, not TCP
    r = synth_dw("export", "--format", "azure-firewall")  # the same warnings on stderr
    assert "warning: widget: *pkgs.widget.example.io: azure-firewall:" in r.stderr
    regional = check_rule_collection_group(synth_dw.export_json("azure-firewall", "--region", "EastUS"))
    assert "Storage.EastUS" in {a for r in regional for a in r.get("destinationAddresses", [])}


def test_nsg_follows_rest_api_rules(corpus_dw, synth_dw):
    doc = corpus_dw.export_json("nsg")
    rules = check_nsg(doc)
    assert {r["properties"]["direction"] for r in rules} == {"Inbound", "Outbound"}
    assert any(w["code"] == "fqdn-in-nsg" for w in doc["metadata"]["warnings"])
    s = synth_dw.export_json("nsg", "--region", "westus")
    rules = check_nsg(s)
    far = {r["properties"].get("destinationAddressPrefix") for r in rules}
    assert {"AzureMonitor", "Storage.westus"} <= far
    multi = [r for r in rules if r["properties"].get("destinationAddressPrefixes")]
    assert multi == [] or all(len(r["properties"]["destinationAddressPrefixes"]) > 1 for r in multi)
    assert {w["party"] for w in s["metadata"]["warnings"] if w["code"] == "fqdn-in-nsg"} >= {"api.widget.example.com"}


def test_edl_lists_follow_the_documented_line_format(corpus_dw, synth_dw):
    urls = corpus_dw.export("edl-urls").splitlines()
    assert urls and len(urls) == len(set(urls))
    for line in urls:  # no scheme, no port, no spaces, '*' only as a whole token
        assert "://" not in line and " " not in line and "<" not in line and not re.search(r":\d+", line)
        host = line.split("/")[0]
        assert all(lab == "*" or "*" not in lab for lab in host.split(".")), line
    ips = synth_dw.export("edl-ips").splitlines()
    assert ips == ["198.51.100.0/24", "203.0.113.7"]
    r = synth_dw("export", "--format", "edl-ips")
    assert "tag-unresolved" in r.stderr or "AzureMonitor" in r.stderr  # tags with no prefix data are warned


def test_pac_evaluated_by_a_real_pac_engine(synth_dw):
    from pypac.parser import PACFile

    text = synth_dw.export("pac", "--pac-route", "DIRECT", "--pac-default", "PROXY proxy.example:3128")
    assert "catalog version" in text.splitlines()[0]
    pac = PACFile(text)

    def route(host):
        return pac.find_proxy_for_url(f"https://{host}/", host)

    for host in ("api.widget.example.com", "x.blob.widget.example.net", "mine.queue.widget.example.net",
                 "API.Widget.Example.com"):
        assert route(host.lower()) == "DIRECT", host
    for host in ("example.com", "blob.widget.example.net.evil.test", "widget.example.org",
                 "time.widget.example.org"):  # NTP over UDP is not web traffic
        assert route(host) == "PROXY proxy.example:3128", host
    r = synth_dw("export", "--format", "pac", ok=False)
    assert r.exit_code == 2 and "--pac-default" in r.output


def test_csv_has_set_ids_and_protocol_notes(synth_dw):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(synth_dw.export("csv"))))
    assert {r["catalog_version"] for r in rows} and all(r["endpoint_set_id"] for r in rows)
    kv = [r for r in rows if r["service_tag"] == "AzureKeyVault"][0]
    assert kv["protocol"] == "unknown" and "protocol unknown" in kv["protocol_note"]


def test_edl_ips_resolves_tags_from_real_service_tag_data(tmp_path, corpus_dir):
    dw = Dw(tmp_path)
    dw("tags", "ingest", corpus_dir / "servicetags" / "ServiceTags_Public_2025-10-17.json.gz")
    dw.ingest(SYNTH, "widget", "2025-04-01")
    lines = dw.export("edl-ips", "--region", "EastUS").splitlines()
    for line in lines:  # IP, CIDR or range, nothing else on the line
        lo = line.split("-")[0]
        ipaddress.ip_network(lo, strict=False)
    nets = {ipaddress.ip_network(x) for x in lines if "-" not in x}
    assert ipaddress.ip_network("198.51.100.0/24") in nets
    assert len(lines) > 100  # AzureMonitor and Storage.EastUS prefixes came from the tag file
    r = dw("export", "--format", "edl-ips")  # without --region the Storage.<region> template is warned
    assert "Storage.<region>" in r.stderr and len(r.stdout.splitlines()) < len(lines)


def test_role_rules_are_exported_apart(tmp_path):
    page = tmp_path / "roles.md"
    page.write_text("# Widget cluster ports\n\nInbound traffic\n\n| Source | Destination | Protocol | Port | Purpose |\n"
                    "|---|---|---|---|---|\n| Admin workstation | Widget nodes | TCP | 22 | Management |\n"
                    "| AzureLoadBalancer | VirtualNetwork | TCP | 8080 | Health probe |\n")
    dw = Dw(tmp_path)
    dw.ingest(page, "cluster", "2025-01-01")
    doc = dw.export_json("json")
    assert [r["role"] for r in doc["roleRules"]] == ["Admin workstation"]
    assert doc["roleRules"][0]["notes"] == "needs your own addresses"
    listed = [s for sets in doc["instances"].values() for s in sets]
    assert all("Admin workstation" not in s.get("urls", []) for s in listed)
    nsg = dw.export_json("nsg")
    assert {w["code"] for w in nsg["metadata"]["warnings"]} >= {"role-needs-addresses"}
    (rule,) = nsg["resources"][0]["properties"]["securityRules"]
    assert rule["properties"]["sourceAddressPrefix"] == "AzureLoadBalancer" and rule["properties"]["direction"] == "Inbound"
