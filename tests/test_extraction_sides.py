"""Shapes where the party sits somewhere other than a host column, read the same from the page's
markdown and its rendered Learn HTML (``synthetic_shape_sides.md``/``.html``):

* "Local IP | Remote IP" columns: the remote side is the party, whichever way the row points;
  a parenthesized placeholder ("(Gizmo subnet)") is a role for the reader's own addresses;
* a host column holding a placeholder ("(IP of the time server you provide)") is a role;
* application protocols in a protocol cell (SSH, LDAPS) give their transport;
* "Protocol | Port" tables with no address column: the ports are open to any address;
* a "Requirement" column says required / not required;
* a lead-in clause saying what is *not* needed ("Inbound connections are not required") sets
  neither direction nor required-ness;
* a sentence joining two requirements gives each its own ports and direction;
* a tab group's lead-in introduces every panel, and a tab heading ends the list before it.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("sides", request.param)


def the(rules: list[dict], party: str, **facts) -> dict:
    hits = [r for r in rules if party in (r["endpoint"], r["service_tag"]) and all(r[k] == v for k, v in facts.items())]
    assert len(hits) == 1, (party, facts, [(r["endpoint"], r["service_tag"], r["direction"], r["ports"]) for r in rules])
    return hits[0]


def test_remote_ip_column_is_the_party_and_placeholders_are_roles(rules):
    internal = the(rules, "Gizmo subnet", endpoint_kind="role")
    assert (internal["ports"], internal["protocol"], internal["direction"]) == (["7443"], "tcp", "outbound")
    clients = the(rules, "Client networks", endpoint_kind="role")  # an inbound row: the remote side is the source
    assert (clients["ports"], clients["direction"]) == (["20221-20231"], "inbound")
    anywhere = the(rules, "*", direction="outbound", protocol="tcp")  # "* <sup>2</sup>": any address, footnoted
    assert {"80", "443"} <= set(anywhere["ports"])


def test_application_protocols_give_their_transport(rules):
    # SSH; "Gizmo appliance" is the table's hub (the destination of one row, the source of another):
    # the local side, so the row into it is keyed on the operator network and is inbound
    ssh = the(rules, "Operator network", endpoint_kind="role")
    assert (ssh["protocol"], ssh["direction"], ssh["destination"]) == ("tcp", "inbound", "Gizmo appliance")
    assert the(rules, "Directory servers")["direction"] == "outbound"
    assert the(rules, "Directory servers")["ports"] == ["636"] and the(rules, "Directory servers")["protocol"] == "tcp"


def test_host_column_placeholders_requirement_column_and_both_transports(rules):
    ntp = the(rules, "IP of the time server you provide at deployment")
    assert (ntp["endpoint_kind"], ntp["ports"], ntp["protocol"], ntp["required"]) == ("role", ["123"], "udp", True)
    # "TCP & UDP 53": a tcp rule and a udp rule (an NSG's "any" would open ICMP too)
    dns = sorted((r["ports"], r["protocol"]) for r in rules if r["endpoint"] == "IP of the DNS server you provide at deployment")
    assert dns == [(["53"], "tcp"), (["53"], "udp")]
    assert the(rules, "updates.gizmocloud.net")["required"] is False  # "Not required. Use the offline …"


def test_port_table_without_address_column_opens_ports_to_any_address(rules):
    """MQTT/AMQP ports: outbound (the lead-in's direction; its "Inbound … not required" clause says nothing)."""
    anywhere = the(rules, "*", direction="outbound", protocol="tcp")
    assert {"8883", "5671"} <= set(anywhere["ports"])
    assert anywhere["required"] is None
    assert the(rules, "*", direction="outbound", protocol=None)["ports"] == ["443"]  # "MQTT over WebSockets"
    assert not [r for r in rules if r["endpoint"] == "*" and r["direction"] == "inbound"]


def test_a_sentence_joining_two_requirements(rules):
    assert (the(rules, "AzureCloud")["ports"], the(rules, "AzureCloud")["direction"]) == (["443"], "outbound")
    assert (the(rules, "GatewayManager")["ports"], the(rules, "GatewayManager")["direction"]) == (["4443"], "inbound")


def test_tab_group_lead_in_and_tab_boundaries(rules):
    v4 = [r for r in rules if r["tab"] == "IPv4"]
    v6 = [r for r in rules if r["tab"] == "IPv6"]
    assert sorted(r["endpoint"] for r in v4) == ["198.18.10.0/24", "198.18.11.0/24"]
    assert [r["endpoint"] for r in v6] == ["2001:db8:10::/48"]
    assert {r["direction"] for r in v4 + v6} == {"inbound"}


def test_role_pairs_are_separate_rules_with_their_own_protocols(rules):
    """A "Service" column of TCP/UDP/ICMP is the protocol; each pair of roles is its own rule; "Minimum
    of 100 ports above port 5000" is a count and a bound, no port."""
    pairs = {(r["source"], r["destination"], r["protocol"]): r["ports"] for r in rules
             if r["endpoint_kind"] == "role" and r["source"] in ("Console host", "Gizmo nodes")}
    assert pairs == {
        ("Console host", "Gizmo nodes", "tcp"): ["135", "445"],
        ("Gizmo nodes", "Gizmo nodes", "udp"): ["3343"],
        ("Gizmo nodes", "Gizmo nodes", "icmp"): [],
        ("Console host", "Gizmo gateway", "tcp"): ["445"],
    }
