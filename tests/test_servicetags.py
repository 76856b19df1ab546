"""Service tags on real weekly files: events equal independent set differences, re-ingest adds
no rows, as-of reads, views with plain sqlite3, guard anomalies, region retirement, relevance."""
from __future__ import annotations

import gzip
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from docwatch.catalog import Catalog
from docwatch.catalog_tags import ingest_tag_file, record_tag_anomaly, resolve_tag, tag_as_of
from docwatch.errors import UsageError
from docwatch.servicetags import (TagFileError, UsageIndex, effective_after, parse_tag_file, sniff_cloud,
                                  sort_prefixes)

TAG_TABLES = ("versions", "tag_files", "tags", "tag_versions", "tag_prefixes", "change_events")


def _files(corpus: Path, cloud: str) -> list[Path]:
    return sorted((corpus / "servicetags").glob(f"ServiceTags_{cloud}_*.json.gz"))


def _plain(path: Path) -> dict[str, set[str]]:
    """Independent reading: plain json, name → set of prefixes."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    return {v["name"]: set(v["properties"]["addressPrefixes"]) for v in doc["values"]}


def _counts(cat: Catalog) -> dict[str, int]:
    return {t: cat.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TAG_TABLES}


def _ingest(cat: Catalog, path: Path, **kw):
    return ingest_tag_file(cat, parse_tag_file(path.read_bytes(), name=path.name), **kw)


@pytest.fixture(scope="module")
def public(tmp_path_factory, corpus_dir):
    """The four Public weeks ingested in order; (catalog, files, results)."""
    cat = Catalog(tmp_path_factory.mktemp("st") / "cat.db")
    files = _files(corpus_dir, "Public")
    results = [_ingest(cat, f) for f in files]
    yield cat, files, results
    cat.close()


def test_parse_real_files_match_plain_json(corpus_dir):
    for path in _files(corpus_dir, "Public")[:1] + _files(corpus_dir, "AzureGovernment"):
        tf = parse_tag_file(path.read_bytes(), name=path.name)
        plain = _plain(path)
        assert set(tf.tags) == set(plain)
        assert tf.prefix_count == sum(len(v) for v in plain.values())
        assert tf.cloud == ("public" if "Public" in path.name else "usgov")
        assert tf.file_date == path.name.split("_")[2][:10]
        # .json and .json.gz of the same file are the same content
        assert parse_tag_file(gzip.decompress(path.read_bytes())).content_hash == tf.content_hash


def test_public_weeks_events_equal_set_differences(public):
    cat, files, results = public
    assert [r.status for r in results] == ["first", "changed", "changed", "changed"]
    assert results[0].events == []
    for (a, b), res in zip(zip(files, files[1:]), results[1:]):
        old, new = _plain(a), _plain(b)
        per_tag = {e.party: e for e in res.events if e.impact != "region-retired"}
        expect = {n for n in new.keys() & old.keys() if new[n] != old[n]} | (new.keys() ^ old.keys())
        assert set(per_tag) == expect
        for name, ev in per_tag.items():
            assert set(ev.new or []) == new.get(name, set()) - old.get(name, set()), name
            assert set(ev.old or []) == old.get(name, set()) - new.get(name, set()), name
            assert ev.source == "servicetags-public" and ev.cloud == "public"
            assert ev.doc_date == b.name.split("_")[2][:10]
        for name in new.keys() - old.keys():
            assert per_tag[name].kind == "added" and per_tag[name].impact == "tag-added"
    # the real AzureCloud churn of the first two weeks, figures from plain json above and here
    ev = next(e for e in results[1].events if e.party == "AzureCloud")
    assert (len(ev.new), len(ev.old)) == (487, 66)
    assert "487 prefixes added, 66 removed" in ev.summary
    assert "effective after 2025-08-16" in ev.summary
    # a new region in September: 35 new tags, none removed
    assert sum(e.impact == "tag-added" for e in results[2].events) == 35


def test_reingest_adds_no_rows(public):
    cat, files, _ = public
    before = _counts(cat)
    for f in files[-1:]:
        assert _ingest(cat, f).status == "duplicate"
    # the same content as plain .json (another name) is a duplicate too
    tf = parse_tag_file(gzip.decompress(files[-1].read_bytes()), name="ServiceTags_Public_20251017.json")
    assert ingest_tag_file(cat, tf).status == "duplicate"
    assert _counts(cat) == before
    # storage grows with changes only: one row per prefix version
    total_first = sum(len(v) for v in _plain(files[0]).values())
    added_later = sum(len(e.new or []) for e in cat.events(source="servicetags-public"))
    assert before["tag_prefixes"] == total_first + added_later


def test_lower_change_number_is_refused(public):
    cat, files, _ = public
    with pytest.raises(UsageError, match="changeNumber 364: lower than the last file's \\(373\\)"):
        _ingest(cat, files[0], observed_at="2026-01-01")


def test_as_of_reads_and_resolution(public):
    cat, files, _ = public
    first, last = _plain(files[0]), _plain(files[-1])
    view = tag_as_of(cat, "azurecloud", "public", "2025-08-01")
    assert view.name == "AzureCloud" and set(view.prefixes) == first["AzureCloud"]
    assert view.file_change_number == 364
    now = tag_as_of(cat, "AzureCloud", "public")
    assert set(now.prefixes) == last["AzureCloud"] and now.file_change_number == 373
    assert set(now.ipv4) | set(now.ipv6) == set(now.prefixes) and all(":" in p for p in now.ipv6)
    assert tag_as_of(cat, "AzureCloud", "public", "2025-01-01") is None  # before the first file
    assert tag_as_of(cat, "ActionGroup.BelgiumCentral", "public", "2025-09-30") is None  # not listed yet
    # Tag.<region> templates resolve for the regions given, by name suffix or region value
    got = resolve_tag(cat, "Storage.<region>", "public", ["eastus", "West Europe"])
    assert set(got) == last["Storage.EastUS"] | last["Storage.WestEurope"]
    assert resolve_tag(cat, "Storage.<region>", "public", []) == []
    assert set(resolve_tag(cat, "AzureMonitor", None, None, "2025-08-10")) == _plain(files[1])["AzureMonitor"]
    assert resolve_tag(cat, "NoSuchTag", "public") == []


def test_views_are_plain_sqlite(public):
    cat, files, _ = public
    last = _plain(files[-1])
    con = sqlite3.connect(cat.path)
    row = con.execute("SELECT prefixes, prefix_count, change_number FROM service_tags "
                      "WHERE cloud = 'public' AND name = 'AzureCloud'").fetchone()
    assert set(json.loads(row[0])) == last["AzureCloud"] and row[1] == len(last["AzureCloud"])
    assert con.execute("SELECT count(*) FROM service_tags WHERE cloud = 'public'").fetchone()[0] == len(last)
    hist = con.execute("SELECT prefix, valid_from, valid_to FROM service_tag_history WHERE name = 'AzureMonitor'").fetchall()
    assert {p for p, _f, to in hist if to is None} == last["AzureMonitor"]
    removed = _plain(files[0])["AzureCloud"] - _plain(files[1])["AzureCloud"]
    gone = {p for p, f, to in con.execute("SELECT prefix, valid_from, valid_to FROM service_tag_history "
                                          "WHERE name = 'AzureCloud' AND valid_to = '2025-08-09T00:00:00Z'")}
    assert gone == removed
    ch = con.execute("SELECT effective_after, file_date, change_number FROM service_tag_changes "
                     "WHERE tag = 'AzureCloud' ORDER BY id").fetchall()
    assert ch[0] == ("2025-08-16", "2025-08-09", "365")
    con.close()


def test_truncated_and_wrong_cloud_are_anomalies(tmp_path, corpus_dir):
    gov = _files(corpus_dir, "AzureGovernment")
    cat = Catalog(tmp_path / "cat.db")
    _ingest(cat, gov[0])
    before = tag_as_of(cat, "AzureCloud", "usgov")
    raw = gzip.decompress(gov[1].read_bytes())
    truncated = raw[: len(raw) // 3]
    with pytest.raises(TagFileError, match="not valid JSON"):
        parse_tag_file(truncated)
    with pytest.raises(TagFileError, match="truncated or corrupt gzip"):
        parse_tag_file(gov[1].read_bytes()[:5000])
    assert sniff_cloud(truncated) == "usgov" and sniff_cloud(b"", "ServiceTags_China_20250101.json") == "china"
    r1 = record_tag_anomaly(cat, "usgov", "truncated", observed_at="2025-11-23")
    r2 = record_tag_anomaly(cat, "usgov", "truncated again", observed_at="2025-11-24")
    assert r1.status == "anomaly" and len(r1.events) == 1 and r2.events == []  # one event per streak
    # a Public file where the usgov one is expected
    r3 = _ingest(cat, _files(corpus_dir, "Public")[0], expected_cloud="usgov", source="servicetags-usgov",
                 observed_at="2025-11-25")
    assert r3.status == "anomaly" and "cloud 'Public'" in r3.reason
    assert tag_as_of(cat, "AzureCloud", "usgov").prefixes == before.prefixes
    kinds = Counter(e.kind for e in cat.events(source="servicetags-usgov"))
    assert kinds == {"anomaly": 1}
    # the next good file ends the streak and diffs against the last accepted one
    r4 = _ingest(cat, gov[1], observed_at="2025-11-26")
    assert r4.status == "changed" and all(e.kind != "anomaly" for e in r4.events)


def test_far_fewer_tags_is_an_anomaly_unless_accepted(tmp_path, corpus_dir):
    gov = _files(corpus_dir, "AzureGovernment")
    cat = Catalog(tmp_path / "cat.db")
    _ingest(cat, gov[0])
    doc = json.loads(gzip.decompress(gov[1].read_bytes()))
    doc["values"] = doc["values"][: len(doc["values"]) // 2]
    half = parse_tag_file(json.dumps(doc).encode())
    res = ingest_tag_file(cat, half, observed_at="2025-11-23", min_ratio=0.8)
    assert res.status == "anomaly" and "far fewer tags" in res.reason
    assert not [e for e in cat.events(source="servicetags-usgov") if e.kind == "removed"]
    res = ingest_tag_file(cat, half, observed_at="2025-11-24", accept=True)
    assert res.status == "changed" and sum(e.impact == "tag-removed" for e in res.events) > 100


def test_region_retirement_is_summarised_once(tmp_path, corpus_dir):
    gov = _files(corpus_dir, "AzureGovernment")
    cat = Catalog(tmp_path / "cat.db")
    _ingest(cat, gov[-1])
    doc = json.loads(gzip.decompress(gov[-1].read_bytes()))
    gone = sorted((v["name"] for v in doc["values"] if v["properties"]["region"] == "usgoviowa"), key=str.lower)
    doc["values"] = [v for v in doc["values"] if v["properties"]["region"] != "usgoviowa"]
    doc["changeNumber"] += 1
    res = ingest_tag_file(cat, parse_tag_file(json.dumps(doc).encode(), name="ServiceTags_AzureGovernment_20260322.json"))
    summary = [e for e in res.events if e.impact == "region-retired"]
    assert len(summary) == 1 and summary[0].old == gone
    assert summary[0].summary.startswith(f"region USGovIowa retired: {len(gone)} tags removed")
    assert {e.party for e in res.events if e.impact == "tag-removed"} == set(gone)
    assert len(gone) == 32


def test_usage_index_templates_and_region_less_tags():
    idx = UsageIndex([("apim", "Storage", None), ("ml", "Storage.<region>", None), ("batch", "BatchNodeManagement.region", None),
                      ("gov-only", "AzureMonitor", "usgov"), ("x", "Sql.WestEurope", "public")], "public")
    assert idx.users("Storage.EastUS", True) == ["apim", "ml"]
    assert idx.users("Storage", False) == ["apim"]
    assert idx.users("BatchNodeManagement.EastUS", True) == ["batch"]
    assert idx.users("AzureMonitor", False) == []  # a usgov rule does not use the public tag
    assert idx.users("Sql.westeurope", True) == ["x"] and idx.users("Sql.EastUS", True) == []
    assert effective_after("2025-12-29") == "2026-01-05"
    assert sort_prefixes(["10.0.0.0/8", "2603::/16", "9.0.0.0/8", "9.0.0.0/8"]) == ["9.0.0.0/8", "10.0.0.0/8", "2603::/16"]


def test_facts_without_prefix_changes_are_versions_without_events(tmp_path, corpus_dir):
    gov = _files(corpus_dir, "AzureGovernment")[0]
    cat = Catalog(tmp_path / "cat.db")
    _ingest(cat, gov)
    doc = json.loads(gzip.decompress(gov.read_bytes()))
    tag = next(v for v in doc["values"] if v["name"] == "AzureCloud")
    tag["properties"]["changeNumber"] += 1
    tag["properties"]["addressPrefixes"].reverse()  # same set, another order
    doc["changeNumber"] += 1
    before = _counts(cat)
    res = ingest_tag_file(cat, parse_tag_file(json.dumps(doc).encode()), observed_at="2025-07-20")
    assert res.status == "unchanged" and res.events == []
    after = _counts(cat)
    assert after["tag_prefixes"] == before["tag_prefixes"] and after["tag_versions"] == before["tag_versions"] + 1
    assert tag_as_of(cat, "AzureCloud", "usgov").change_number == tag["properties"]["changeNumber"]
    assert tag_as_of(cat, "AzureCloud", "usgov", "2025-07-14").change_number == tag["properties"]["changeNumber"] - 1
