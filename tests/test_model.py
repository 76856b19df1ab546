"""The rule identity must survive cosmetic edits and change with real ones."""
from docwatch.model import Rule


def test_rule_key_ignores_provenance_and_wording():
    a = Rule(service_tag="AzureMonitor", ports=["443"], protocol="tcp", direction="outbound",
             cloud="public", tab="stv2", purpose="Publish logs", section=["Required ports"], table=0, row=3)
    b = Rule(service_tag="azuremonitor", ports=["443", "1886"], protocol="tcp", direction="outbound",
             cloud="public", tab="stv2", purpose="Publish diagnostics", section=["Ports"], table=2, row=9)
    assert a.key == b.key == "public|stv2|outbound|tcp|azuremonitor"
    assert a.facts() != b.facts()


def test_rule_key_changes_with_protocol_direction_cloud():
    base = dict(endpoint="login.microsoftonline.us", protocol="tcp", direction="outbound", cloud="usgov")
    keys = {Rule(**base).key,
            Rule(**{**base, "protocol": "udp"}).key,
            Rule(**{**base, "direction": "inbound"}).key,
            Rule(**{**base, "cloud": "public"}).key}
    assert len(keys) == 4


def test_rule_roundtrip():
    r = Rule(endpoint="*.his.arc.azure.cn", endpoint_kind="wildcard", ports=["443"], cloud="china")
    assert Rule.from_dict(r.to_dict()) == r
