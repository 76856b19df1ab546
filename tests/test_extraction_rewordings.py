"""This round's shapes worded differently from their own fixtures, read the same from markdown and
rendered HTML (``synthetic_shape_rewordings.md``): a shape that only works in the words it was
built on would fail here.

* "Port 443 must be allowed outbound on your firewall." is a page-wide port ("on your firewall" is
  where it is opened, not what it reaches);
* "… also connect on ports 5671 and 5672 to the relay" finds the ``<relay>`` host the prose writes
  as code, not only a table's;
* "open port 3389 rather than 22 for that rule" is a port swap, and a role whose words appear in
  its heading ("Admin jump hosts" under "Admin access") is still the row's party;
* "… ports 53/udp and 53/tcp may be blocked if you run your own resolver" states the address's ports;
* "Incoming | Outgoing" columns with "✔️" or "Required" marks give the direction;
* a heading "TCP port 8883 (MQTT)" gives its bare host the port and transport.
"""
from __future__ import annotations

import pytest

from rules_support import port_facts as _facts, shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("rewordings", request.param)


def test_page_port_opened_on_your_firewall(rules):
    assert _facts(rules, "ingest.gizmocloud.net") == [(("443",), None, "outbound")]
    assert not any(r["endpoint"] == "*" for r in rules)


def test_ports_to_a_placeholder_host_written_in_prose(rules):
    assert _facts(rules, "<relay>.relay.gizmocloud.net") == [(("5671", "5672"), None, "outbound"),
                                                              (("9350-9354",), "tcp", "outbound")]


def test_rather_than_swap_and_heading_named_role(rules):
    assert _facts(rules, "Admin jump hosts") == [(("22", "3389"), "tcp", "inbound")]


def test_may_be_blocked(rules):
    assert _facts(rules, "198.51.100.53") == [(("53",), "tcp", "outbound"), (("53",), "udp", "outbound")]


def test_incoming_outgoing_marks_and_heading_port(rules):
    assert _facts(rules, "push.gizmocloud.net") == [(("443",), None, "outbound")]
    assert _facts(rules, "pull.gizmocloud.net") == [(("8443",), None, "inbound")]
    assert _facts(rules, "mqtt.gizmocloud.net") == [(("8883",), "tcp", "outbound")]
