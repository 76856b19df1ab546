"""compute_delta / decide on hand-made rules: identity pairing, silent refinements, firewall-risk
severities and the pure guard."""
from __future__ import annotations

from docwatch.diff import commit_url, compute_delta, diff_rules
from docwatch.guard import Baseline, GuardSettings, decide
from docwatch.model import Rule
from parsers.model import Diagnostic, Document, Table


def tag(name, ports, **kw):
    kw.setdefault("direction", "outbound")
    kw.setdefault("protocol", "tcp")
    return Rule(service_tag=name, ports=list(ports), **kw)


def host(name, ports=("443",), **kw):
    kw.setdefault("direction", "outbound")
    return Rule(endpoint=name, endpoint_kind="fqdn", ports=list(ports), **kw)


def test_identical_and_cosmetic_sets_give_no_events():
    old = [tag("AzureMonitor", ["443", "1886"], purpose="Logs  and metrics", section=["A"], row=1)]
    new = [tag("AzureMonitor", ["1886", "443", "443"], purpose="Logs and metrics", section=["B"], row=7)]
    assert diff_rules(old, new, source="apim") == []


def test_port_added_is_high_and_port_removed_is_medium():
    old = [tag("AzureMonitor", ["443", "1886"], tab="stv2", cloud="public")]
    new = [tag("AzureMonitor", ["443", "12000"], tab="stv2", cloud="public")]
    ev = diff_rules(old, new, source="API Management")
    assert [(e.kind, e.field, e.impact, e.severity) for e in ev] == [
        ("modified", "ports", "ports-added", "high"), ("modified", "ports", "ports-removed", "medium")]
    assert ev[0].summary == "port 12000 added for AzureMonitor outbound TCP (API Management, stv2, public cloud)"
    assert ev[1].summary.startswith("port 1886 removed for AzureMonitor")
    assert ev[0].old == ["443", "1886"] and ev[0].new == ["443", "12000"]


def test_added_is_high_unless_optional_removed_is_medium_wording_is_silent():
    old = [tag("Sql", ["1433"]), host("a.example.com", required=True, purpose="x", protocol="tcp")]
    new = [tag("AzureKeyVault", ["443"]), tag("AzureBackup", ["443"], required=False),
           host("a.example.com", required=False, purpose="y", protocol="tcp")]
    ev = {(e.kind, e.party, e.field): e for e in diff_rules(old, new, source="s")}
    assert ev[("removed", "Sql", None)].severity == "medium" and ev[("removed", "Sql", None)].impact == "tag-removed"
    assert ev[("added", "AzureKeyVault", None)].severity == "high"
    assert ev[("added", "AzureBackup", None)].severity == "medium"  # optional: you may open it
    flip = ev[("modified", "a.example.com", "required")]
    assert flip.severity == "low" and flip.old is True and flip.new is False
    assert "True" not in flip.summary and "now optional (was required)" in flip.summary
    assert len(ev) == 4  # the purpose rewording is kept in the rule version, not an event


def test_protocol_change_is_one_high_event_not_remove_plus_add():
    ev = diff_rules([tag("AzureMachineLearning", ["5831"], protocol="tcp")],
                    [tag("AzureMachineLearning", ["5831"], protocol="udp")], source="aml")
    assert [(e.kind, e.field, e.old, e.new, e.severity) for e in ev] == [("modified", "protocol", "tcp", "udp", "high")]
    assert "from TCP to UDP" in ev[0].summary


def test_https_notation_and_tcp_are_the_same_fact():
    # `https:443` read as tcp, `443` with no protocol, `443/TCP`: one requirement, no event either way
    for a, b in ((host("x.example.net", protocol="tcp"), host("x.example.net")),
                 (host("x.example.net"), host("x.example.net", protocol="tcp"))):
        d = compute_delta([a], [b], source="s")
        assert d.events == [] and [p.fields for p in d.pairs] == [["protocol"]]  # a new version, silently


def test_protocol_stated_on_a_non_web_port_is_low():
    ev = diff_rules([host("x.example.net", ["5671"])], [host("x.example.net", ["5671"], protocol="tcp")], source="s")
    assert [(e.field, e.severity) for e in ev] == [("protocol", "low")]


def test_cloud_made_explicit_is_silent_but_a_move_is_high():
    old = [host(f"h{i}.example.net", protocol="tcp") for i in range(3)]
    named = [host(f"h{i}.example.net", protocol="tcp", cloud="public") for i in range(3)]
    d = compute_delta(old, named, source="s")
    assert d.events == [] and len(d.pairs) == 3 and d.rekeys  # same rules, re-keyed, new versions
    moved = diff_rules([host("h.example.net", cloud="public")], [host("h.example.net", cloud="usgov")], source="s")
    assert [(e.field, e.severity) for e in moved] == [("cloud", "high")]
    assert "now applies to US Government cloud (was public cloud)" in moved[0].summary


def test_rule_listed_per_cloud_where_it_applied_to_every_cloud_is_silent():
    old = [tag("AzureMonitor", ["443"])]
    new = [tag("AzureMonitor", ["443"], cloud="public"), tag("AzureMonitor", ["443"], cloud="usgov")]
    assert diff_rules(old, new, source="s") == []
    # ... but a port only the usgov copy states is a change
    new[1].ports = ["443", "1886"]
    ev = diff_rules(old, new, source="s")
    assert [(e.impact, e.severity, e.cloud) for e in ev] == [("ports-added", "high", "usgov")]


def test_a_rule_gone_from_one_of_two_clouds_is_a_removal():
    old = [host("h.example.net", cloud="public"), host("h.example.net", cloud="usgov")]
    ev = diff_rules(old, [host("h.example.net", cloud="usgov")], source="s")
    assert [(e.kind, e.cloud, e.severity) for e in ev] == [("removed", "public", "medium")]


def test_renamed_tab_group_keeps_the_rule_but_a_move_between_existing_tabs_is_reported():
    ev = diff_rules([tag("Storage", ["443"], tab="stv2")], [tag("Storage", ["443"], tab="Platform v2")], source="s")
    assert ev == []
    both = [tag("Storage", ["443"], tab="stv1"), tag("Sql", ["1433"], tab="stv2"), tag("Sql", ["1433"], tab="stv1")]
    ev = diff_rules(both, [tag("Storage", ["443"], tab="stv2"), tag("Sql", ["1433"], tab="stv2"),
                           tag("Sql", ["1433"], tab="stv1")], source="s")
    assert [(e.field, e.severity) for e in ev] == [("tab", "low")]


def test_direction_change_pairs_the_partys_only_rule():
    ev = diff_rules([tag("ApiManagement", ["3443"], direction="inbound")],
                    [tag("ApiManagement", ["3443"], direction="outbound")], source="s")
    assert [(e.kind, e.field, e.severity) for e in ev] == [("modified", "direction", "high")]


def test_removal_summary_lists_the_ports_that_went_away():
    ev = diff_rules([tag("Sql", ["1433", "11000-11999"])], [], source="s")
    assert ev[0].summary == "service tag Sql outbound TCP ports 1433, 11000-11999 removed (s)"
    assert ev[0].old == {"service_tag": "Sql", "ports": ["1433", "11000-11999"], "protocol": "tcp",
                         "direction": "outbound"}  # the event keeps the firewall facts, not the whole rule


def test_deadline_is_a_new_rule_version_whose_event_the_deadline_store_raises():
    d = compute_delta([tag("AzureArcInfrastructure", ["443"])],
                      [tag("AzureArcInfrastructure", ["443"], deadline="2025-10-28", deadline_text="After …")], source="s")
    assert d.events == [] and [p.fields for p in d.pairs] == [["deadline", "deadline_text"]]


def _doc(n_tables=2, diags=()):
    return Document(format="markdown", tables=[Table() for _ in range(n_tables)], diagnostics=list(diags))


def test_guard_decisions_are_typed():
    rules = [tag(f"T{i}", ["443"]) for i in range(10)]
    base = Baseline(rule_count=10, table_count=2)
    same = compute_delta(rules, rules, source="s")
    assert decide(base, _doc(), rules, same).action == "accept"
    assert decide(None, _doc(), rules, same).action == "accept"  # first version
    d = decide(base, Document(format="text"), [], compute_delta(rules, [], source="s"))
    assert (d.action, d.kind, d.hard) == ("hold", "no-tables", True)
    d = decide(base, _doc(), [], compute_delta(rules, [], source="s"))
    assert (d.action, d.kind) == ("hold", "no-rules")
    d = decide(base, _doc(diags=[Diagnostic("normalize-failed", "table 0")]), rules, same)
    assert d.kind == "normalize-failed"
    assert decide(Baseline(10, 8), _doc(), rules, same).kind == "few-tables"
    assert decide(base, _doc(), [], compute_delta(rules, [], source="s"), GuardSettings(enabled=False)).action == "accept"


def test_guard_measures_rekeying_not_net_count():
    old = [host(f"h{i}.example.net") for i in range(10)]
    new = [host(f"n{i}.example.net") for i in range(12)]  # more rules, but 10 of 10 keys gone
    d = decide(Baseline(10, 2), _doc(), new, compute_delta(old, new, source="s"))
    assert (d.action, d.kind) == ("hold", "rekeyed") and "10 of 10" in d.reason
    explained = [host(f"h{i}.example.net", cloud="public") for i in range(10)] + [host("n.example.net")]
    assert decide(Baseline(10, 2), _doc(), explained, compute_delta(old, explained, source="s")).action == "accept"
    assert decide(Baseline(10, 2), _doc(), new, compute_delta(old, new, source="s"),
                  GuardSettings(max_removed_ratio=1.0)).action == "accept"


def test_missing_include_with_removals_is_held():
    old = [host("a.example.net"), host("b.example.net")]
    d = decide(Baseline(2, 1), _doc(1, [Diagnostic("missing-include", "include not found: x.md")]), old[:1],
               compute_delta(old, old[:1], source="s"))
    assert (d.action, d.kind) == ("hold", "missing-include")


def test_commit_url_from_source_url():
    url = "https://github.com/MicrosoftDocs/azure-docs/blob/live/articles/x.md"
    assert commit_url(url, "abc123") == "https://github.com/MicrosoftDocs/azure-docs/commit/abc123"
    assert commit_url(None, "abc") is None


def test_port_change_is_the_field_level_detail_of_a_matched_pair():
    from docwatch.diff import port_change

    assert port_change(["80", "443"], ["443", "8443", "5671-5672"]) == (["5671-5672", "8443"], ["80"])
    assert port_change(["443"], ["443"]) == ([], [])
