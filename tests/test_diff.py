"""diff_rules / assess on hand-made rules: field-level events, severities, the guard."""
from __future__ import annotations

from docwatch.diff import GuardSettings, assess, commit_url, diff_rules
from docwatch.model import Rule
from parsers.model import Document, Table


def tag(name, ports, **kw):
    kw.setdefault("direction", "outbound")
    kw.setdefault("protocol", "tcp")
    return Rule(service_tag=name, ports=list(ports), **kw)


def test_identical_and_cosmetic_sets_give_no_events():
    old = [tag("AzureMonitor", ["443", "1886"], purpose="Logs  and metrics", section=["A"], row=1)]
    new = [tag("AzureMonitor", ["1886", "443", "443"], purpose="Logs and metrics", section=["B"], row=7)]
    assert diff_rules(old, new, source="apim") == []


def test_port_added_and_removed_are_separate_high_events_with_summary():
    old = [tag("AzureMonitor", ["443", "1886"], tab="stv2", cloud="public")]
    new = [tag("AzureMonitor", ["443", "12000"], tab="stv2", cloud="public")]
    ev = diff_rules(old, new, source="API Management")
    assert [(e.kind, e.field, e.impact, e.severity) for e in ev] == [
        ("modified", "ports", "ports-added", "high"), ("modified", "ports", "ports-removed", "high")]
    assert ev[0].summary == "port 12000 added for AzureMonitor outbound TCP (API Management, stv2, public cloud)"
    assert ev[1].summary.startswith("port 1886 removed for AzureMonitor")
    assert ev[0].old == ["443", "1886"] and ev[0].new == ["443", "12000"]
    assert ev[0].party == "AzureMonitor" and ev[0].tab == "stv2" and ev[0].cloud == "public"


def test_added_removed_and_field_severities():
    old = [tag("Sql", ["1433"]), Rule(endpoint="a.example.com", endpoint_kind="fqdn", ports=["443"], required=True,
                                      purpose="x", direction="outbound", protocol="tcp")]
    new = [tag("AzureKeyVault", ["443"]), Rule(endpoint="a.example.com", endpoint_kind="fqdn", ports=["443"],
                                               required=False, purpose="y", direction="outbound", protocol="tcp")]
    ev = {(e.kind, e.field): e for e in diff_rules(old, new, source="s")}
    assert ev[("removed", None)].severity == "high" and ev[("removed", None)].impact == "tag-removed"
    assert ev[("added", None)].severity == "medium" and ev[("added", None)].party == "AzureKeyVault"
    assert ev[("modified", "required")].severity == "medium"
    assert ev[("modified", "required")].old is True and ev[("modified", "required")].new is False
    assert ev[("modified", "purpose")].severity == "low"
    assert len(ev) == 4


def test_protocol_change_is_one_modified_event_not_remove_plus_add():
    old = [tag("AzureMachineLearning", ["5831"], protocol="tcp")]
    new = [tag("AzureMachineLearning", ["5831"], protocol="udp")]
    ev = diff_rules(old, new, source="aml")
    assert [(e.kind, e.field, e.old, e.new, e.severity) for e in ev] == [("modified", "protocol", "tcp", "udp", "high")]


def test_guard_thresholds():
    doc = Document(format="markdown", tables=[Table(), Table()])
    rules = [tag(f"T{i}", ["443"]) for i in range(10)]
    assert assess(10, 2, doc, rules) is None
    assert "no tables" in assess(10, 2, Document(format="text"), [])
    assert "disappeared" in assess(30, 2, doc, rules)  # 20 of 30 gone
    assert assess(30, 2, doc, rules, GuardSettings(max_removed_ratio=0.7)) is None
    assert assess(4, 2, doc, rules[:1]) is None  # below min_rules: small pages may shrink
    assert "tables" in assess(10, 8, doc, rules)
    assert assess(30, 8, Document(format="text"), [], GuardSettings(enabled=False)) is None


def test_commit_url_from_source_url():
    url = "https://github.com/MicrosoftDocs/azure-docs/blob/live/articles/x.md"
    assert commit_url(url, "abc123") == "https://github.com/MicrosoftDocs/azure-docs/commit/abc123"
    assert commit_url(None, "abc") is None
