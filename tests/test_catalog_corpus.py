"""Real version series from ../shared/corpus ingested in versions.json (ms.date) order through
the real pipeline; asserts the specific changes found by diffing the versions by hand."""
from __future__ import annotations

import pytest

from catalog_helpers import count, ingest_file, load
from conftest import corpus_versions
from docwatch.catalog import Catalog
from docwatch.guard import GuardSettings

pytestmark = pytest.mark.corpus


def _series(tmp_path, page, *, start=0, guard=None):
    cat = Catalog(tmp_path / f"{page}.db")
    results = []
    for i, v in enumerate(corpus_versions(page)[start:]):
        # two versions may share an ms.date: keep them apart by a second
        results.append((v["version"], ingest_file(cat, page, v["file"], f"{v['ms_date']}T00:00:{i:02d}Z", guard=guard)))
    return cat, results


def _ev(res, kind=None, impact=None):
    return [e for e in res.events if (kind is None or e.kind == kind) and (impact is None or e.impact == impact)]


def test_apim_2025_to_2026_exact_port_and_purpose_changes(tmp_path):
    cat, results = _series(tmp_path, "apim-virtual-network-reference", start=1)
    (_, first), (_, apr10), (_, apr30) = results
    assert first.status == "first" and first.events == []
    # 2026-04-10: AzureMonitor outbound gains port 12000 (you must open it: high); AzureConnectors'
    # purpose is reworded, which is kept in the rule's history but raises no event.
    # The list item "Allow outbound TCP access on port 12000 for diagnostics." (a port-only prose
    # requirement: any-address party "*") was deleted in the same edit: narrowed to AzureMonitor.
    assert sorted((e.party, e.impact, e.severity) for e in apr10.events) == [
        ("*", "ports-removed", "medium"), ("AzureMonitor", "ports-added", "high")]
    hist = cat.db.execute("SELECT count(DISTINCT purpose) FROM rule_history WHERE service_tag = 'AzureConnectors'").fetchone()[0]
    assert hist == 2
    mon = _ev(apr10, impact="ports-added")[0]
    assert mon.direction == "outbound" and "12000" in mon.new and "12000" not in mon.old
    assert mon.summary.startswith("port 12000 added for AzureMonitor outbound")
    # 2026-04-30: VirtualNetwork TCP 6380 -> 10000 (Redis), purpose reworded; AzureMonitor 12000 gone again;
    # the TLS certificate-chain paragraph (CRL/OCSP hosts on ports 80 and 443, stated in prose) was deleted.
    # The page's availability include is missing in every corpus version: no news, not an anomaly.
    assert apr30.status == "changed"
    got = sorted((e.party, e.impact) for e in apr30.events if e.impact != "endpoint-removed")
    assert got == [("AzureMonitor", "ports-removed"), ("VirtualNetwork", "ports-added"),
                   ("VirtualNetwork", "ports-removed")]
    assert sorted(e.party for e in apr30.events if e.impact == "endpoint-removed") == [
        "cacerts.digicert.com", "crl.microsoft.com", "crl3.digicert.com", "csp.digicert.com",
        "mscrl.microsoft.com", "oneocsp.microsoft.com"]
    vnet_add = [e for e in apr30.events if e.impact == "ports-added"][0]
    assert vnet_add.summary.startswith("port 10000 added for VirtualNetwork")
    assert sorted(e.summary.split(" for ")[0] for e in apr30.events if e.impact == "ports-removed") == [
        "port 12000 removed", "port 6380 removed"]
    assert not _ev(apr30, "added")


def test_apim_2023_restructure_is_guarded_then_confirmed(tmp_path):
    """2023-08-29 -> 2025-06-17 drops the stv1/stv2 tabs and the control-plane IP table (125 -> 47
    rules): the guard calls it an anomaly (no removals); 2026-04-10 agrees with it and confirms."""
    cat, results = _series(tmp_path, "apim-virtual-network-reference")
    statuses = [r.status for _, r in results]
    assert statuses == ["first", "anomaly", "changed", "changed"]
    anomaly = results[1][1]
    # the page lost an include in this corpus version and most keys vanished: held, never removals
    assert [e.kind for e in anomaly.events] == ["anomaly"] and "rules would read as removed" in anomaly.reason
    confirmed = results[2][1]
    removed = {(e.tab, e.party) for e in _ev(confirmed, "removed")}
    # AzureCloud (stv1 only) is gone; AzureMonitor stayed, only its stv1/stv2 tabs were dropped: no removal
    assert ("stv1", "AzureCloud") in removed and not {p for t, p in removed if p == "AzureMonitor"}
    assert any(e.party == "13.64.39.16" and e.cloud == "public" for e in _ev(confirmed, "removed"))  # control-plane IP
    assert "AzureTrafficManager" in {e.party for e in _ev(confirmed, "added")}
    # the confirmed removals/additions are stored at the anomalous version's own date, and the
    # confirming version keeps only its own real change (port 12000 added; a reworded purpose is silent)
    stored = cat.events(source="apim-virtual-network-reference")
    by_version = {}
    for e in stored:
        by_version.setdefault(e.version_id, []).append(e)
    v2, v3 = results[1][1].version_id, results[2][1].version_id
    assert {e.doc_date for e in by_version[v2]} == {"2025-06-17"}
    assert {e.kind for e in by_version[v2]} == {"anomaly", "removed", "added", "modified"}
    # (and the port-only "*" TCP 12000 list item narrowed to that tag: ports removed from "*")
    assert sorted((e.kind, e.impact) for e in by_version[v3]) == [("modified", "ports-added"),
                                                                   ("modified", "ports-removed")]
    # current rules now match the latest page exactly
    assert {r.key for r in cat.current_rules("apim-virtual-network-reference")} == {r.key for r in load(corpus_versions("apim-virtual-network-reference")[-1]["file"])[1]}


def test_apim_without_guard_reports_the_2025_restructure_directly(tmp_path):
    cat, results = _series(tmp_path, "apim-virtual-network-reference", guard=GuardSettings(enabled=False))
    assert [r.status for _, r in results] == ["first", "changed", "changed", "changed"]
    removed = _ev(results[1][1], "removed")
    assert len(removed) >= 68 and all(e.severity == "medium" for e in removed)  # removals are things you may close
    # no removal is reported for a rule still on the page: the stv1/stv2 tabs were dropped, and a
    # rule that stayed is the same rule with another tab (a silent new version, not removed + added)
    still = {(r.party.lower(), r.direction) for r in load(corpus_versions("apim-virtual-network-reference")[1]["file"])[1]}
    assert [e.summary for e in removed if (e.party.lower(), e.direction) in still] == []


def test_azureml_series(tmp_path):
    cat, results = _series(tmp_path, "azureml-behind-firewall")
    assert [r.status for _, r in results] == ["first", "changed", "changed", "changed"]
    (_, r2022), (_, r2023), (_, r2025), (_, r2026) = results
    # 2023 -> 2025: "Azure AD" renamed "Microsoft Entra ID": no event, but the rule history keeps it.
    assert not [e for e in r2025.events if e.field == "purpose"]
    entra = {r[0] for r in cat.db.execute("SELECT lower(coalesce(endpoint, service_tag)) FROM rule_history "
                                          "WHERE purpose LIKE '%Entra%' AND version_id = ?", (r2025.version_id,))}
    assert entra >= {"azureactivedirectory", "login.microsoftonline.com", "login.microsoftonline.us"}
    assert "vscode.download.prss.microsoft.com" in {e.party for e in _ev(r2025, "added")}
    # 2025 -> 2026: exactly one change, UDP 5831 to *.tundra.<region>.api.azureml.ms (public) added.
    assert [(e.kind, e.party, e.cloud, e.severity) for e in r2026.events] == [
        ("added", "*.tundra.<region>.api.azureml.ms", "public", "high")]  # a new host you must open
    assert r2026.events[0].new["protocol"] == "udp" and r2026.events[0].new["ports"] == ["5831"]


def test_azureml_seed_004_after_001_is_one_anomaly_then_healthy_diffs(tmp_path, seeds_dir):
    cat = Catalog(tmp_path / "aml.db")
    first = ingest_file(cat, "aml", seeds_dir / "001_61c55e8279333ae9.txt", "2025-04-03T00:00:00Z")
    n = len(cat.current_rules("aml"))
    assert first.status == "first" and n > 50
    bad = ingest_file(cat, "aml", seeds_dir / "004_0f524faa2d88988d.txt", "2025-04-04T00:00:00Z")
    assert bad.status == "anomaly" and [(e.kind, e.severity) for e in bad.events] == [("anomaly", "high")]
    assert count(cat, "rule_versions") == n and len(cat.current_rules("aml")) == n
    assert not [e for e in cat.events(source="aml") if e.kind == "removed"]
    later = ingest_file(cat, "aml", corpus_versions("azureml-behind-firewall")[-1]["file"], "2026-03-19T00:00:00Z")
    assert later.status in ("changed", "unchanged")
    assert "*.tundra.<region>.api.azureml.ms" in {e.party for e in _ev(later, "added")}
    assert not [e for e in later.events if e.kind == "anomaly"]


def test_arc_2023_to_2025_is_cosmetic_only(tmp_path):
    cat, results = _series(tmp_path, "arc-servers-network-requirements")
    assert [r.status for _, r in results] == ["first", "unchanged"]
    assert results[1][1].events == [] and count(cat, "rule_versions") == len(cat.current_rules("arc-servers-network-requirements"))


def test_ama_series(tmp_path):
    cat, results = _series(tmp_path, "ama-network-configuration")
    (_, a), (_, b), (_, c) = results
    added_b = {e.party for e in _ev(b, "added")}
    assert {"<log-analytics-workspace-id>.ods.opinsights.azure.com",
            "<virtual-machine-region-name>.handler.control.monitor.azure.com"} <= added_b
    assert not [e for e in _ev(b, "modified") if e.field == "purpose"]
    # second version of the same ms.date: global.prod.microsoftmetrics.com added, nothing removed
    assert "global.prod.microsoftmetrics.com" in {e.party for e in _ev(c, "added")}
    assert not _ev(c, "removed")


def test_batch_2018_to_2023(tmp_path):
    cat, results = _series(tmp_path, "batch-virtual-network")
    new = results[1][1]
    assert new.status == "changed"
    bnm = [e for e in _ev(new, "added") if (e.party or "").lower().startswith("batchnodemanagement") and e.direction == "inbound"]
    assert bnm and "29876-29877" in bnm[0].new["ports"]


def test_reingesting_every_series_adds_nothing(tmp_path):
    for page in ("ama-network-configuration", "arc-servers-network-requirements", "batch-virtual-network"):
        cat, results = _series(tmp_path, page)
        before = (count(cat, "versions"), count(cat, "rule_versions"), count(cat, "change_events"))
        last = corpus_versions(page)[-1]
        assert ingest_file(cat, page, last["file"], "2030-01-01").status == "duplicate"
        assert (count(cat, "versions"), count(cat, "rule_versions"), count(cat, "change_events")) == before
        cat.close()
