"""Sentences that name their party by reference, read the same from markdown and rendered HTML
(``synthetic_shape_refs.md``):

* "… needs outbound TCP ports 9350 to 9354 to the hub" gives those ports to the page's one
  ``<hub>`` host; with two ``<workspace>`` hosts, "to the workspace" names neither, speaks for
  its own section only, and stays an any-address rule;
* a dotted code namespace (``Widget.HubClient``) is no host;
* "use destination port 3389 instead of 22 in that rule" gives the section's port-22 rule 3389 too,
  and is no rule of its own;
* "If X isn't wanted, outbound traffic to A ports 53/udp and 53/tcp can be blocked": ports A uses
  unless you opt out, read despite the negated condition;
* a proxy-bypass entry that is the suffix of the page's wildcard host (``agent.widgetcloud.net``
  beside ``*.agent.widgetcloud.net``) is set aside; other public hosts in it stay rules;
* a footnote's text ("¹Open port 8883 for MQTT …") speaks of the marked row: no any-address rule;
* "Client | Server" columns are a flow's source and destination; "TCP-TLS 10140-10155" is tcp;
* a heading naming its port ("Port 5986 - remote management") is the port of its bare addresses;
* a fictitious company's host in prose is an example even without "for example", and the port
  given for it is no any-address rule.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("refs", request.param)


def _ports(rules: list[dict], party: str) -> list[str]:
    return sorted({p for r in rules if party in (r["endpoint"], r["service_tag"]) for p in r["ports"]})


def test_ports_sent_to_the_placeholder_host(rules):
    assert _ports(rules, "<hub>.hubs.widgetcloud.net") == ["443", "5671", "9350-9354"]
    assert not any(r["endpoint"] == "*" and "9350-9354" in r["ports"] for r in rules)


def test_an_ambiguous_reference_names_no_host(rules):
    """Two ``<workspace>`` hosts: "to the workspace" names neither alone; the port, about its own
    section's thing, reaches no later section's hosts (the bypass list's) and stays an any-address rule."""
    assert _ports(rules, "<workspace>.dev.widgetcloud.net") == [] == _ports(rules, "<workspace>.sql.widgetcloud.net")
    assert any(r["endpoint"] == "*" and r["ports"] == ["1433"] for r in rules)
    assert _ports(rules, "portal.widgetcloud.net") == []


def test_a_code_namespace_is_no_host(rules):
    assert not any(r["endpoint"] == "Widget.HubClient" or r["service_tag"] == "Widget.HubClient" for r in rules)


def test_port_instead_of_another(rules):
    admin = [r for r in rules if r["endpoint"] == "Your admin workstations" or r["source"] == "Your admin workstations"]
    assert [(r["ports"], r["protocol"]) for r in admin] == [(["22", "3389"], "tcp")]
    assert not any("3389" in r["ports"] for r in rules if r["endpoint"] == "*")


def test_ports_that_can_be_blocked_are_the_partys(rules):
    got = sorted((r["protocol"], tuple(r["ports"]), r["direction"]) for r in rules if r["endpoint"] == "198.51.100.53")
    assert got == [("tcp", ("53",), "outbound"), ("udp", ("53",), "outbound")]


def test_bypass_entry_that_is_a_wildcard_suffix_is_no_rule(rules):
    parties = {r["endpoint"] for r in rules}
    assert "agent.widgetcloud.net" not in parties and "*.agent.widgetcloud.net" in parties
    assert {"login.widgetcloud.net", "portal.widgetcloud.net"} <= parties


def test_footnote_text_gives_no_any_address_rule(rules):
    assert _ports(rules, "*.devices.widgetcloud.net") == ["443", "5671", "8883"]
    assert not any(r["endpoint"] == "*" and r["section"][-1] == "Device endpoints" for r in rules)


def test_a_short_code_span_inside_a_longer_one_cuts_nothing():
    """"replace `.net` with `.us`: `*.blob.core.usgovcloudapi.net`": the host is read whole, never
    as ``*.blob.core`` (the short spans cut out of it first)."""
    from docwatch.textrules import text_parties

    text = "For Azure Government, replace .net with .us: *.blob.core.usgovcloudapi.net."
    assert text_parties(text, [".net", ".us", "*.blob.core.usgovcloudapi.net"]) == [("wildcard", "*.blob.core.usgovcloudapi.net")]


def test_client_and_server_columns(rules):
    flow = [r for r in rules if r["source"] == "Connection point"]
    assert [(r["destination"], r["ports"], r["protocol"]) for r in flow] == [("Widget service", ["10140-10155"], "tcp")]


def test_heading_port(rules):
    for ip in ("198.51.100.20", "198.51.100.21"):
        assert [(r["ports"], r["direction"]) for r in rules if r["endpoint"] == ip] == [(["5986"], "inbound")]


def test_example_company_host_in_prose(rules):
    assert not any("contoso" in (r["endpoint"] or "") for r in rules)
    assert not any(r["endpoint"] == "*" and r["section"][-1] == "Sensor endpoint" for r in rules)
