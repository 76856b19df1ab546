"""Rules on page shapes the normalizer was not written against.

Each ``synthetic_unseen_<topic>.md`` fixture reproduces the table shapes of a real Microsoft
Learn network-requirements page (AKS egress, AVD FQDNs, Arc-enabled Kubernetes, Arc resource
bridge, App Service Environment, HDInsight / Spring Apps / ARO, Intune / Windows 365, Site
Recovery / Backup, Azure Local, Azure DevOps / Databricks). The facts asserted here are the
ones a network engineer would check by hand on such a page, read through the real CLI
(``docwatch rules PATH --json``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.cli import main

HERE = Path(__file__).resolve().parent
KINDS = {"fqdn", "wildcard", "url", "ip", "cidr", "ip_range", "template", "role"}
_CACHE: dict[str, list[dict]] = {}


def rules_of(name: str) -> list[dict]:
    if name not in _CACHE:
        res = CliRunner().invoke(main, ["rules", str(HERE / f"synthetic_unseen_{name}.md"), "--json"])
        assert res.exit_code == 0, res.output
        _CACHE[name] = json.loads(res.output)
    return _CACHE[name]


def find(rules: list[dict], party: str, **facts) -> list[dict]:
    """Rules whose endpoint or service tag is ``party`` and whose fields equal ``facts``."""
    return [r for r in rules if party in (r["endpoint"], r["service_tag"]) and all(r[k] == v for k, v in facts.items())]


def one(rules: list[dict], party: str, **facts) -> dict:
    hits = find(rules, party, **facts)
    assert len(hits) == 1, (party, facts, [(r["endpoint"], r["service_tag"], r["cloud"], r["protocol"]) for r in find(rules, party)])
    return hits[0]


def facts(r: dict, *names: str) -> tuple:
    return tuple(r[n] for n in names)


ALL = ["aks_egress", "avd_fqdns", "arc_k8s", "arc_resource_bridge", "ase_networking", "hdinsight_spring",
       "intune_endpoints", "site_recovery", "azure_local", "devops_databricks"]


@pytest.mark.parametrize("name", ALL)
def test_every_rule_names_a_real_party(name):
    """No sentence, heading, "N/A" or link text ever becomes an endpoint or a tag."""
    rules = rules_of(name)
    assert rules
    for r in rules:
        assert r["endpoint"] or r["service_tag"], r
        if r["endpoint"]:
            assert r["endpoint_kind"] in KINDS, r
            assert " " not in r["endpoint"] or "<" in r["endpoint"] or r["endpoint_kind"] == "role", r
        if r["service_tag"]:
            assert r["service_tag"].lower() not in {"n/a", "none", "servicetag", "api", "server", "dns", "ip", "vm", "ips"}, r
            assert len(r["service_tag"].split()) <= 3, r
        for p in r["ports"]:
            assert p == "*" or all(x.isdigit() and 0 < int(x) <= 65535 for x in p.split("-")), r


# ---------------------------------------------------------------- AKS egress


def test_aks_network_rules_any_address_tag_with_port_and_placeholders():
    rules = rules_of("aks_egress")
    # "*:1194" = any address; with "*:123" (same cloud/direction/protocol) it merges into one UDP rule
    anyudp = one(rules, "*", cloud="public", protocol="udp")
    assert facts(anyudp, "endpoint_kind", "ports", "direction", "required") == ("cidr", ["123", "1194"], "outbound", True)
    assert one(rules, "*", cloud="public", protocol="tcp")["ports"] == ["9000"]
    tag = one(rules, "AzureCloud.<Region>", cloud="public", protocol="udp")
    assert facts(tag, "endpoint", "ports", "direction") == (None, ["1194"], "outbound")
    assert one(rules, "AzureCloud.<Region>", cloud="public", protocol="tcp")["ports"] == ["9000"]
    # CamelCase address placeholders are template endpoints, never service tags
    api = one(rules, "APIServerPublicIP", cloud="public", protocol="tcp")
    assert facts(api, "endpoint_kind", "service_tag", "ports") == ("template", None, ["443", "9000"])
    assert facts(one(rules, "CustomDNSIP"), "endpoint_kind", "protocol", "ports") == ("template", "udp", ["53"])
    ntp = one(rules, "ntp.ubuntu.com", cloud="public")
    assert facts(ntp, "endpoint_kind", "protocol", "ports") == ("fqdn", "udp", ["123"])
    # prose in code spans ("(if running pods/deployments that access the API Server)") is not a party
    assert not [r for r in rules if r["service_tag"] in ("API", "Server", "DNS", "RegionCIDRs")]


def test_aks_fqdn_rules_per_cloud_heading():
    rules = rules_of("aks_egress")
    hcp = one(rules, "*.hcp.<location>.azmk8s.io")
    assert facts(hcp, "endpoint_kind", "protocol", "ports", "direction", "cloud", "required") == (
        "template", "tcp", ["443"], "outbound", "public", True)
    assert one(rules, "*.hcp.<location>.cx.prod.service.azk8s.cn")["cloud"] == "china"
    assert one(rules, "*.hcp.<location>.cx.aks.containerservice.azure.us")["cloud"] == "usgov"
    assert one(rules, "management.chinacloudapi.cn")["cloud"] == "china"
    assert one(rules, "AzureCloud.Region", protocol="udp")["cloud"] == "china"  # 21Vianet table writes no <>
    assert one(rules, "*", cloud="china", protocol="tcp")["ports"] == ["22"]
    assert {r["cloud"] for r in find(rules, "mcr.microsoft.com")} == {"public", "usgov"}
    # two hosts in one cell, both kept
    assert one(rules, "mcr-0001.mcr-msedge.net")["ports"] == ["443"]
    assert one(rules, "*.data.mcr.microsoft.com")["endpoint_kind"] == "wildcard"


def test_aks_optional_table_and_per_host_cloud_notes():
    rules = rules_of("aks_egress")
    for host in ("security.ubuntu.com", "azure.archive.ubuntu.com", "changelogs.ubuntu.com"):
        r = one(rules, host)
        assert facts(r, "ports", "protocol", "required") == (["80"], "tcp", False)
    # "login.microsoftonline.us (Azure Government)" inside a cell of a cloud-neutral table
    assert one(rules, "*.ods.opinsights.azure.us")["cloud"] == "usgov"
    assert one(rules, "*.ods.opinsights.azure.cn")["cloud"] == "china"
    assert one(rules, "*.ods.opinsights.azure.com", protocol="tcp")["cloud"] == "public"
    assert one(rules, "login.microsoftonline.cn")["cloud"] == "china"
    # "Region | Availability" is not a rule table
    assert not [r for r in rules if r["purpose"] and r["purpose"] in ("GA", "East US")]


# ---------------------------------------------------------------- AVD


def test_avd_address_rows_carry_their_service_tag():
    rules = rules_of("avd_fqdns")
    login = one(rules, "login.microsoftonline.com", cloud="public")
    assert facts(login, "endpoint_kind", "service_tag", "protocol", "ports", "direction", "tab") == (
        "fqdn", "AzureActiveDirectory", "tcp", ["443"], "outbound", None)
    assert one(rules, "*.wvd.microsoft.com")["service_tag"] == "WindowsVirtualDesktop"
    assert facts(one(rules, "azkms.core.windows.net"), "ports", "service_tag") == (["1688"], "Internet")
    imds = one(rules, "169.254.169.254", cloud="public")
    assert facts(imds, "endpoint_kind", "ports", "service_tag", "direction") == ("ip", ["80"], None, "outbound")
    assert one(rules, "168.63.129.16", cloud="usgov")["endpoint_kind"] == "ip"
    assert one(rules, "*.wvd.azure.us")["cloud"] == "usgov"
    # one rule per address: the tag column does not make separate tag-only rules
    assert not [r for r in rules if r["endpoint"] is None]
    assert not [r for r in rules if (r["service_tag"] or "").upper() == "N/A"]


def test_avd_optional_table_and_client_column():
    rules = rules_of("avd_fqdns")
    assert one(rules, "*.events.data.microsoft.com")["required"] is False
    assert one(rules, "*eh.servicebus.windows.net")["service_tag"] == "EventHub"
    assert one(rules, "login.microsoftonline.com", cloud="public")["required"] is not False
    assert facts(one(rules, "go.microsoft.com"), "ports", "cloud") == (["443"], "public")
    # "Feature | Supported" gives nothing
    assert not [r for r in rules if r["purpose"] in ("Yes", "Service tags", "FQDN tags")]


# ---------------------------------------------------------------- Arc-enabled Kubernetes


def test_arc_k8s_urls_with_scheme_imply_https_443():
    rules = rules_of("arc_k8s")
    arm = one(rules, "https://management.azure.com")
    assert facts(arm, "endpoint_kind", "ports", "protocol", "cloud", "direction") == ("url", ["443"], "tcp", "public", "outbound")
    dp = one(rules, "https://<region>.dp.kubernetesconfiguration.azure.com")
    assert facts(dp, "endpoint_kind", "ports") == ("template", ["443"])
    assert one(rules, "https://<region>.obo.arc.azure.com:8084")["ports"] == ["8084"]
    assert one(rules, "*.servicebus.windows.net")["endpoint_kind"] == "wildcard"
    assert one(rules, "login.windows.net")["cloud"] == "public"
    assert one(rules, "https://management.chinacloudapi.cn")["cloud"] == "china"


def test_arc_k8s_link_text_footnotes_and_cloud_notes():
    rules = rules_of("arc_k8s")
    # link text is the host; footnote mark <sup>1</sup> is not part of it
    assert facts(one(rules, "management.usgovcloudapi.net"), "endpoint_kind", "cloud") == ("fqdn", "usgov")
    assert one(rules, "https://login.microsoftonline.us")["cloud"] == "usgov"
    # "(for Azure US Government)" beside one host of a row in the Azure Cloud tab
    assert one(rules, "https://gbl.his.arc.azure.us")["cloud"] == "usgov"
    assert one(rules, "https://gbl.his.arc.azure.com")["cloud"] == "public"


def test_arc_k8s_required_column_port_with_protocol_and_empty_rows():
    rules = rules_of("arc_k8s")
    arc = one(rules, "*.arc.azure.net")
    assert facts(arc, "required", "ports", "protocol") == (True, ["443"], "tcp")
    helm = one(rules, "k8connecthelm.azureedge.net")  # trailing footnote asterisk dropped
    assert facts(helm, "required", "ports", "protocol") == (False, ["443"], "tcp")
    cidr = one(rules, "13.66.0.0/16")
    assert facts(cidr, "endpoint_kind", "required", "ports", "protocol") == ("cidr", False, ["443"], "tcp")
    assert cidr["direction"] != "inbound"
    assert not [r for r in rules if r["endpoint"] in ("—", "N/A", "--proxy-https")]
    assert not find(rules, "http://proxy.contoso.com:8080") and not find(rules, "10.0.0.0/16")


# ---------------------------------------------------------------- Arc resource bridge


def test_arc_resource_bridge_direction_prose_and_protocol_in_direction_cell():
    rules = rules_of("arc_resource_bridge")
    ntp = one(rules, "time.windows.com")
    assert facts(ntp, "ports", "protocol", "direction") == (["123"], "udp", "outbound")
    mcr = one(rules, "mcr.microsoft.com")
    assert facts(mcr, "ports", "direction", "endpoint_kind") == (["443"], "outbound", "fqdn")
    assert {r["endpoint"] for r in find(rules, "login.microsoft.com")} == {"login.microsoft.com"}
    # "`appliance VM IPs` and `Management machine`" are descriptions, not hosts or tags
    assert not [r for r in rules if "6443" in r["ports"] or "22" in r["ports"]]
    assert not [r for r in rules if r["service_tag"]]


# ---------------------------------------------------------------- App Service Environment


def test_ase_from_to_columns_with_ports_after_hosts():
    rules = rules_of("ase_networking")
    for host in ("table.core.windows.net", "blob.core.windows.net", "queue.core.windows.net", "file.core.windows.net"):
        r = one(rules, host)
        assert facts(r, "ports", "direction", "source") == (["80", "443", "445"], "outbound", "App Service Environment subnet")
    assert one(rules, "database.windows.net")["ports"] == ["1433"]
    dns = one(rules, "Internet")
    assert facts(dns, "endpoint", "ports", "direction") == (None, ["53"], "outbound")
    # inbound rows name only prose parties ("App Service management addresses"): no rule
    assert not [r for r in rules if r["direction"] == "inbound" and r["endpoint"] and r["endpoint_kind"] != "role"]


def test_ase_firewall_dependencies_any_address_and_host_port():
    rules = rules_of("ase_networking")
    anyr = one(rules, "*")
    assert facts(anyr, "endpoint_kind", "ports", "direction") == ("cidr", ["123", "12000"], "outbound")
    ip = one(rules, "40.77.24.27")
    assert facts(ip, "endpoint_kind", "ports") == ("ip", ["80", "443"])
    assert one(rules, "*.login.microsoftonline.com")["ports"] == ["443"]
    assert one(rules, "go.microsoft.com")["ports"] == ["80"]
    assert one(rules, "*.usgovcloudapi.net")["ports"] == ["443"]
    # "Azure SQL", "Microsoft Entra ID" under an Endpoint header are service names, not endpoints
    assert not [r for r in rules if r["purpose"] is None and r["endpoint"] is None and r["service_tag"] != "Internet"
                and r["service_tag"] not in ("AppServiceManagement", "AzureLoadBalancer", "AzureCloud")]


def test_ase_nsg_service_tag_port_direction_table():
    rules = rules_of("ase_networking")
    mgmt = one(rules, "AppServiceManagement")
    assert facts(mgmt, "ports", "protocol", "direction") == (["454-455"], "tcp", "inbound")
    lb = one(rules, "AzureLoadBalancer")
    assert facts(lb, "ports", "protocol", "direction") == (["*"], "any", "inbound")
    assert facts(one(rules, "AzureCloud"), "ports", "direction") == (["443"], "outbound")


# ---------------------------------------------------------------- HDInsight / Spring Apps / ARO


def test_hdinsight_protocol_port_cells_fqdn_tags_and_service_tags():
    rules = rules_of("hdinsight_spring")
    login = one(rules, "login.windows.net")
    assert facts(login, "protocol", "ports", "direction", "source") == ("tcp", ["443"], "outbound", "*")
    assert one(rules, "azure.archive.ubuntu.com")["ports"] == ["80"]
    assert one(rules, "storage_account_name.blob.core.windows.net")["endpoint_kind"] == "fqdn"
    assert one(rules, "WindowsUpdate")["endpoint"] is None
    assert one(rules, "HDInsight")["endpoint"] is None
    sql = one(rules, "SQL")
    assert facts(sql, "protocol", "ports") == ("tcp", ["1433", "11000-11999"])
    mon = one(rules, "AzureMonitor")
    assert facts(mon, "ports", "required") == (["*", "443"], False)  # "Azure Monitor" and "AzureMonitor:443" are one tag
    assert not find(rules, "Rule_6") and not find(rules, "Rule_1")


def test_spring_apps_service_tag_alternatives_with_ports():
    rules = rules_of("hdinsight_spring")
    anyr = one(rules, "*")
    assert facts(anyr, "endpoint_kind", "protocol", "ports", "direction") == ("cidr", "tcp", ["443"], "outbound")
    assert facts(one(rules, "AzureCloud"), "ports", "direction", "endpoint") == (["443"], "outbound", None)
    assert one(rules, "AzureContainerRegistry")["ports"] == ["443"]
    assert one(rules, "Storage")["ports"] == ["443", "445"]
    assert one(rules, "*.core.windows.net")["ports"] == ["443", "445"]
    assert one(rules, "global.prod.microsoftmetrics.com")["ports"] == ["443"]
    assert not find(rules, "ServiceTag")
    newrelic = one(rules, "collector*.newrelic.com")
    assert facts(newrelic, "endpoint_kind", "protocol", "ports", "required") == ("wildcard", "tcp", ["80", "443"], False)
    assert one(rules, "*.azmk8s.io")["ports"] == ["443"]  # <i>\*.azmk8s.io</i>


def test_aro_dollar_placeholder_is_a_template():
    rules = rules_of("hdinsight_spring")
    r = one(rules, "arosvc.$REGION.data.azurecr.io")
    assert facts(r, "endpoint_kind", "ports", "protocol", "required") == ("template", ["443"], "tcp", True)
    assert one(rules, "arosvc.azurecr.io")["endpoint_kind"] == "fqdn"


# ---------------------------------------------------------------- Intune / Windows 365


def test_intune_addresses_cell_mixes_hosts_and_ranges():
    rules = rules_of("intune_endpoints")
    host = one(rules, "*.manage.microsoft.com")
    assert facts(host, "protocol", "ports", "required", "direction") == ("tcp", ["80", "443"], True, "outbound")
    assert one(rules, "EnterpriseEnrollment.manage.microsoft.com")["endpoint_kind"] == "fqdn"
    cidr = one(rules, "104.46.162.96/27")
    assert facts(cidr, "endpoint_kind", "ports", "direction") == ("cidr", ["80", "443"], "outbound")
    assert one(rules, "login.live.com")["required"] is False  # Category "Default<BR>Optional"
    assert not [r for r in rules if r["purpose"] == "False" or r["endpoint"] in ("163", "False")]


def test_windows365_code_list_and_value_table():
    rules = rules_of("intune_endpoints")
    r = one(rules, "*.infra.windows365.microsoft.com")
    assert facts(r, "endpoint_kind", "direction", "required") == ("wildcard", "outbound", True)
    assert not [r for r in rules if r["purpose"] and "Mbps" in r["purpose"]]


# ---------------------------------------------------------------- Site Recovery / Backup


def test_site_recovery_cloud_columns_and_tag_names():
    rules = rules_of("site_recovery")
    assert one(rules, "*.blob.core.usgovcloudapi.net")["cloud"] == "usgov"
    assert one(rules, "*.hypervrecoverymanager.windowsazure.com")["cloud"] == "public"
    assert one(rules, "login.microsoftonline.us")["cloud"] == "usgov"
    assert not find(rules, "Not applicable")
    tags = {r["service_tag"] for r in rules if r["endpoint"] is None}
    assert {"Storage", "EventsHub", "AzureSiteRecovery", "Microsoft Entra ID"} <= tags
    assert all(r["direction"] == "outbound" for r in rules)


def test_backup_domain_names_and_government_list():
    rules = rules_of("site_recovery")
    assert {r["endpoint"] for r in rules if r["purpose"] == "Microsoft Entra ID"} == {"login.microsoft.com", "graph.windows.net"}
    assert one(rules, "www.msftncsi.com")["cloud"] == "usgov"
    assert one(rules, "*.usgovcloudapi.net")["cloud"] == "usgov"


# ---------------------------------------------------------------- Azure Local / Stack HCI


def test_azure_local_endpoint_table_ignores_gateway_support_column():
    rules = rules_of("azure_local")
    login = one(rules, "login.microsoftonline.com")
    assert facts(login, "ports", "required", "direction") == (["443"], True, "outbound")
    assert one(rules, "time.windows.com")["ports"] == ["123"]
    assert one(rules, "*.his.arc.azure.com")["endpoint_kind"] == "wildcard"
    url = one(rules, "https://azurestackreleases.download.prss.microsoft.com")
    assert facts(url, "endpoint_kind", "ports", "protocol") == ("url", ["443"], "tcp")
    assert one(rules, "<yourarcgatewayendpointid>.gw.arc.azure.com")["endpoint_kind"] == "template"
    assert not [r for r in rules if r["required"] is False]  # "Arc gateway support: No" is not "optional"


def test_stack_hci_port_tables_with_prose_parties():
    rules = rules_of("azure_local")
    # "Cluster servers", "Management system", "Windows Admin Center", "Azure Stack HCI" are machines, not parties
    assert all(r["endpoint_kind"] == "role" for r in rules if r["ports"] and r["ports"][0] in ("3343", "5985", "445"))
    net = one(rules, "Internet")
    assert facts(net, "ports", "protocol", "source") == (["443"], "tcp", "Cluster servers")


# ---------------------------------------------------------------- DevOps / Databricks


def test_devops_url_list_and_ip_ranges():
    rules = rules_of("devops_databricks")
    r = one(rules, "https://*.dev.azure.com")
    assert facts(r, "endpoint_kind", "ports", "direction") == ("url", ["443"], "outbound")
    assert one(rules, "20.37.194.0/24")["direction"] == "inbound"
    assert one(rules, "20.44.10.0/24")["purpose"] == "East US 2"
    v6 = one(rules, "2603:1000:4::/56")
    assert facts(v6, "endpoint_kind", "direction") == ("cidr", "inbound")


def test_databricks_ip_or_domain_column():
    rules = rules_of("devops_databricks")
    nat = one(rules, "13.75.218.172/32")
    assert facts(nat, "endpoint_kind", "purpose") == ("cidr", "Control Plane NAT")
    assert nat["direction"] is None  # the page does not say which way control-plane NAT traffic goes
    relay = one(rules, "tunnel.australiaeast.azuredatabricks.net")
    assert facts(relay, "endpoint_kind", "direction") == ("fqdn", "outbound")
    assert not find(rules, "australiacentral")


# ---------------------------------------------------------------- literal cells from those pages


@pytest.mark.parametrize(
    "items, expected",
    [
        (["UDP/123"], {"udp": ["123"]}),
        (["443 (TCP)"], {"tcp": ["443"]}),
        (["443 (HTTPS)"], {"tcp": ["443"]}),
        (["5985 (HTTP)"], {"tcp": ["5985"]}),
        (["TCP 443"], {"tcp": ["443"]}),
        (["443/TCP"], {"tcp": ["443"]}),
        (["TCP:443/80"], {"tcp": ["80", "443"]}),
        (["TCP:443, TCP:445"], {"tcp": ["443", "445"]}),
        (["TCP/UDP: 53"], {"tcp+udp": ["53"]}),  # split into a tcp and a udp rule where rules merge
        (["3389 (Windows), 22 (Linux)"], {None: ["22", "3389"]}),
    ],
)
def test_port_cells_with_protocols(items, expected):
    from docwatch.normalize_values import parse_ports

    assert parse_ports(items) == expected


def test_party_cells_from_those_pages():
    from docwatch.normalize_values import endpoint_kind, parties_in_cell
    from parsers.model import Cell

    spring = Cell.from_items(["*.core.windows.net:443 and *.core.windows.net:445 or ServiceTag - Storage:443 and Storage:445"])
    assert parties_in_cell(spring) == [("wildcard", "*.core.windows.net:443"), ("wildcard", "*.core.windows.net:445"),
                                       ("tag", "Storage:443"), ("tag", "Storage:445")]
    aks = Cell.from_items(["CustomDNSIP:53 (if using custom DNS servers)"], code=["CustomDNSIP:53", "(if using custom DNS servers)"])
    assert parties_in_cell(aks) == [("template", "CustomDNSIP:53")]
    phrase = Cell.from_items(["appliance VM IPs and Management machine"], code=["appliance VM IPs", "Management machine"])
    assert parties_in_cell(phrase) == []
    assert parties_in_cell(Cell.from_items(["N/A"])) == [] and parties_in_cell(Cell.from_items(["—"])) == []
    assert parties_in_cell(Cell.from_items(["*"])) == [("cidr", "*")]
    assert parties_in_cell(Cell.from_items(["Use * for any"])) == []
    assert endpoint_kind("arosvc.$REGION.data.azurecr.io") == "template"
    assert endpoint_kind("*") == "cidr"
