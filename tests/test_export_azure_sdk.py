"""The Azure Firewall and NSG exports read back through the Azure SDK's own models
(azure-mgmt-network): every property name is one the REST API knows, discriminators pick the
right rule types and enum values parse. (The models do not validate on their own: this checks
names and types; test_export_formats checks the API's value rules.)"""
from __future__ import annotations

import json

import pytest
from azure.mgmt.network import models

from export_helpers import SYNTH, Dw


def _rest_names(obj) -> set[str]:
    return {f._rest_name for f in type(obj)._attr_to_rest_field.values()}


def _unknown(obj, raw: dict, where: str) -> list[str]:
    """Keys of ``raw`` the SDK model ``obj`` does not know, recursively through sub-models."""
    known = _rest_names(obj)
    bad = [f"{where}.{k}" for k in raw if k not in known]
    for attr, field in type(obj)._attr_to_rest_field.items():
        value, sub = getattr(obj, attr, None), raw.get(field._rest_name)
        if isinstance(sub, dict) and hasattr(value, "_attr_to_rest_field"):
            bad += _unknown(value, sub, f"{where}.{field._rest_name}")
        elif isinstance(sub, list) and isinstance(value, list):
            for i, (v, s) in enumerate(zip(value, sub)):
                if isinstance(s, dict) and hasattr(v, "_attr_to_rest_field"):
                    bad += _unknown(v, s, f"{where}.{field._rest_name}[{i}]")
    return bad


@pytest.fixture(scope="module")
def dw(tmp_path_factory):
    d = Dw(tmp_path_factory.mktemp("sdk"))
    d.ingest(SYNTH, "widget", "2025-04-01")
    return d


def test_rule_collection_group_reads_back_through_the_sdk(dw):
    res = json.loads(dw.export("azure-firewall", "--region", "eastus"))["resources"][0]
    raw = {"name": "docwatch", "properties": res["properties"]}
    group = models.FirewallPolicyRuleCollectionGroup(raw)
    assert _unknown(group, raw, "group") == []
    kinds = set()
    for rc in group.properties.rule_collections:
        assert isinstance(rc, models.FirewallPolicyFilterRuleCollection)
        assert rc.action.type == models.FirewallPolicyFilterRuleCollectionActionType.ALLOW
        for rule in rc.rules:
            kinds.add(type(rule).__name__)
            if isinstance(rule, models.ApplicationRule):
                assert {p.protocol_type for p in rule.protocols} <= set(models.FirewallPolicyRuleApplicationProtocolType)
            else:
                assert isinstance(rule, models.NetworkRule)
                assert set(rule.ip_protocols) <= set(models.FirewallPolicyRuleNetworkProtocol)
    assert kinds == {"ApplicationRule", "NetworkRule"}


def test_nsg_reads_back_through_the_sdk(dw):
    res = json.loads(dw.export("nsg", "--region", "eastus"))["resources"][0]
    raw = {"name": "nsg", "location": "eastus", "properties": res["properties"]}
    nsg = models.NetworkSecurityGroup(raw)
    assert _unknown(nsg, raw, "nsg") == []
    rules = nsg.properties.security_rules
    assert rules and all(isinstance(r, models.SecurityRule) for r in rules)
    for r in rules:
        p = r.properties
        assert p.protocol in set(models.SecurityRuleProtocol) and p.access in set(models.SecurityRuleAccess)
        assert p.direction in set(models.SecurityRuleDirection) and 100 <= p.priority <= 4096
