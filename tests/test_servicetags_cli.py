"""`docwatch tags ingest|show|used` and `query --resolve` on real weekly files and corpus pages."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from docwatch.cli import main


def _cli():
    """The docwatch group with the tags commands (registered here until the lazy command map lists them)."""
    if main.get_command(click.Context(main), "tags") is None:
        from docwatch.commands.tags_cmds import tags_group

        main.add_command(tags_group)
    return main


def _run(db: Path, *args: str):
    return CliRunner().invoke(_cli(), ["--db", str(db), *args])


@pytest.fixture
def st(corpus_dir) -> Path:
    return corpus_dir / "servicetags"


def _plain(path: Path) -> dict[str, list[str]]:
    return {v["name"]: v["properties"]["addressPrefixes"] for v in json.loads(gzip.decompress(path.read_bytes()))["values"]}


def test_ingest_duplicate_order_and_bad_files(tmp_path, st):
    db = tmp_path / "cat.db"
    g1, g2 = st / "ServiceTags_AzureGovernment_2025-07-13.json.gz", st / "ServiceTags_AzureGovernment_2025-11-23.json.gz"
    r = _run(db, "tags", "ingest", str(g1))
    assert r.exit_code == 0 and r.output.startswith("servicetags-usgov: version 1 first (326 tags, 5625 prefixes")
    r = _run(db, "tags", "ingest", str(g2), "--json")
    out = json.loads(r.output)
    assert out["status"] == "changed" and out["events"]
    ac = next(e for e in out["events"] if e["party"] == "AzureCloud")
    a, b = set(_plain(g1)["AzureCloud"]), set(_plain(g2)["AzureCloud"])
    assert (set(ac["new"]), set(ac["old"])) == (b - a, a - b)
    assert "duplicate" in _run(db, "tags", "ingest", str(g2)).output
    r = _run(db, "tags", "ingest", str(g1), "--at", "2026-01-01")
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "changeNumber 361: lower than the last file's (374)" in r.output
    trunc = tmp_path / "ServiceTags_AzureGovernment_20260101.json"
    trunc.write_bytes(gzip.decompress(g2.read_bytes())[:50000])
    r = _run(db, "tags", "ingest", str(trunc))
    assert r.exit_code == 0 and "anomaly" in r.output and "not valid JSON" in r.output
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"<html>not json</html>")
    r = _run(db, "tags", "ingest", str(junk))
    assert r.exit_code == 2 and "pass --cloud" in r.output
    r = _run(db, "changes", "--source", "servicetags-usgov", "--json")
    kinds = [e["kind"] for e in json.loads(r.output)]
    assert "anomaly" in kinds and "removed" not in kinds[kinds.index("anomaly"):]


def test_show_filters_as_of_and_errors(tmp_path, st):
    db = tmp_path / "cat.db"
    g1, g3 = st / "ServiceTags_AzureGovernment_2025-07-13.json.gz", st / "ServiceTags_AzureGovernment_2026-03-15.json.gz"
    assert _run(db, "tags", "ingest", str(g1)).exit_code == 0
    assert _run(db, "tags", "ingest", str(g3)).exit_code == 0
    r = _run(db, "tags", "show", "AzureCloud", "--cloud", "usgov", "--json")
    shown = json.loads(r.output)
    assert set(shown["prefixes"]) == set(_plain(g3)["AzureCloud"]) and shown["file_change_number"] == 388
    old = json.loads(_run(db, "tags", "show", "azurecloud", "--cloud", "usgov", "--as-of", "2025-08-01", "--json").output)
    assert set(old["prefixes"]) == set(_plain(g1)["AzureCloud"])
    v6 = _run(db, "tags", "show", "AzureCloud", "--cloud", "usgov", "--ipv6").output.splitlines()
    assert v6[0].startswith("AzureCloud (usgov): change number") and all(":" in p for p in v6[2:]) and len(v6) > 3
    v4 = _run(db, "tags", "show", "AzureCloud", "--cloud", "usgov", "--ipv4").output.splitlines()[2:]
    assert sorted(v4 + v6[2:]) == sorted(_plain(g3)["AzureCloud"])
    r = _run(db, "tags", "show", "AzureClod", "--cloud", "usgov")
    assert r.exit_code == 2 and "did you mean AzureCloud" in r.output
    r = _run(db, "tags", "show", "AzureCloud", "--cloud", "china")
    assert r.exit_code == 2 and "no service-tag file for cloud 'china'" in r.output


def test_used_unknown_and_query_resolve(tmp_path, st, corpus_dir):
    db = tmp_path / "cat.db"
    page = corpus_dir / "markdown" / "azureml-behind-firewall"
    path = page / json.loads((page / "versions.json").read_text())[-1]["path"]
    assert _run(db, "ingest", str(path), "--source", "azureml", "--at", "2025-07-01").exit_code == 0
    pub = st / "ServiceTags_Public_2025-07-30.json.gz"
    assert _run(db, "tags", "ingest", str(pub)).exit_code == 0
    r = _run(db, "tags", "used", "--json")
    used = {u["tag"]: u for u in json.loads(r.output)["used"]}
    plain = _plain(pub)
    assert used["AzureMonitor"]["prefix_count"] == len(plain["AzureMonitor"]) and used["AzureMonitor"]["sources"] == ["azureml"]
    assert "VirtualNetwork" not in used  # virtual tags have no prefixes
    text = _run(db, "tags", "used").output
    assert "diagnostic: azureml: tag 'Frontdoor.FirstParty' is not in the public service-tag file" in text
    r = _run(db, "query", "--tag", "AzureMonitor", "--resolve", "--json")
    rows = json.loads(r.output)
    assert rows and all(set(x["prefixes"]) == set(plain["AzureMonitor"]) for x in rows)
    r = _run(db, "query", "--source", "azureml", "--resolve", "--region", "eastus", "--json")
    storage = [x for x in json.loads(r.output) if x["service_tag"] == "Storage.<region>"]
    assert storage and set(storage[0]["prefixes"]) == set(plain["Storage.EastUS"])
    r = _run(db, "query", "--source", "azureml", "--resolve")
    assert r.exit_code == 0 and "Storage.<region> (public): 0 prefixes" in r.output


def test_servicetags_config_entries_and_errors(tmp_path):
    from docwatch.config import load_config

    ok = tmp_path / "ok.toml"
    ok.write_text('[[servicetags]]\ncloud = "china"\njson_url = "https://download.microsoft.com/x/ServiceTags_China_20250101.json"\n'
                  'name = "tags-cn"\nmin_ratio = 0.5\n')
    (entry,) = load_config(ok).servicetags
    assert (entry.cloud, entry.source, entry.min_ratio, entry.page_url) == ("china", "tags-cn", 0.5, None)
    empty = tmp_path / "empty.toml"
    empty.write_text('catalog_path = "x.db"\n')
    assert [e.cloud for e in load_config(empty).servicetags] == ["public", "usgov"]  # the defaults
    empty.write_text('[fetch]\nallowed_hosts = ["learn.microsoft.com"]\n')
    assert load_config(empty).servicetags == []  # defaults only where allowed_hosts lets them be fetched
    bad = tmp_path / "bad.toml"
    bad.write_text('[[servicetags]]\ncloud = "public"\npage_url = "https://www.microsoft.com/en-us/download/details.aspx?id=56519"\n\n'
                   '[[servicetags]]\ncloud = "mars"\njson_url = "https://download.microsoft.com/x.json"\n')
    r = CliRunner().invoke(_cli(), ["--config", str(bad), "tags", "used"])
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0
    assert "line 6" in r.output and "[servicetags[1].cloud] cloud must be one of public, usgov, china" in r.output
    bad.write_text('[[servicetags]]\ncloud = "usgov"\njson_url = "https://evil.example.com/x.json"\n')
    r = CliRunner().invoke(_cli(), ["--config", str(bad), "tags", "used"])
    assert r.exit_code == 2 and "line 3" in r.output and "not in fetch.allowed_hosts" in r.output


def test_wrong_cloud_file_is_an_anomaly(tmp_path, st):
    db = tmp_path / "cat.db"
    gov = st / "ServiceTags_AzureGovernment_2025-07-13.json.gz"
    named_public = tmp_path / "ServiceTags_Public_20251201.json.gz"
    named_public.write_bytes(gov.read_bytes())
    r = _run(db, "tags", "ingest", str(named_public))
    assert r.exit_code == 0 and r.output.startswith("servicetags-public: version 1 anomaly")
    assert "file is for cloud 'AzureGovernment' (usgov), expected 'Public' (public)" in r.output
    r = _run(db, "tags", "ingest", str(gov), "--cloud", "public", "--at", "2025-12-02")
    assert "duplicate" in r.output  # the same bytes as the anomalous version: nothing new
    events = json.loads(_run(db, "changes", "--source", "servicetags-public", "--json").output)
    assert [e["kind"] for e in events] == ["anomaly"]
    r = _run(db, "tags", "show", "AzureCloud", "--cloud", "public")
    assert r.exit_code == 2  # nothing was applied to the public cloud
    r = _run(db, "tags", "ingest", str(gov))
    assert r.output.startswith("servicetags-usgov: version") and " first " in r.output
