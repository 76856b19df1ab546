"""One machine per sentence, named in the many ways real pages name it, read the same from markdown
and rendered HTML (``synthetic_shape_sentence_sides.md``):

* a side whose head is an address word ("the hub firewall's private IP address", "the telemetry
  address range") is a role, the sentence's subject the other side;
* a session or connection "with the X" goes to X ("a BGP session on TCP 9279 with the top-of-rack
  switches"), but "Clusters with the monitoring agent" names no side;
* "between all provider addresses" / "among the cluster nodes" is each of them to each other;
* a service is a side ("to the SQL Browser service on the source host"), and a contact clause ends a
  name ("the time server the host uses");
* a sentence joining two requirements with ", and" gives each its own side, both from the subject
  ("The appliance VM also needs … to the time server …, and … to the DNS servers you give it");
* "inbound to the gateway VIP from the remote VPN device" is one rule between the two;
* a subject that must reach an address opens the connection: outbound;
* "It must accept …"/"They need …" take as the other side the machine the sentence before opens with;
* a sentence after a list of ports that points at them ("… reach the classroom's public IP address on
  all three ranges") gives them its party, and the list's ports no longer stand for no one;
* "through the firewall of the source computer", "in the NSG of the reporting subnet": the machine
  whose firewall opens the port is where the traffic goes;
* shares and listeners are machines ("reach the file share", "the listener's external IP address");
* an opening clause ("To use fast failover, your edge routers must …"), an acronym aside ("Each border
  leaf (BL) switch must …") or a colon before it ("… peer the same way: the border switches must …")
  does not hide the subject;
* "… to `168.63.129.16` …. That traffic is always allowed; you don't need a firewall rule for it."
  takes back the sentence before;
* "don't block outbound TCP port 9443 to the following service tags:" asks for outbound, and a zone
  "(for example `privatelink.x.net`)" is a DNS name, not a destination;
* a list item naming a machine and its ports ("Windows machines: WinRM on TCP 9985 and 9986") under a
  lead-in saying who connects to them ("… the deployment bridge connects to each machine as follows:")
  or accepts from them ("The monitoring server accepts events from each device type …") is a role rule;
* a code block right after another takes the first one's lead-in ("Allow these hosts on TCP 9443 …:"
  over a "# Windows" block and a "# Linux" block);
* "to the A, B, and C service tags" names all three tags.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules, sides_in


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("sentence_sides", request.param)


def _in(rules: list[dict], section: str) -> list[dict]:
    return [r for r in rules if r["section"][-1] == section]


def test_address_words_name_machines(rules):
    assert sides_in(rules, "Address words", roles=True) == {
        ("hub firewall's private IP address", "spoke VM", "hub firewall's private IP address", ("9053",), p, "outbound")
        for p in ("tcp", "udp")} | {
        ("inbound endpoint IP address", "Branch resolvers", "inbound endpoint IP address", ("9153",), p, "outbound")
        for p in ("tcp", "udp")} | {
        ("peer IP address", "edge router", "peer IP address", ("9179",), "tcp", "outbound"),
        ("telemetry address range", "telemetry address range", "collector", ("9080", "9081"), "tcp", "inbound")}


def test_sessions_with_a_side(rules):
    assert sides_in(rules, "Sessions and peers", roles=True) == {
        ("top-of-rack switches", "gateway VM", "top-of-rack switches", ("9279",), "tcp", "outbound"),
        ("telemetry collectors", "sync agent", "telemetry collectors", ("9671",), "tcp", "outbound")}
    # (the agent the clusters run is no side: their port stays a statement for no one party)
    assert [r["endpoint"] for r in _in(rules, "Sessions and peers") if "9514" in r["ports"]] == ["*"]


def test_among_themselves(rules):
    assert sides_in(rules, "Among themselves", roles=True) == {
        ("provider addresses", "provider addresses", "provider addresses", ("9789",), "udp", "both"),
        ("cluster nodes", "cluster nodes", "cluster nodes", ("9946",), "tcp", None)}


def test_services_and_contact_clauses(rules):
    assert sides_in(rules, "Services and contact clauses", roles=True) == {
        ("SQL Browser service", "scanner", "SQL Browser service", ("9434",), "udp", "outbound"),
        ("time server", "appliance VM", "time server", ("9123",), "udp", "outbound"),
        ("DNS servers", "appliance VM", "DNS servers", ("9253",), "tcp", "outbound"),
        ("DNS servers", "appliance VM", "DNS servers", ("9253",), "udp", "outbound")}


def test_both_ends_in_one_sentence(rules):
    assert sides_in(rules, "Both ends in one sentence", roles=True) == {
        ("gateway VIP", "remote VPN device", "gateway VIP", ("9500", "9501"), "udp", "inbound")}


def test_reaching_an_address_is_outbound(rules):
    assert [(r["endpoint"], r["ports"], r["direction"]) for r in _in(rules, "Reaching an address")] == [
        ("168.63.129.16", ["9880", "9881"], "outbound")]


def test_it_and_they_are_the_machine_before(rules):
    assert sides_in(rules, "It and they", roles=True) == {
        ("relay subnet address range", "relay subnet address range", "relay appliance", ("9808",), "tcp", "inbound"),
        ("central log servers", "edge collectors", "central log servers", ("9514",), "udp", "outbound")}


def test_ports_of_the_list_before(rules):
    here = _in(rules, "Ports of the list before")
    assert {(r["endpoint"], r["source"], tuple(r["ports"]), r["protocol"], r["direction"]) for r in here} == {
        ("classroom's public IP address", "Students", ("9600-9699", "9980-9989"), "tcp", "outbound"),
        ("classroom's public IP address", "Students", ("9700",), "udp", "outbound")}


def test_the_firewall_of_a_machine(rules):
    assert sides_in(rules, "Firewalls of a machine", roles=True) == {
        ("source computer", None, "source computer", ("9434",), "udp", None),
        ("reporting subnet", None, "reporting subnet", ("9335",), "tcp", None)}


def test_shares_and_listeners(rules):
    assert sides_in(rules, "Shares and listeners", roles=True) == {
        ("file share", "migration worker", "file share", ("9445",), "tcp", "outbound"),
        ("listener's external IP address", "Devices on the plant network", "listener's external IP address", ("9883",),
         "tcp", "outbound")}


def test_an_opening_clause_keeps_the_subject(rules):
    assert sides_in(rules, "Opening clauses", roles=True) == {
        ("MSEEs", "MSEEs", "edge routers", ("9784",), "udp", "inbound"),
        ("provider address", "provider address", "border leaf switch", ("9180",), "tcp", "inbound"),
        ("relay VMs' provider addresses", "relay VMs' provider addresses", "border switches", ("9181",), "tcp", "inbound")}


def test_what_needs_no_rule(rules):
    assert _in(rules, "Needs no rule") == []


def test_not_blocked_is_asked_for(rules):
    assert sorted((r["service_tag"], r["ports"], r["direction"]) for r in _in(rules, "Not blocked")) == [
        ("EventHub", ["9443"], "outbound"), ("ServiceBus", ["9443"], "outbound")]


def test_machines_in_a_list(rules):
    assert sides_in(rules, "Machines in a list", roles=True) == {
        ("Windows machines", "deployment bridge", "Windows machines", ("9985", "9986"), "tcp", "outbound"),
        ("Linux machines", "deployment bridge", "Linux machines", ("9022",), "tcp", "outbound"),
        ("Network switches", "Network switches", "monitoring server", ("9162",), "udp", "inbound"),
        ("Storage arrays", "Storage arrays", "monitoring server", ("9514",), "tcp", "inbound")}


def test_two_code_blocks_under_one_lead_in(rules):
    assert sorted((r["endpoint"], r["ports"], r["protocol"]) for r in _in(rules, "Two code blocks under one lead-in")) == [
        ("dl.widget-cloud.net", ["9443"], "tcp"), ("pkgs.widget-cloud.net", ["9443"], "tcp")]


def test_every_tag_of_a_list_before_the_words(rules):
    assert sorted(r["service_tag"] for r in _in(rules, "Tag lists")) == ["AzureMonitor", "ServiceBus", "Storage"]
