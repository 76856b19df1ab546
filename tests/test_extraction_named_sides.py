"""Machines and addresses named only in sentences and row descriptions, read the same from
markdown and rendered HTML (``synthetic_shape_named_sides.md``):

* a side whose head noun is an address word ("to the bridge VM IP and to the control plane IP",
  "the hub pool's public VIP") is a role, and every "and to the …" is one more destination;
* a list noun qualified by what it addresses ("the MSEE addresses", "the sending endpoints", "the
  hub gateway public IP addresses") names machines, where "the endpoints below" points at a list;
  a plural acronym ("the MSEEs") is a machine too;
* "toward the …", "query the …" open a connection to that side; "… to X from Y" is from Y;
  "Workstations need UDP and TCP 53 to your resolver servers" is outbound from the subject;
* a role's own words say no direction ("the inbound endpoint" is queried outbound);
* list items naming where ports come from ("UDP port 9510 from the branch appliances' public IP
  addresses") under a lead-in asking for them "toward" a place are inbound to that place, and "Also
  permit TCP 9512 from the monitoring collectors" is inbound from them;
* "… from the same controllers too" gives its ports to the rule of the sentence before;
* a "Toward" column is the destination; a port table row whose description names its sides
  ("Lookups from the sync appliance to the domain controllers.") is a rule between them;
* a private address in a sentence ("between the server VLAN `10.20.30.0/24` and …") is the
  reader's own network, a DNS zone "like `x`" is no destination, and a host after "for example"
  in a sentence about a `<placeholder>` fills the placeholder in: none is a rule.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules, sides_in


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("named_sides", request.param)


def test_address_words_and_each_destination(rules):
    assert sides_in(rules, "Appliance addresses", roles=True) == {
        ("bridge VM IP", "cluster nodes", "bridge VM IP", ("8643",), "tcp", None),
        ("control plane IP", "cluster nodes", "control plane IP", ("8643",), "tcp", None),
    }


def test_list_nouns_that_name_machines(rules):
    assert sides_in(rules, "Collector intake", roles=True) == {
        ("sending endpoints", "sending endpoints", "intake collectors", ("9084",), "tcp", "inbound")}
    edge = sides_in(rules, "Customer edge", roles=True)
    assert ("MSEE addresses", "MSEE addresses", "edge routers", ("9179",), "tcp", "inbound") in edge
    assert ("MSEEs", "edge routers", "MSEEs", ("9784",), "udp", None) in edge
    assert ("hub gateway public IP addresses", "branch VPN device", "hub gateway public IP addresses", ("9443",), "tcp",
            "outbound") in edge


def test_toward_possessives_and_query(rules):
    edge = sides_in(rules, "Customer edge", roles=True)
    assert ("hub gateway endpoint", None, "hub gateway endpoint", ("9500",), "udp", "outbound") in edge
    assert ("hub pool's public VIP", "tenants' branch routers", "hub pool's public VIP", ("9501",), "udp", None) in edge
    assert len(edge) == 5  # (and nothing for the any-address)
    dns = sides_in(rules, "Name resolution", roles=True)
    for proto in ("tcp", "udp"):
        assert ("resolver servers", "Workstations", "resolver servers", ("53",), proto, "outbound") in dns
        assert ("inbound endpoint", "Branch clients", "inbound endpoint", ("53",), proto, "outbound") in dns
        assert ("target DNS servers", "outbound resolver", "target DNS servers", ("53",), proto, "outbound") in dns


def test_the_same_machines_in_the_next_sentence(rules):
    assert sides_in(rules, "File services", roles=True) == {
        ("domain controllers", "domain controllers", "file servers", ("135", "49152-65535"), "tcp", "inbound")}


def test_toward_column_and_row_descriptions(rules):
    assert sides_in(rules, "Session table", roles=True) == {
        ("Hub route reflector", "Edge router", "Hub route reflector", ("9179",), "tcp", None),
        ("Hub route reflector", "Edge router", "Hub route reflector", ("9784",), "udp", None),
        ("Hub gateway VIP", "Branch VPN device", "Hub gateway VIP", ("9500", "9501"), "udp", None),
    }
    assert sides_in(rules, "Port table with details", roles=True) == {
        ("domain controllers", "sync appliance", "domain controllers", ("9636",), "tcp", None),
        ("hub time servers", "sync appliance", "hub time servers", ("9123",), "udp", None),
    }
    assert not [r for r in rules if r["endpoint"] == "*"]


def test_addresses_in_passing_are_no_rules(rules):
    parties = {r["endpoint"] for r in rules}
    assert {"168.63.129.16", "20.38.96.0/19", "52.239.128.0/17"} <= parties
    assert not {"10.20.30.0/24", "privatelink.widgetcloud.net", "westus2.hub.widgetcloud.net",
                "169.254.0.0/16", "224.0.0.0/4"} & parties
    platform = [r for r in rules if r["endpoint"] == "168.63.129.16"]
    assert [r["ports"] for r in platform] == [["443"]]


def test_items_from_a_side_toward_the_lead_ins(rules):
    assert sides_in(rules, "Branch tunnels", roles=True) == {
        ("branch appliances' public IP addresses", "branch appliances' public IP addresses", "hub edge IPs",
         ("9510", "9511"), "udp", "inbound"),
        ("monitoring collectors", "monitoring collectors", None, ("9512",), "tcp", "inbound"),
    }
