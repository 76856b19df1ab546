"""NSG requirements written the way gateway pages write them, the same from markdown and HTML
(``synthetic_shape_nsg.md``/``.html``):

* a list item stating only ports ("**V2 gateway**: Ports 61200-61535") belongs to its parent's
  party and direction ("Allow incoming requests from … the **GatewayManager** service tag");
* a known tag set in bold in a sentence is that tag ("outbound to the **Internet.**");
* a clause after ";" ("add it before any deny rule") does not negate the requirement before it;
* a Remote IP cell listing "(Virtual Network), (Azure Load Balancer) <sup>1</sup>" names tags;
* "Avoid using the IP address … `10.20.2.84`" and an "Address type | Example" table are no rules.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> dict[str, dict]:
    found = shape_rules("nsg", request.param)
    by_party = {r["endpoint"] or r["service_tag"]: r for r in found}
    assert len(by_party) == len(found)
    return by_party


def test_port_only_sub_items_take_the_parent_party(rules):
    gm = rules["GatewayManager"]
    assert (gm["ports"], gm["direction"]) == (["61200-61535", "61503-61534"], "inbound")


def test_bold_tag_and_semicolon_clause(rules):
    assert (rules["Internet"]["ports"], rules["Internet"]["direction"]) == (["80"], "outbound")
    assert rules["AppServiceManagement"]["ports"] == ["454-455"]


def test_remote_cell_listing_tags(rules):
    for tag in ("VirtualNetwork", "AzureLoadBalancer"):
        assert (rules[tag]["ports"], rules[tag]["direction"], rules[tag]["protocol"]) == (["7379", "7380"], "inbound", "tcp")


def test_what_is_not_a_rule(rules):
    assert set(rules) == {"GatewayManager", "Internet", "AppServiceManagement", "VirtualNetwork", "AzureLoadBalancer"}


@pytest.fixture(scope="module", params=["md", "html"])
def internet(request) -> list[dict]:
    return shape_rules("internet", request.param)


def test_internet_as_a_plain_word_in_nsg_rules(internet):
    """"to the internet" in an NSG section is the Internet tag; the sentence after a port ("The source
    can be the internet …") names the party of that port, which is no any-address rule then."""
    got = sorted((r["direction"], r["ports"]) for r in internet if r["service_tag"] == "Internet")
    assert got == [("inbound", ["8443"]), ("outbound", [])]
    assert not any(r["endpoint"] == "*" for r in internet)


def test_tags_named_in_parentheses_after_a_service(internet):
    """"NSG rules for the identity service (*AzureActiveDirectory*) and for storage (*Storage*)": a
    one-word known tag alone in parentheses in an NSG sentence is that tag; the plain word
    "Storage" in a sentence without NSG words is not."""
    tags = [r["service_tag"] for r in internet if r["service_tag"]]
    assert tags.count("Storage") == 1 and "AzureActiveDirectory" in tags
    assert all(r["section"][-1] != "Connectivity" for r in internet)
