"""``query``: cloud-neutral rules count for every cloud, ``--host`` through wildcards and
templates (saying which rule matched), regional ``--tag``; on real catalogs."""
from __future__ import annotations

import json

import pytest

from export_helpers import SYNTH, Dw


@pytest.fixture(scope="module")
def dw(tmp_path_factory, corpus_dir):
    d = Dw(tmp_path_factory.mktemp("query"))
    d.ingest_corpus("azureml-behind-firewall")
    d.ingest_corpus("azure-monitor-network-access")
    d.ingest(SYNTH, "widget", "2025-04-01")
    return d


def _q(dw, *args):
    return json.loads(dw("query", "--json", *args).stdout)


def test_cloud_includes_cloud_neutral_rules(dw):
    every = _q(dw, "--cloud", "usgov")
    strict = _q(dw, "--cloud", "usgov", "--only-cloud")
    assert strict and all(r["cloud"] == "usgov" for r in strict)
    assert {r["cloud"] for r in every} == {"usgov", None} and len(every) > len(strict)
    assert not any(r["cloud"] in ("public", "china") for r in every)


def test_host_matches_wildcards_and_templates(dw):
    rows = _q(dw, "--host", "mystorage.blob.core.windows.net")
    how = {(r["endpoint"], r["matched_by"]["match"]) for r in rows}
    assert ("*.blob.core.windows.net", "wildcard") in how
    assert any(m == "template" and ep.endswith(".blob.core.windows.net") for ep, m in how)
    assert _q(dw, "--endpoint", "mystorage.blob.core.windows.net") == rows  # a plain --endpoint works alike
    assert {r["endpoint"] for r in _q(dw, "--host", "mine.queue.widget.example.net")} == {
        "<account>.queue.widget.example.net"}
    assert _q(dw, "--host", "evil.example") == []
    ip = _q(dw, "--host", "198.51.100.77")  # an address: CIDR containment
    # Azure ML's "*" (any address) rows allow every IP, on their ports
    assert {(r["endpoint"], r["matched_by"]["match"]) for r in ip} == {("198.51.100.0/24", "range"), ("*", "any address")}
    assert {r["endpoint"] for r in _q(dw, "--host", "203.0.113.7", "--source", "widget")} == {"203.0.113.7"}
    out = dw("query", "--host", "api.widget.example.com").stdout
    assert "is allowed by" in out and "exact" in out
    assert "no rule allows" in dw("query", "--host", "nothing.invalid").stdout


def test_tag_matches_regional_forms(dw):
    tags = {r["service_tag"] for r in _q(dw, "--tag", "storage")}
    assert "Storage.<region>" in tags and tags <= {t for t in tags if t.lower().startswith("storage")}
    assert "Storage.<region>" in {r["service_tag"] for r in _q(dw, "--tag", "Storage.EastUS")}
    assert _q(dw, "--tag", "Stor") == []
