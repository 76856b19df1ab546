"""``docwatch parity`` on real corpus pages with cloud tabs / cloud rows, gaps checked by hand."""
from __future__ import annotations

import json

import pytest

from export_helpers import Dw
from docwatch.parity import SUFFIXES, counterparts


@pytest.fixture(scope="module")
def dw(tmp_path_factory, corpus_dir):
    d = Dw(tmp_path_factory.mktemp("parity"))
    d.ingest_corpus("apim-virtual-network-reference")
    d.ingest_corpus("azureml-behind-firewall")
    return d


def _gaps(dw, *args):
    return {(g["source"], g["cloud"], g["party"], g["missing_in"]): g
            for g in json.loads(dw("parity", "--json", *args).stdout)}


def test_suffix_table_renames_sovereign_domains():
    assert counterparts("mystore.blob.core.windows.net", "public", "usgov") == ["mystore.blob.core.usgovcloudapi.net"]
    assert counterparts("login.microsoftonline.com", "public", "china") == ["login.chinacloudapi.cn"]
    assert counterparts("login.microsoftonline.us", "usgov", "public") == ["login.microsoftonline.com"]
    assert counterparts("example.org", "public", "usgov") == []
    assert all(len(row) == 3 for row in SUFFIXES)


def test_apim_gaps_by_hand(dw):
    gaps = _gaps(dw, "apim-virtual-network-reference")
    src = "apim-virtual-network-reference"
    # By hand, in the "Azure Monitor" row of the APIM page: the public and Government lists name
    # prod3-black.prod.microsoftmetrics.com, the 21Vianet list does not.
    assert (src, "public", "prod3-black.prod.microsoftmetrics.com", "china") in gaps
    # The Government and 21Vianet lists add prod5, prod5-black, prod5-red; the public list has none.
    for h in ("prod5.prod.microsoftmetrics.com", "prod5-black.prod.microsoftmetrics.com"):
        assert (src, "usgov", h, "public") in gaps and (src, "china", h, "public") in gaps
    # gcs.prod.monitoring.core.windows.net (public) has no core.usgovcloudapi.net counterpart:
    # Government lists fairfax.warmpath.usgovcloudapi.net instead
    g = gaps[(src, "public", "gcs.prod.monitoring.core.windows.net", "usgov")]
    assert g["expected"] == "gcs.prod.monitoring.core.usgovcloudapi.net"
    # not gaps: names every cloud lists, and gcs.prod.warm.ingestion.monitoring.azure.com whose
    # .us / .cn forms the other lists do name (the azure.com row of the table)
    assert not any(k[2] == "global.prod.microsoftmetrics.com" for k in gaps)
    assert not any(k[2].startswith("gcs.prod.warm.ingestion") for k in gaps)


def test_azureml_gaps_by_hand(dw):
    gaps = _gaps(dw, "azureml-behind-firewall")
    src = "azureml-behind-firewall"
    # The public "Integrated notebook" row needs graph.microsoft.com, Government graph.microsoft.us;
    # the 21Vianet tab names no Graph host at all.
    assert gaps[(src, "public", "graph.microsoft.com", "china")]["expected"] == "microsoftgraph.chinacloudapi.cn"
    assert (src, "public", "graph.microsoft.com", "usgov") not in gaps  # graph.microsoft.us is there
    # Compute instance: *.<region>.batch.azure.com is stated for the public cloud only.
    assert (src, "public", "*.<region>.batch.azure.com", "usgov") in gaps
    # every gap names a cloud the page states rules for
    assert {k[3] for k in gaps} <= {"public", "usgov", "china"}
    text = dw("parity", "azureml-behind-firewall").stdout
    assert "graph.microsoft.com" in text
