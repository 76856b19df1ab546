"""``docwatch drift`` on real SQLite catalogs: an exported policy shows no drift, removing one
rule shows exactly that requirement, hand-written Azure Firewall and NSG policies (az CLI
shapes, tests/synthetic_policy_*.json) are matched through wildcards, templates, CIDR
containment, port ranges and service tags."""
from __future__ import annotations

import json

import pytest

from export_helpers import HERE, SYNTH, Dw


@pytest.fixture
def synth(tmp_path):
    dw = Dw(tmp_path)
    dw.ingest(SYNTH, "widget", "2025-04-01")
    return dw


def _drift(dw, policy, *args, code=None):
    r = dw("drift", "--policy", policy, "--json", *args, ok=False)
    if code is not None:
        assert r.exit_code == code, r.output
    return json.loads(r.stdout)


def _parties(items):
    return sorted(f["party"] for f in items)


def test_exported_policy_has_no_drift_and_one_removed_rule_is_reported(tmp_path):
    # the synthetic page without the rows Azure Firewall cannot express (kept in the other tests)
    text = "\n".join(line for line in SYNTH.read_text().splitlines()
                     if not any(w in line for w in ("*pkgs", "AzureKeyVault")))
    page = tmp_path / "expressible.md"
    page.write_text(text)
    dw = Dw(tmp_path)
    dw.ingest(page, "widget", "2025-04-01")
    policy = tmp_path / "policy.json"
    policy.write_text(dw.export("azure-firewall", "--region", "eastus"))
    report = _drift(dw, policy, code=0)
    assert report["must_add"] == [] and report["partial"] == [] and report["review"] == []
    assert len(report["covered"]) == 8

    doc = json.loads(policy.read_text())
    for rc in doc["resources"][0]["properties"]["ruleCollections"]:
        rc["rules"] = [r for r in rc["rules"] if "api.widget.example.com" not in r.get("targetFqdns", [])]
    policy.write_text(json.dumps(doc))
    report = _drift(dw, policy, code=1)
    assert _parties(report["must_add"]) == ["api.widget.example.com"] and report["partial"] == []


def test_handwritten_firewall_policy(synth):
    report = _drift(synth, HERE / "synthetic_policy_handwritten.json", code=1)
    assert report["policy_kind"] == "azure-firewall"
    # *.widget.example.com covers api.widget.example.com; *.widget.example.net covers the
    # *.blob wildcard and the <account>.queue template; 198.51.0.0/16 on 8000-9000 covers
    # 198.51.100.0/24:8443; Storage covers Storage.<region>
    assert _parties(report["covered"]) == ["*.blob.widget.example.net", "198.51.100.0/24",
                                           "<account>.queue.widget.example.net", "AzureMonitor",
                                           "Storage.<region>", "api.widget.example.com"]
    # '*pkgs.widget.example.io' is not under *.widget.example.com; nothing names AzureKeyVault
    assert _parties(report["must_add"]) == ["*pkgs.widget.example.io", "AzureKeyVault"]
    partial = {f["party"]: f["missing"] for f in report["partial"]}
    assert partial == {"203.0.113.7": "ports 5672", "time.widget.example.org": "protocol udp"}
    assert [r["name"] for r in report["review"]] == ["net/legacy-ssh"]


def test_handwritten_nsg(synth):
    report = _drift(synth, HERE / "synthetic_policy_nsg.json", code=1)
    assert report["policy_kind"] == "nsg"
    # Storage.EastUS is this reader's region for Storage.<region>; 203.0.113.0/24 holds .7 on 5671-5672
    assert _parties(report["covered"]) == ["203.0.113.7", "AzureMonitor", "Storage.<region>"]
    # a /25 does not contain the required /24; a Deny rule allows nothing; default rules are not the policy
    assert _parties(report["must_add"]) == ["198.51.100.0/24", "AzureKeyVault"]
    assert "api.widget.example.com" in _parties(report["not_applicable"])  # FQDNs are not NSG matter
    # relay-half covers only half of the /24 and an unknown range: nothing docwatch knows
    assert [r["name"] for r in report["review"]] == ["relay-half"]
    text = synth("drift", "--policy", HERE / "synthetic_policy_nsg.json", ok=False)
    assert text.exit_code == 1 and "must add" in text.stdout


def test_bad_policy_files_are_usage_errors(synth, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = synth("drift", "--policy", bad, ok=False)
    assert r.exit_code == 2 and "not JSON" in r.output and r.output.count("\n") == 1
    other = tmp_path / "other.json"
    other.write_text('{"value": []}')
    r = synth("drift", "--policy", other, ok=False)
    assert r.exit_code == 2 and "neither" in r.output
    r = synth("drift", "--policy", tmp_path / "missing.json", ok=False)
    assert r.exit_code == 2 and "no such policy file" in r.output


def test_exported_nsg_round_trip(synth, tmp_path):
    policy = tmp_path / "nsg.json"
    policy.write_text(synth.export("nsg", "--region", "eastus"))
    report = _drift(synth, policy)
    # all that the NSG export could express is covered; the rest was warned about
    warned = {w["party"] for w in json.loads(policy.read_text())["metadata"]["warnings"]}
    assert _parties(report["covered"]) == ["198.51.100.0/24", "203.0.113.7", "AzureMonitor", "Storage.<region>"]
    assert {f["party"] for f in report["must_add"] + report["partial"]} <= warned
    assert report["review"] == []


def test_unknown_source_is_a_usage_error(synth):
    r = synth("drift", "--policy", HERE / "synthetic_policy_nsg.json", "--source", "nope", ok=False)
    assert r.exit_code == 2 and "unknown source 'nope'" in r.output


def test_classic_firewall_rule_collections(synth):
    report = _drift(synth, HERE / "synthetic_policy_classic.json", code=1)
    assert report["policy_kind"] == "azure-firewall"
    assert _parties(report["covered"]) == ["*.blob.widget.example.net", "AzureMonitor", "api.widget.example.com",
                                           "time.widget.example.org"]
    assert "198.51.100.0/24" in _parties(report["must_add"])  # a Deny collection allows nothing


def test_real_page_against_a_real_looking_template(tmp_path, corpus_dir):
    """The real Azure Monitor page against an ARM template a team might keep for it."""
    dw = Dw(tmp_path)
    dw.ingest_corpus("azure-monitor-network-access")
    report = _drift(dw, HERE / "synthetic_policy_monitor.json", code=1)
    covered = set(_parties(report["covered"]))
    # wildcards: *.monitor.azure.com covers api.monitor.azure.com and the *.ingest wildcard; the
    # {region} template is covered by *.applicationinsights.azure.com; exact names match exactly
    assert {"api.monitor.azure.com", "*.ingest.monitor.azure.com", "{region}.in.applicationinsights.azure.com",
            "api1.applicationinsights.io", "login.microsoftonline.com"} <= covered
    must = set(_parties(report["must_add"]))
    # nothing allows the profiler, NuGet or Log Analytics' azure.com names (*.loganalytics.io is another domain)
    assert {"agent.azureserviceprofiler.net", "api.nuget.org", "api.loganalytics.azure.com"} <= must
    assert not covered & must
    # js.monitor.azure.com is required on 80 and 443; only 443 is allowed
    assert {f["party"]: f["missing"] for f in report["partial"]}["js.monitor.azure.com"] == "ports 80"
    assert [r["name"] for r in report["review"]] == ["tags/corp-proxy"]
