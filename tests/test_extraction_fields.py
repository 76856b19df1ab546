"""Rules written field by field, direction marks and deny rows, read the same from markdown and
rendered HTML (``synthetic_shape_fields.md``):

* "Inbound | Outbound" columns of marks (✓, ✔, Yes): the row's direction is the marked one, both
  when both are marked;
* a list item of bold labelled fields ("**Destination**: … **Port**: … **Protocol**: …") and a
  "Setting | Value" table naming a rule's fields are each one rule; settings naming no party are none;
* a row whose Action is Deny is what the page blocks, never a rule;
* consecutive list items each giving one field (a portal form: "**Source service tag**: X",
  "**Destination port ranges**: …") are one rule, inbound from the named source to Any.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> dict[str, dict]:
    found = shape_rules("fields", request.param)
    by_party = {r["endpoint"] or r["service_tag"]: r for r in found}
    assert len(by_party) == len(found), [r["endpoint"] or r["service_tag"] for r in found]
    return by_party


def _facts(r: dict) -> tuple:
    return r["ports"], r["protocol"], r["direction"]


def test_direction_marks(rules):
    assert rules["push.widgetcloud.net"]["direction"] == "outbound"
    assert rules["relay.widgetcloud.net"]["direction"] == "inbound"
    assert rules["mesh.widgetcloud.net"]["direction"] == "both"


def test_labelled_fields_and_settings_tables(rules):
    assert _facts(rules["telemetry.widgetcloud.net"]) == (["5671"], "tcp", "outbound")
    assert _facts(rules["sql.widgetcloud.net"]) == (["1433"], "tcp", "outbound")


def test_deny_rows_are_no_rules(rules):
    assert "Internet" not in rules and "*" not in rules
    assert _facts(rules["GatewayManager"])[:2] == (["443"], "tcp")
    assert sorted(rules) == ["AzureCloud", "GatewayManager", "mesh.widgetcloud.net", "push.widgetcloud.net", "relay.widgetcloud.net",
                             "sql.widgetcloud.net", "telemetry.widgetcloud.net"]


def test_portal_form_fields(rules):
    assert _facts(rules["AzureCloud"]) == (["29876-29877"], "tcp", "inbound")
