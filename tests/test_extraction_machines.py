"""Machines, hubs and registries (``synthetic_shape_machines.md``/``.html``), the same from both forms:

* a "Device | Connection" table: the device is a role, each sentence of its description gives
  its own ports, transport and direction;
* a port-only table whose lead-in names one host: that host's ports (not the any-address);
* "Outbound TCP Ports": the header's transport; a sovereign cloud's domain gives its cloud;
* a host column saying "Various domains" with no port is no rule;
* an example's URL on an IP address is no rule; a heading "Terminal output - Error …" is no
  example context; "use service tag AzureCloud or Internet" names both tags.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("machines", request.param)


def facts(rules: list[dict], party: str) -> set[tuple]:
    return {(r["direction"], r["protocol"], tuple(r["ports"]), r["cloud"]) for r in rules
            if party in (r["endpoint"], r["service_tag"])}


def test_device_table_sentences(rules):
    assert facts(rules, "Gadget appliance") == {
        ("inbound", "tcp", ("3389",), None), ("inbound", None, ("44300",), None), ("outbound", "tcp", ("443",), None)}
    assert facts(rules, "Linux servers") == {(None, "tcp", ("22",), None)}


def test_port_table_of_the_lead_in_host(rules):
    assert facts(rules, "<hub-name>.gadgethub.net") == {("outbound", "tcp", ("5671", "8883"), None)}
    assert not facts(rules, "*")


def test_header_transport_and_sovereign_domains(rules):
    assert facts(rules, "registry.gadgetcloud.net") == {("outbound", "tcp", ("443",), None)}
    assert facts(rules, "registry.gadgetcloud.cn") == {("outbound", "tcp", ("443",), "china")}


def test_what_is_and_is_not_a_rule(rules):
    parties = {r["endpoint"] or r["service_tag"] for r in rules}
    assert {"console.gadgetcloud.net", "AzureCloud", "Internet"} <= parties
    assert not parties & {"Various domains", "https://192.168.10.20:44300", "192.168.10.20"}


def test_default_with_an_exception_and_real_ranges_after_for_example(rules):
    """"All traffic … TCP port 443, except the revocation list URLs, which use … 80": 443 is the
    default; a public range after "for example" in a sentence with a negated clause is a rule."""
    assert facts(rules, "events.gadgetcloud.net") == {("outbound", "tcp", ("443",), "public")}  # "Global" row
    assert facts(rules, "4.208.13.0/24") == {(None, "tcp", ("443",), None)}


def test_labelled_address_lines_under_cloud_comments(rules):
    assert facts(rules, "52.136.197.160") == {("outbound", "tcp", ("443",), "public")}
    assert facts(rules, "13.72.14.150") == {("outbound", "tcp", ("443",), "usgov")}


def test_examples_resource_types_and_zone_names_are_not_rules(rules):
    parties = {r["endpoint"] or r["service_tag"] for r in rules}
    assert not parties & {"https://westus01.hub.gadgetcloud.net", "Microsoft.Gadget/hubs", "hub.gadgetcloud.net"}
