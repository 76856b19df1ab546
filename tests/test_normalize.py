"""Normalization: literal cell strings → facts, real corpus pages → checked rules,
cosmetic rewrites → identical facts."""
from __future__ import annotations

from pathlib import Path

import pytest

from docwatch.model import Rule
from docwatch.documents import load_local
from docwatch.normalize import classify_column, is_rule_table, merge_rules, normalize
from docwatch.normalize_values import (
    cloud_of_heading,
    cloud_of_label,
    cloud_of_tab,
    direction_of,
    endpoint_kind,
    parse_ports,
    parse_protocol,
    parties_in_cell,
    split_endpoint_port,
)
from parsers.model import Cell, Document, Tab, Table

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- literal strings


@pytest.mark.parametrize(
    "items, kw, expected",
    [
        (["443"], {}, {None: ["443"]}),
        (["80,443"], {}, {None: ["80", "443"]}),
        (["80, 443"], {}, {None: ["80", "443"]}),
        (["6381 - 6383"], {}, {None: ["6381-6383"]}),
        (["* / [80], 443"], {"source_dest": True}, {None: ["80", "443"]}),
        (["* / 6381 - 6383"], {"source_dest": True}, {None: ["6381-6383"]}),
        (["* / *"], {"source_dest": True}, {None: ["*"]}),
        (["Any"], {}, {None: ["*"]}),
        (["*"], {"default_protocol": "tcp"}, {"tcp": ["*"]}),
        (["443, 8787, 18881", "UDP: 5831"], {}, {"tcp": ["443", "8787", "18881"], "udp": ["5831"]}),
        (["HTTPS:443"], {}, {"tcp": ["443"]}),
        (["TCP: 80, 443"], {}, {"tcp": ["80", "443"]}),
        (["ANY: 443"], {}, {"any": ["443"]}),
        (["3389 (Windows), 22 (Linux)"], {}, {None: ["22", "3389"]}),
        (["`443`"], {}, {None: ["443"]}),
        (["1886, 443"], {"default_protocol": "tcp"}, {"tcp": ["443", "1886"]}),
        ([""], {}, {}),
    ],
)
def test_parse_ports(items, kw, expected):
    assert parse_ports(items, **kw) == expected


@pytest.mark.parametrize(
    "text, expected",
    [("TCP", "tcp"), ("UDP", "udp"), ("TCP/UDP", "tcp+udp"), ("TCP and UDP", "tcp+udp"), ("Any", "any"), ("ANY", "any"), ("*", "any"),
     ("HTTPS", "tcp"), ("HTTP", "tcp"), ("", None), ("Allow", None)],
)
def test_parse_protocol(text, expected):
    assert parse_protocol(text) == expected


@pytest.mark.parametrize(
    "value, kind",
    [
        ("login.microsoftonline.us", "fqdn"),
        ("*.his.arc.azure.cn", "wildcard"),
        ("azgn*.servicebus.windows.net", "wildcard"),
        ("*pytorch.org", "wildcard"),
        ("www.microsoft.com/pkiops/certs", "url"),
        ("https://github.com/microsoft/vscode-tools-for-ai/tree/master/x/*", "url"),
        ("20.37.52.67", "ip"),
        ("10.0.0.0/16", "cidr"),
        ("{region}.in.applicationinsights.azure.com", "template"),
        ("<region>.login.microsoft.com", "template"),
        ("<storage>.file.core.windows.net", "template"),
        ("<workspace-id>.workspace.<region>.api.azureml.ms", "template"),
        ("<your ACR name>.azurecr.io", "template"),
        ("westus2", None),
        ("{region}", None),
        ("AzureMonitor", None),
        ("Used to install packages.", None),
    ],
)
def test_endpoint_kind(value, kind):
    assert endpoint_kind(value) == kind


def test_ports_written_into_hosts_and_urls():
    assert split_endpoint_port("management.azure.com:443") == ("management.azure.com", ["443"])
    assert split_endpoint_port("https://host.example.com:8084/") == ("https://host.example.com:8084/", ["8084"])
    assert split_endpoint_port("plain.example.com") == ("plain.example.com", [])


def test_parties_from_code_spans_and_plain_items():
    cell = Cell.from_items(["`a.example.com`", "prose", "Example for `{region}`: `westus2`"],
                           code=["a.example.com", "{region}", "westus2"])
    assert parties_in_cell(cell) == [("fqdn", "a.example.com")]
    plain = Cell.from_items(["packages.nuget.org , nuget.org, az320820.vo.msecnd.net (NuGet Downloads)"])
    assert [v for _, v in parties_in_cell(plain)] == ["packages.nuget.org", "nuget.org", "az320820.vo.msecnd.net"]
    tags = Cell.from_items(["MicrosoftContainerRegistry and AzureFrontDoor.FirstParty"],
                           code=["MicrosoftContainerRegistry", "AzureFrontDoor.FirstParty"])
    assert parties_in_cell(tags) == [("tag", "MicrosoftContainerRegistry"), ("tag", "AzureFrontDoor.FirstParty")]
    foot = Cell.from_items(["*.<region>.arcdataservices.com 1"], footnotes=["1"])
    assert parties_in_cell(foot) == [("template", "*.<region>.arcdataservices.com")]


@pytest.mark.parametrize(
    "label, tab_id, expected",
    [
        ("Azure public", "public", "public"), ("Azure Global", None, "public"), ("Azure Government", "gov", "usgov"),
        ("Azure US Government", None, "usgov"), ("Azure China 21Vianet", None, "china"),
        ("Azure operated by 21Vianet", "azure-china", "china"), ("Microsoft Azure operated by 21Vianet", "china", "china"),
        ("Azure Cloud", "azure-cloud", "public"), ("x", "azure-government", "usgov"), ("stv2", "stv2", None),
        ("Windows VM", "PowerShellWindows", None),
    ],
)
def test_cloud_of_tab(label, tab_id, expected):
    assert cloud_of_tab(label, tab_id) == expected


def test_cloud_of_heading_and_label():
    assert cloud_of_heading("Azure US Government required rules") == "usgov"
    assert cloud_of_heading("Azure China required rules") == "china"
    assert cloud_of_heading("Required ports") is None
    assert cloud_of_heading("Azure Government and Azure China") is None
    assert cloud_of_label("Azure Public") == "public"
    assert cloud_of_label("Global") == "public"
    assert cloud_of_label("Cloud") is None


@pytest.mark.parametrize(
    "text, direction",
    [("Inbound", "inbound"), ("Outbound", "outbound"), ("Inbound & Outbound", "both"), ("Both", "both"),
     ("Inbound traffic", "inbound"), ("Outbound traffic", "outbound"),
     ("allow outbound traffic to the following hosts:", "outbound"), ("Outgoing ports", "outbound"),
     ("Required ports", None), ("", None)],
)
def test_direction_of(text, direction):
    assert direction_of(text) == direction


@pytest.mark.parametrize(
    "header, role",
    [("Source / Destination Port(s)", "pair_ports"), ("Service tags Source / Destination", "pair"),
     ("Transport protocol", "protocol"), ("Protocol & ports", "proto_ports"), ("Direction", "direction"),
     ("Hosts", "endpoint"), ("Host name", "endpoint"), ("URL", "endpoint"), ("URI", "endpoint"), ("FQDNs", "endpoint"),
     ("Outbound Endpoint", "endpoint"), ("Agent resource", "endpoint"), ("IP address", "endpoint"),
     ("Endpoint used with private link", "ignore"), ("Example", "ignore"), ("Service tag(s)", "tag"),
     ("Source Service Tag or IP Addresses", "source"), ("Destination Service Tag", "dest"),
     ("Destinationports", "ports"), ("Source ports", "ignore"), ("When required", "required"),
     ("Required for VM to be usable?", "required"), ("Required for", "purpose"), ("Purpose", "purpose"),
     ("Azure Environment", "cloud"), ("Azure Public", "cloud_hosts"), ("Support", "ignore"), ("Platform", "ignore"),
     ("Can use inbound or outbound?", "direction")],
)
def test_classify_column(header, role):
    assert classify_column(header).role == role


# ---------------------------------------------------------------- hand-built tables


def _t(columns, rows, **kw) -> Table:
    def cell(v):
        if isinstance(v, Cell):
            return v
        items = [i for i in v.split("\n")]
        code = [i.strip("`") for i in items if i.startswith("`") and i.endswith("`")]
        return Cell.from_items([i.strip("`") for i in items], code=code)

    return Table(columns=columns, rows=[[cell(v) for v in r] for r in rows], **kw)


def _rules(*tables):
    return normalize(Document(format="markdown", tables=list(tables)))


def test_non_rule_tables_give_nothing():
    platform = _t(["Platform/Language", "Support", "More Information"],
                  [["Linux", "Linux distributions rely on OpenSSL for TLS 1.2 support.", "Check the changelog."]])
    glossary = _t(["Port", "Description"], [["443", "Secured web traffic (HTTPS)"], ["8787", "RStudio"]])
    params = _t(["Parameter", "Description", "Default"], [["retries", "How often to retry, e.g. 3", "3"]])
    perms = _t(["Permission", "Description"], [["Microsoft.Network/virtualNetworks/read", "Read VNets"]])
    suffix = _t(["Cloud", "Suffix"], [["Azure Commercial", "`.com`"], ["Azure Government", "`.us`"]])
    for t in (platform, glossary, params, perms, suffix):
        assert not is_rule_table(t), t.columns
    assert _rules(platform, glossary, params, perms, suffix) == []


def test_multi_protocol_cell_splits_into_tcp_and_udp_rules():
    t = _t(["Service tags", "Ports", "Purpose"],
           [["`AzureMachineLearning`", Cell.from_items(["443, 8787, 18881", "UDP: 5831"]), "Using Azure ML."]],
           lead_in="Outbound traffic")
    rules = _rules(t)
    assert [(r.service_tag, r.protocol, r.ports, r.direction) for r in rules] == [
        ("AzureMachineLearning", "tcp", ["443", "8787", "18881"], "outbound"),
        ("AzureMachineLearning", "udp", ["5831"], "outbound"),
    ]


def test_source_destination_pair_picks_the_side_that_is_not_virtualnetwork():
    t = _t(["Source / Destination Port(s)", "Direction", "Transport protocol", "Service tags Source / Destination", "Purpose"],
           [["* / [80], 443", "Inbound", "TCP", "Internet / VirtualNetwork", "Client communication"],
            ["* / 6381 - 6383", "Inbound & Outbound", "TCP", "VirtualNetwork / VirtualNetwork", "Cache (optional)"],
            ["* / 443", "Outbound", "TCP", "VirtualNetwork / Storage.<region>", "Storage"]])
    got = {(r.service_tag, r.direction): r for r in _rules(t)}
    assert got[("Internet", "inbound")].ports == ["80", "443"]
    assert (got[("Internet", "inbound")].source, got[("Internet", "inbound")].destination) == ("Internet", "VirtualNetwork")
    assert got[("VirtualNetwork", "both")].ports == ["6381-6383"]
    assert got[("VirtualNetwork", "both")].required is False
    assert got[("Storage.<region>", "outbound")].protocol == "tcp"


def test_separate_source_and_destination_columns():
    t = _t(["Source", "Source ports", "Destination", "Destination ports", "Purpose"],
           [["`AzureMachineLearning`", "Any", "`VirtualNetwork`", "44224", "Inbound to compute instance/cluster."]],
           lead_in="Inbound traffic")
    [r] = _rules(t)
    assert (r.service_tag, r.source, r.destination, r.ports, r.direction) == (
        "AzureMachineLearning", "AzureMachineLearning", "VirtualNetwork", ["44224"], "inbound")


def test_bold_purpose_says_nothing_and_optional_is_not_required():
    """Bold alone is emphasis (a label, a scenario): only bold text saying required/optional counts."""
    bold = Cell.from_items(["Dependency on Azure Storage"], bold=["Dependency on Azure Storage"])
    t = _t(["Direction", "Service tag", "Ports", "Purpose"],
           [["Outbound", "Storage", "443", bold], ["Outbound", "Sql", "1433", "Access to SQL (optional)"],
            ["Outbound", "EventHub", "5671", "Event hubs"]])
    req = {r.service_tag: r.required for r in _rules(t)}
    assert req == {"Storage": None, "Sql": False, "EventHub": None}


def test_when_required_column_and_cloud_tabs():
    t = _t(["Agent resource", "Description", "When required", "Private link capable"],
           [["`*.his.arc.azure.cn`", "Metadata", "Always", "Private"],
            ["`dc.applicationinsights.azure.cn`", "Telemetry", "Optional, not used in agent versions 1.24+", "Public"],
            ["`aka.ms`", "Download script", "At installation time, only", "Public"]],
           tabs=[Tab("Microsoft Azure operated by 21Vianet", "azure-china")], headings=["URLs"])
    got = {r.endpoint: r for r in _rules(t)}
    assert set(got) == {"*.his.arc.azure.cn", "dc.applicationinsights.azure.cn", "aka.ms"}
    his = got["*.his.arc.azure.cn"]
    assert (his.cloud, his.endpoint_kind, his.required, his.when, his.tab) == ("china", "wildcard", True, "Always", None)
    assert got["dc.applicationinsights.azure.cn"].required is False
    assert got["aka.ms"].required is True and got["aka.ms"].when == "At installation time, only"


def test_environment_column_and_cloud_named_columns():
    env = _t(["Azure Environment", "Endpoints"],
             [["Azure Public", Cell.from_items(["gcs.prod.monitoring.core.windows.net", "global.prod.microsoftmetrics.com"])],
              ["Azure Government", Cell.from_items(["fairfax.warmpath.usgovcloudapi.net", "global.prod.microsoftmetrics.com"])],
              ["Microsoft Azure operated by 21Vianet", Cell.from_items(["mooncake.warmpath.chinacloudapi.cn"])]],
             headings=["Metrics and health monitoring"])
    got = {(r.cloud, r.endpoint) for r in _rules(env)}
    assert got == {("public", "gcs.prod.monitoring.core.windows.net"), ("public", "global.prod.microsoftmetrics.com"),
                   ("usgov", "fairfax.warmpath.usgovcloudapi.net"), ("usgov", "global.prod.microsoftmetrics.com"),
                   ("china", "mooncake.warmpath.chinacloudapi.cn")}
    cols = _t(["Azure Public", "Azure Government"], [["*.ods.opinsights.azure.com", "*.ods.opinsights.azure.us"]])
    assert {(r.cloud, r.endpoint, r.endpoint_kind) for r in _rules(cols)} == {
        ("public", "*.ods.opinsights.azure.com", "wildcard"), ("usgov", "*.ods.opinsights.azure.us", "wildcard")}


def test_cloud_from_heading_and_innermost_non_cloud_tab():
    t = _t(["Hosts", "Protocol", "Ports"], [["`login.microsoftonline.us`", "TCP", "80, 443"]],
           headings=["Firewall", "Azure US Government required rules"], tabs=[Tab("stv2", "stv2")])
    [r] = _rules(t)
    assert (r.cloud, r.tab, r.protocol, r.ports) == ("usgov", "stv2", "tcp", ["80", "443"])


def test_list_tables_give_one_rule_per_code_span():
    t = Table(columns=["Monitoring, metrics, and diagnostics"], kind="list",
              lead_in="you must allow outbound traffic to the following hosts:",
              rows=[[Cell.from_items(["dc.applicationinsights.azure.com"], code=["dc.applicationinsights.azure.com"])],
                    [Cell.from_items(["*.in.applicationinsights.azure.com"], code=["*.in.applicationinsights.azure.com"])],
                    [Cell.from_items(["AzureActiveDirectory"], code=["AzureActiveDirectory"])]])
    got = {(r.endpoint, r.service_tag, r.endpoint_kind, r.direction) for r in _rules(t)}
    assert got == {("dc.applicationinsights.azure.com", None, "fqdn", "outbound"),
                   ("*.in.applicationinsights.azure.com", None, "wildcard", "outbound"),
                   (None, "AzureActiveDirectory", None, "outbound")}


def test_merge_unions_ports_and_joins_purposes():
    a = Rule(endpoint="x.example.com", endpoint_kind="fqdn", ports=["443"], protocol="tcp", purpose="B", required=None)
    b = Rule(endpoint="X.example.com", endpoint_kind="fqdn", ports=["80", "443"], protocol="tcp", purpose="A", required=True)
    [m] = merge_rules([a, b])
    assert m.ports == ["80", "443"] and m.purpose == "A / B" and m.required is True


def test_odd_tables_never_raise():
    odd = [
        Table(columns=[], rows=[]),
        Table(columns=["Hosts"], rows=[[]]),
        Table(columns=["Hosts", "Ports"], rows=[[Cell.from_items(["a.example.com"])]]),
        Table(columns=["Ports", "Protocol"], rows=[[Cell(), Cell(), Cell()]]),
        Table(columns=["URL"], rows=[[Cell(text="", items=[], code=[""])]]),
        Table(columns=["Host"], kind="list", rows=[[Cell.from_items(["|||"])]]),
    ]
    rules = _rules(*odd)
    assert [r.endpoint for r in rules] == ["a.example.com"]


# ---------------------------------------------------------------- real corpus pages (need the parsers)

APIM = "apim-virtual-network-reference"


def _load(path):
    from conftest import load_kept

    return load_kept(path)


def _version(corpus_versions, page, prefix):
    return next(v["file"] for v in corpus_versions(page) if str(v["path"]).startswith(prefix) or prefix in str(v["file"]))


@pytest.fixture
def versions(corpus_dir):
    from conftest import corpus_versions

    return corpus_versions


@pytest.mark.corpus
def test_apim_stv2_azure_monitor(versions):
    doc = _load(_version(versions, APIM, "2023-08-29"))
    rules = normalize(doc)
    mon = [r for r in rules if r.service_tag == "AzureMonitor" and r.tab == "stv2"]
    assert len(mon) == 1
    r = mon[0]
    assert (r.direction, r.protocol, r.ports, r.cloud) == ("outbound", "tcp", ["443", "1886"], None)
    assert (r.source, r.destination) == ("VirtualNetwork", "AzureMonitor")
    stv1 = {r.service_tag for r in rules if r.tab == "stv1"}
    assert "AzureCloud" in stv1 and "AzureCloud" not in {r.service_tag for r in rules if r.tab == "stv2"}
    # control plane IPs and metrics endpoints carry their cloud from the environment column
    assert any(r.endpoint == "fairfax.warmpath.usgovcloudapi.net" and r.cloud == "usgov" for r in rules)
    assert any(r.endpoint == "52.127.42.160" and r.endpoint_kind == "ip" and r.cloud == "usgov" for r in rules)


@pytest.mark.corpus
def test_azureml_gov_tab_login_host(versions):
    docs = [v["file"] for v in versions("azureml-behind-firewall")]
    rules = normalize(_load(docs[-1]))
    hits = [r for r in rules if r.endpoint == "login.microsoftonline.us"]
    assert len(hits) == 1
    assert (hits[0].protocol, hits[0].ports, hits[0].cloud, hits[0].endpoint_kind) == ("tcp", ["80", "443"], "usgov", "fqdn")
    # includes are read: the recommended-outbound include lists pypi.org
    assert any(r.endpoint == "pypi.org" for r in rules)
    # the port glossary is not a rule table
    assert not any(r.ports == ["18881"] and r.purpose and "IntelliSense" in r.purpose for r in rules)


@pytest.mark.corpus
def test_arc_include_china_tab(versions):
    inc = [Path(v["file"]).parent / "includes" / "network-requirements.md" for v in versions("arc-servers-network-requirements")]
    rules = normalize(_load(inc[-1]))
    his = [r for r in rules if r.endpoint == "*.his.arc.azure.cn"]
    assert len(his) == 1 and his[0].cloud == "china" and his[0].endpoint_kind == "wildcard"
    assert any(r.endpoint == "azgn*.servicebus.windows.net" and r.endpoint_kind == "wildcard" and r.cloud == "public" for r in rules)
    # the "Platform | Support" TLS table gives no rules
    assert not any("OpenSSL" in (r.purpose or "") for r in rules)


@pytest.mark.corpus
def test_seed_azure_monitor_template(seeds_dir):
    seed = next(seeds_dir.glob("000_*.txt"))
    rules = normalize(_load(seed))
    hits = [r for r in rules if r.endpoint == "{region}.in.applicationinsights.azure.com"]
    assert len(hits) == 1
    assert hits[0].endpoint_kind == "template" and hits[0].ports == ["443"]
    assert not any(r.endpoint in ("westus2", "{region}") for r in rules)


@pytest.mark.corpus
def test_every_corpus_version_normalizes(corpus_dir):
    from conftest import corpus_pages, corpus_versions

    for page in corpus_pages():
        for v in corpus_versions(page):
            rules = normalize(_load(v["file"]))
            assert [r.key for r in rules] == sorted(r.key for r in rules)
            assert len({r.key for r in rules}) == len(rules)


# ---------------------------------------------------------------- cosmetic invariance (synthetic markdown)

SYNTH = HERE / "synthetic_norm_base.md"


def _facts_of_md(text: str):
    from parsers import parse_document

    return [r.facts() for r in normalize(parse_document(text, path="synthetic.md"))]


def _rewrite_rows_reversed(text: str) -> str:
    out, block = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            out += block[:2] + block[2:][::-1]
            block = []
        out.append(line)
    if block:
        out += block[:2] + block[2:][::-1]
    return "\n".join(out) + "\n"


def _rewrite_columns_swapped(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            cells = [cells[-1], *cells[:-1]]
            line = "|" + "|".join(cells) + "|"
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(_rewrite_rows_reversed, id="row-order"),
        pytest.param(_rewrite_columns_swapped, id="column-order"),
        pytest.param(lambda t: t.replace("<br>", "</br>"), id="br-style"),
        pytest.param(lambda t: t.replace("| ", "|   ").replace(" |", "  |"), id="whitespace"),
        pytest.param(lambda t: t.replace("## Outbound rules for the agent", "## Outbound requirements"), id="renamed-heading"),
        pytest.param(lambda t: (HERE / "synthetic_norm_split.md").read_text(), id="row-split"),
    ],
)
def test_cosmetic_rewrites_keep_facts(rewrite):
    base = SYNTH.read_text()
    expected = _facts_of_md(base)
    assert len(expected) >= 6
    assert _facts_of_md(rewrite(base)) == expected


@pytest.mark.parametrize("lead_in,expected", [
    ("Communication to these addresses uses port 443.", {None: ["443"]}),
    ("The agent communicates outbound securely over TCP port 443.", {"tcp": ["443"]}),
    ("Allow outbound access on ports 80 and 443 to the following endpoints.", {None: ["80", "443"]}),
    ("Each endpoint is an outbound connection to port 443.", {None: ["443"]}),
    ("Port 443 for HTTPS and port 80 for the CRL check.", {}),  # two port phrases: too loose
    ("The following table lists the endpoints.", {}),
    (None, {}),
])
def test_ports_stated_by_the_lead_in(lead_in, expected):
    from docwatch.normalize import ports_of_lead_in
    assert ports_of_lead_in(lead_in) == expected


def test_lead_in_port_applies_to_a_table_without_port_column(corpus_dir):
    """Automation 2024-09-09: "Communication to these addresses uses **port 443**." above a
    two-column Azure Public | Azure Government host table."""
    page = next(corpus_dir.glob("markdown/automation-network-configuration/2024-09-09_*/articles/automation/"
                                "automation-network-configuration.md"))
    rules = {(r.cloud, r.endpoint): r for r in normalize(load_local(page))}
    assert rules[("usgov", "*.azure-automation.us")].ports == ["443"]
    assert rules[("public", "*.blob.core.windows.net")].ports == ["443"]
    assert all(r.ports == ["443"] for r in rules.values() if r.origin in ("table", "list"))
    # the page also names two tags in a sentence ("… use the service tags GuestAndHybridManagement
    # and AzureMonitor."): prose rules, no port stated
    prose = {r.service_tag for r in normalize(load_local(page)) if r.origin == "prose"}
    assert prose == {"GuestAndHybridManagement", "AzureMonitor"}


def test_both_transports_are_two_rules_on_every_corpus_page():
    """"TCP/UDP" splits into a tcp and a udp rule before rules merge: no rule of any corpus version
    carries the internal both-transports value, and a cell "TCP/UDP 53" reads as two rules."""
    from conftest import CORPUS, _require, corpus_versions

    for page in sorted(p.name for p in _require(CORPUS / "markdown").iterdir()):
        for v in corpus_versions(page):
            assert {r.protocol for r in normalize(_load(v["file"]))} <= {"tcp", "udp", "any", "icmp", None}, page
    table = Table(headings=["Ports"], columns=["Endpoint", "Port"],
                  rows=[[Cell.from_items(["168.63.129.16"]), Cell.from_items(["TCP/UDP 53"])]])
    got = sorted((r.endpoint, r.protocol, tuple(r.ports)) for r in normalize(Document(format="markdown", tables=[table])))
    assert got == [("168.63.129.16", "tcp", ("53",)), ("168.63.129.16", "udp", ("53",))]
