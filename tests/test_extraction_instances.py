"""Microsoft 365-style pages, read the same from markdown and rendered HTML
(``synthetic_shape_instances.md``):

* a "Worldwide" tab is the public cloud and "GCC High" US Government;
* "… needs outbound connections … to the endpoints below." is the direction of the rules after
  it that state none (address-only rows too);
* a private DNS zone named in a sentence is no destination.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> dict[str, dict]:
    return {r["endpoint"] or r["service_tag"]: r for r in shape_rules("instances", request.param)}


def test_instance_tabs_and_page_direction(rules):
    facts = {p: (r["cloud"], r["direction"], r["protocol"], r["ports"]) for p, r in rules.items()}
    assert facts["198.51.100.0/24"] == ("public", "outbound", "udp", ["3478", "3479"])
    assert facts["203.0.113.0/24"] == ("usgov", "outbound", "udp", ["3478", "3479"])


def test_dns_zone_is_no_rule(rules):
    assert sorted(rules) == ["198.51.100.0/24", "203.0.113.0/24"]
