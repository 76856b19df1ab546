"""Relevance of service-tag events: with real corpus pages ingested, a change to a tag their
current rules use is high (added) / medium (removed) and names them; other tags are low."""
from __future__ import annotations

import json
from pathlib import Path

from docwatch.catalog import Catalog
from docwatch.catalog_tags import tags_used, unknown_tags
from test_servicetags import _files, _ingest, _plain


def _ingest_page(db: Path, corpus: Path, page: str, source: str) -> None:
    from click.testing import CliRunner

    from docwatch.cli import main

    versions = json.loads((corpus / "markdown" / page / "versions.json").read_text())
    path = corpus / "markdown" / page / versions[-1]["path"]
    res = CliRunner().invoke(main, ["--db", str(db), "ingest", str(path), "--source", source, "--at", "2025-07-01"])
    assert res.exit_code == 0, res.output


def test_relevance_with_corpus_pages(tmp_path, corpus_dir):
    db = tmp_path / "cat.db"
    _ingest_page(db, corpus_dir, "apim-virtual-network-reference", "apim-vnet-reference")
    _ingest_page(db, corpus_dir, "azureml-behind-firewall", "azureml")
    _ingest_page(db, corpus_dir, "azure-monitor-network-access", "azure-monitor-network-access")  # tags in prose
    cat = Catalog(db)
    files = _files(corpus_dir, "Public")
    _ingest(cat, files[0])
    res = _ingest(cat, files[1])
    by = {e.party: e for e in res.events}
    mon = by["AzureMonitor"]  # two prefixes added between these weeks
    users = ["apim-vnet-reference", "azure-monitor-network-access", "azureml"]
    assert mon.severity == "high" and f"used by {', '.join(users)}" in mon.summary
    row = cat.db.execute("SELECT used_by FROM change_events WHERE id = (SELECT max(id) FROM change_events "
                         "WHERE party = 'AzureMonitor')").fetchone()
    assert json.loads(row[0]) == users
    # Storage.EastUS: used by the region-less Storage rule (apim) and the Storage.<region> template (azureml)
    assert by["Storage.EastUS"].severity == "high" and "apim-vnet-reference, azureml" in by["Storage.EastUS"].summary
    # Storage lost more than it gained here: removed-only tags of used tags are medium
    removed_only = [e for e in res.events if e.old and not e.new and "used by" in e.summary]
    assert removed_only and all(e.severity == "medium" for e in removed_only)
    # a tag no page uses is low
    assert by["AzureCloud"].severity == "low" and "used by" not in by["AzureCloud"].summary
    used = {(u.tag, u.cloud): u for u in tags_used(cat)}
    assert used[("AzureMonitor", "public")].prefix_count == len(_plain(files[1])["AzureMonitor"])
    assert used[("AzureMonitor", "public")].sources == users
    assert used[("Storage.<region>", "public")].known and len(used[("Storage.<region>", "public")].resolved) > 40
    unknown = {(u.source, u.tag) for u in unknown_tags(cat)}
    assert ("azureml", "Frontdoor.FirstParty") in unknown
    assert not any(t in ("AzureMonitor", "VirtualNetwork", "Storage.<region>") for _s, t in unknown)
    cat.close()
