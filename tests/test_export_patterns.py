"""The matching rules shared by query --host, drift and parity (pure functions)."""
from __future__ import annotations

import pytest

from docwatch.exports.base import effective_protocol
from docwatch.exports.patterns import (REGION_PLACEHOLDER, address_covers, pattern_covers, ports_cover, resolve_region,
                                       tag_covers)


@pytest.mark.parametrize("pattern, wanted, ok", [
    ("*.blob.core.windows.net", "mystorage.blob.core.windows.net", True),
    ("*.blob.core.windows.net", "a.b.blob.core.windows.net", True),  # a leftmost * spans labels
    ("*.blob.core.windows.net", "blob.core.windows.net", False),
    ("*.core.windows.net", "*.blob.core.windows.net", True),
    ("*.blob.core.windows.net", "*.core.windows.net", False),  # narrower never covers broader
    ("*.blob.core.windows.net", "<account>.blob.core.windows.net", True),
    ("mine.blob.core.windows.net", "<account>.blob.core.windows.net", True),  # the reader's instance
    ("<account>.blob.core.windows.net", "mine.blob.core.windows.net", True),
    ("*.eastus.batch.azure.com", "*.<region>.batch.azure.com", True),
    ("*pytorch.org", "download.pytorch.org", False),  # one label only
    ("*pytorch.org", "xpytorch.org", True),
    ("https://login.example.com/path", "LOGIN.example.com", True),
    ("*", "anything.example", True),
    ("api.example.com", "api.example.com.evil.test", False),
])
def test_pattern_covers(pattern, wanted, ok):
    assert pattern_covers(pattern, wanted) is ok


@pytest.mark.parametrize("outer, inner, ok", [
    ("198.51.0.0/16", "198.51.100.0/24", True), ("198.51.100.0/25", "198.51.100.0/24", False),
    ("203.0.113.0/28", "203.0.113.7", True), ("203.0.113.0/28", "203.0.113.1-203.0.113.9", True),
    ("203.0.113.0/28", "203.0.113.1-203.0.113.20", False), ("*", "192.0.2.1", True),
    ("2001:db8::/32", "2001:db8:1::/48", True), ("2001:db8::/32", "192.0.2.1", False), ("Storage", "192.0.2.1", False),
])
def test_address_covers(outer, inner, ok):
    assert address_covers(outer, inner) is ok


@pytest.mark.parametrize("pattern, wanted, ok", [
    ("Storage", "Storage.<region>", True), ("Storage", "Storage.EastUS", True), ("storage.eastus", "Storage.EastUS", True),
    ("Storage.EastUS", "Storage.<region>", True), ("Storage.EastUS", "Storage", False),
    ("Storage.EastUS", "Storage.WestUS", False), ("StorageSyncService", "Storage", False),
])
def test_tag_covers(pattern, wanted, ok):
    assert tag_covers(pattern, wanted) is ok


def test_ports_cover_ranges_and_unions():
    assert ports_cover(["8000-9000"], "8443") and ports_cover(["5671", "5672"], "5671-5672")
    assert not ports_cover(["5671"], "5671-5672") and ports_cover(["*"], "*") and not ports_cover(["443"], "*")


def test_ports_uncovered_names_only_what_is_missing():
    from docwatch.exports.patterns import ports_uncovered

    assert ports_uncovered(["5671"], "5671-5672") == ["5672"]
    assert ports_uncovered(["8000-8100", "8200"], "8000-8300") == ["8101-8199", "8201-8300"]
    assert ports_uncovered(["443"], "443") == [] and ports_uncovered([], "*") == ["*"]
    assert ports_uncovered(["1-100"], "*") == ["0", "101-65535"]


def test_region_templates():
    assert resolve_region("<region>.api.example.net", "East US") == "eastus.api.example.net"
    assert resolve_region("Storage.<Region>", "EastUS", tag=True) == "Storage.EastUS"
    assert not REGION_PLACEHOLDER.search("<region pair>") and not REGION_PLACEHOLDER.search("<storage>")


@pytest.mark.parametrize("row, proto", [
    ({"endpoint": "https://h.example.com/x", "endpoint_kind": "url", "ports": ["8443"]}, "tcp"),
    ({"endpoint": "h.example.com", "endpoint_kind": "fqdn", "ports": ["80", "443"]}, "tcp"),
    ({"endpoint": "h.example.com", "endpoint_kind": "fqdn", "ports": ["1886"]}, "unknown"),
    ({"service_tag": "AzureMonitor", "ports": ["443"]}, "unknown"),
    ({"service_tag": "AzureMonitor", "ports": ["443"], "purpose": "HTTPS to the ingestion API"}, "tcp"),
    ({"service_tag": "AzureMonitor", "ports": ["443"], "protocol": "udp"}, "udp"),
])
def test_protocol_is_tcp_only_when_the_notation_implies_it(row, proto):
    assert effective_protocol(row)[0] == proto
