"""The round-3 shapes in other words than their own fixtures use (``synthetic_shape_variants.md``,
markdown and rendered HTML): "Local address | Remote address", a placeholder role on an inbound
row, "Unless noted otherwise, every endpoint below uses TCP port 443", a "(TCP 8883 outbound)"
note, "Outbound UDP ports" and "Requirement level" columns, "Permit inbound requests from the
**X** service tag" with a ports-only sub-item, and "Azure China: host" labels in a cell."""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> dict[str, dict]:
    found = shape_rules("variants", request.param)
    return {r["endpoint"] or r["service_tag"]: r for r in found}


def facts(r: dict) -> tuple:
    return r["direction"], r["protocol"], r["ports"], r["cloud"], r["required"]


def test_local_and_remote_address_columns(rules):
    assert rules["Operator subnet"]["endpoint_kind"] == "role"
    assert facts(rules["Operator subnet"]) == ("inbound", "tcp", ["9100-9110"], None, None)
    assert facts(rules["StatsD relay"]) == ("outbound", "udp", ["8125"], None, None)


def test_default_port_and_a_note_that_overrides_it(rules):
    assert facts(rules["agent.sprocketcloud.net"]) == ("outbound", "tcp", ["443"], None, None)
    assert facts(rules["feeds.sprocketcloud.net"]) == ("outbound", "tcp", ["8883"], None, None)


def test_transport_in_the_port_header_and_requirement_level(rules):
    assert facts(rules["time.sprocketcloud.net"]) == ("outbound", "udp", ["123"], None, True)
    assert facts(rules["trace.sprocketcloud.net"]) == ("outbound", "udp", ["6831"], None, False)


def test_ports_only_sub_item_and_cloud_labels(rules):
    assert facts(rules["AzureLoadBalancer"]) == ("inbound", None, ["7000-7010"], None, None)
    assert rules["relay.sprocketcloud.cn"]["cloud"] == "china"
    assert rules["relay.sprocketcloud.us"]["cloud"] == "usgov"
