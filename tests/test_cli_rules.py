"""NSG and Azure Firewall rules a page gives only as commands (``docwatch/cli_rules.py``), read
the same from markdown and rendered HTML (``synthetic_shape_commands.md``)."""
from __future__ import annotations

import pytest

from docwatch.cli_rules import cli_rules
from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> dict[str, dict]:
    found = [r for r in shape_rules("commands", request.param) if r["origin"] == "code"]
    by_party = {r["endpoint"] or r["service_tag"]: r for r in found}
    assert len(by_party) == len(found)
    return by_party


def test_az_cli_inbound_rule_gives_its_source(rules):
    probe = rules["AzureLoadBalancer"]
    assert (probe["ports"], probe["protocol"], probe["direction"]) == (["65200-65535"], "tcp", "inbound")


def test_powershell_outbound_rule_gives_its_destination(rules):
    mgmt = rules["AzureMonitor"]
    assert (mgmt["ports"], mgmt["protocol"], mgmt["direction"]) == (["443", "1886"], "tcp", "outbound")
    assert "VirtualNetwork" not in rules  # the local side


def test_firewall_application_rule(rules):
    api = rules["api.widgetcloud.net"]
    assert (api["ports"], api["protocol"]) == (["443"], "tcp")


def test_deny_rules_and_variables_are_no_rules(rules):
    assert "Internet" not in rules
    assert not any(p.startswith("$") for p in rules)
    assert sorted(rules) == ["AzureLoadBalancer", "AzureMonitor", "api.widgetcloud.net"]


@pytest.mark.parametrize("text", ["", "az network nsg rule create", "az network nsg rule create --access",
                                  "New-AzNetworkSecurityRuleConfig -Name 'unterminated", "az network nsg rule create \\"])
def test_odd_commands_never_raise(text):
    assert cli_rules(text) == []
