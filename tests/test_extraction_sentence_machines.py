"""Requirements said about a machine without "allow"/"open" words, read the same from markdown and
rendered HTML (``synthetic_shape_sentence_machines.md``):

* a sentence naming a machine on the other side and its ports is a requirement however it is said
  ("synchronizes its clock with your time servers on UDP 9123", "resolve names through your resolver
  servers", "establishes a session with the provider routers");
* a machine that must accept ports is where they are open, from the Internet when it says so, from
  "your operator jump hosts" (machines, not a list of the page) or "the active unit"; a port given
  "for example" is what you might configure, not a requirement;
* "they must reach it on …" after "… need line of sight to a directory server:" is that server from
  the devices, and "They must also reach …" keeps them as the source; "It also needs the same ports
  to …" takes the ports before; "Neither of these ports is needed" opens none;
* a range the platform "uses internally" (RFC 6598 shared space) is no rule;
* ranges allowed "instead" of a tag take the tag's ports and direction; "Allow those ranges on TCP
  9061" is the ranges the sentence before named; "SIP/TLS" and "UDP/SRTP" cells give the transport;
  "`host` (HTTPS)" is 443; "the egress addresses of each member, for example `x`" shows the reader's
  own addresses; a "for example …" aside in a lead-in does not make its list an example;
* numbered portal steps that fill a rule's form ("For **Destination service tag**, select **X**",
  "Set **Protocol** to **TCP** and **Destination port ranges** to **9443**") are that rule, and
  "Repeat the steps for the **Storage** and **EventHub** tags" gives it for each;
* "to that private endpoint", "to each pipeline pod" name machines; a listen address `0.0.0.0:9514`
  is none; "reach the node addresses on that range" takes the range of the sentence before;
* a lead-in stating two port sets gives a code block the set of the clause pointing at it ("TCP 9443
  to the following names, and TCP 9080 to `crl.…`"), and a host in it like `crl.example.widget-cloud.net`
  is no word calling the block an example.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules, sides_in


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("sentence_machines", request.param)


def test_bullets_that_describe(rules):
    assert sides_in(rules, "Bullets that describe") == {
        ("time servers", None, "time servers", ("9123",), "udp", None),
        ("resolver servers", None, "resolver servers", ("9053",), "tcp", None),
        ("resolver servers", None, "resolver servers", ("9053",), "udp", None),
        ("provider routers", "edge device", "provider routers", ("9179",), "tcp", "outbound")}


def test_machines_that_accept(rules):
    assert sides_in(rules, "Machines that accept") == {
        ("relay gateway server", "Internet", "relay gateway server", ("9443",), "tcp", "inbound"),
        ("relay gateway server", "Internet", "relay gateway server", ("9443",), "udp", "inbound"),
        ("operator jump hosts", "operator jump hosts", "console server", ("9022",), "tcp", "inbound"),
        ("active unit", "active unit", "standby unit", ("9401-9407",), "tcp", "inbound")}


def test_pronouns_and_the_same_ports(rules):
    here = sides_in(rules, "Pronouns and the same ports")
    assert here == {
        ("directory server", "kiosk devices", "directory server", ("9088", "9389"), "tcp", "outbound"),
        ("name server", "kiosk devices", "name server", ("9153",), "udp", "outbound"),
        ("directory servers", "sync agent", "directory servers", ("9636",), "tcp", "outbound"),
        # ("the directory servers of each partner forest": which ones is part of the name)
        ("directory servers of each partner forest", "sync agent", "directory servers of each partner forest", ("9636",),
         "tcp", "outbound")}
    assert not any("9682" in r[3] for r in here)


def test_internal_ranges(rules):
    assert sides_in(rules, "Internal ranges") == set()


def test_ranges_instead_of_a_tag(rules):
    assert sides_in(rules, "Ranges instead of a tag") >= {
        ("20.61.1.0/28", None, None, ("9080", "9443"), "tcp", "inbound"),
        ("20.61.2.0/28", None, None, ("9080", "9443"), "tcp", "inbound")}


def test_those_ranges(rules):
    assert sides_in(rules, "Those ranges") == {
        ("52.160.0.0/15", None, None, ("9061",), "tcp", None), ("52.170.0.0/15", None, None, ("9061",), "tcp", None)}


def test_labelled_transports(rules):
    assert sides_in(rules, "Labelled transports") == {
        ("Signaling proxy", "Border controller", "Signaling proxy", ("9061",), "tcp", None),
        ("Media relay", "Border controller", "Media relay", ("9478",), "udp", None)}


def test_hosts_with_their_protocol(rules):
    assert sides_in(rules, "Hosts with their protocol") == {
        ("img.widget-cloud.net", None, None, ("443",), "tcp", "outbound"),
        ("*.blob.widget-cloud.net", None, None, ("443",), "tcp", "outbound")}


def test_own_addresses_by_example_and_asides(rules):
    assert sides_in(rules, "Own addresses by example") == set()
    assert sides_in(rules, "Asides in a lead-in") == {("relay server", "units", "relay server", ("9080",), "tcp", "outbound")}


def test_portal_steps(rules):
    here = [r for r in rules if r["section"][-1] == "Portal steps"]
    assert sorted((r["service_tag"], r["ports"], r["protocol"], r["direction"]) for r in here) == [
        ("EventHub", ["9443"], "tcp", "outbound"), ("Storage", ["9443"], "tcp", "outbound"),
        ("WidgetBackup", ["9443"], "tcp", "outbound")]


def test_back_references_and_listen_addresses(rules):
    here = sides_in(rules, "Back references and listen addresses")
    assert {r for r in here if r[0] != "*"} == {
        ("private endpoint", "Clients", "private endpoint", ("9306",), "tcp", "outbound"),
        ("pipeline pod", "metrics scraper in the cluster", "pipeline pod", ("9888",), "tcp", "outbound"),
        ("node addresses", "clients", "node addresses", ("9000-9099",), "tcp", "outbound")}


def test_two_port_sets_in_a_lead_in(rules):
    here = sides_in(rules, "Two port sets in a lead-in")
    assert {(r[0], r[3], r[4]) for r in here if r[0] != "*"} == {
        ("*.updates.widget-cloud.net", ("9443",), "tcp"), ("agent.widget-cloud.net", ("9443",), "tcp"),
        ("crl.example.widget-cloud.net", ("9080",), "tcp")}
