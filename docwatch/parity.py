"""``docwatch parity``: requirements a page states for one cloud with no counterpart in another.

Sovereign clouds rename service domains (``core.windows.net`` is ``core.usgovcloudapi.net`` in
Azure Government and ``core.chinacloudapi.cn`` in Azure China). :data:`SUFFIXES` is the one table
of those renames; a host's counterpart is the host with its longest known suffix swapped (a host
with no known suffix is expected under the same name). Service tags keep their names across
clouds. Rules whose cloud is null apply to every cloud, so they count as counterparts everywhere.
Only clouds the source states rules for are compared.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from docwatch.exports.patterns import host_of, pattern_covers, tag_covers
from docwatch.query import RuleFilter, query_rules

CLOUDS = ("public", "usgov", "china")
HOST_KINDS = ("fqdn", "wildcard", "url", "template")
# public, usgov, china; one row per documented rename (Azure Government / Azure China developer guides)
SUFFIXES: list[tuple[str, str, str]] = [
    ("core.windows.net", "core.usgovcloudapi.net", "core.chinacloudapi.cn"),
    ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn"),
    ("management.azure.com", "management.usgovcloudapi.net", "management.chinacloudapi.cn"),
    ("management.core.windows.net", "management.core.usgovcloudapi.net", "management.core.chinacloudapi.cn"),
    ("graph.microsoft.com", "graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"),
    ("graph.windows.net", "graph.windows.net", "graph.chinacloudapi.cn"),
    ("vault.azure.net", "vault.usgovcloudapi.net", "vault.azure.cn"),
    ("database.windows.net", "database.usgovcloudapi.net", "database.chinacloudapi.cn"),
    ("servicebus.windows.net", "servicebus.usgovcloudapi.net", "servicebus.chinacloudapi.cn"),
    ("azurecr.io", "azurecr.us", "azurecr.cn"),
    ("azurewebsites.net", "azurewebsites.us", "chinacloudsites.cn"),
    ("scm.azurewebsites.net", "scm.azurewebsites.us", "scm.chinacloudsites.cn"),
    ("azure-api.net", "azure-api.us", "azure-api.cn"),
    ("cloudapp.azure.com", "cloudapp.usgovcloudapi.net", "chinacloudapp.cn"),
    ("cloudapp.net", "usgovcloudapp.net", "chinacloudapp.cn"),
    ("trafficmanager.net", "usgovtrafficmanager.net", "trafficmanager.cn"),
    ("batch.azure.com", "batch.usgovcloudapi.net", "batch.chinacloudapi.cn"),
    ("azmk8s.io", "cx.aks.containerservice.azure.us", "cx.prod.service.azk8s.cn"),
    ("api.azureml.ms", "api.ml.azure.us", "api.ml.azure.cn"),
    ("azureml.ms", "ml.azure.us", "ml.azure.cn"),
    ("azureml.ms", "azureml.us", "azureml.cn"),  # <region>.tundra.azureml.* : one suffix, two renames
    ("azureml.net", "azureml.us", "azureml.cn"),
    ("notebooks.azure.net", "notebooks.usgovcloudapi.net", "notebooks.chinacloudapi.cn"),
    ("applicationinsights.azure.com", "applicationinsights.us", "applicationinsights.azure.cn"),
    ("azure-automation.net", "azure-automation.us", "azure-automation.cn"),
    ("azuredatalakestore.net", "azuredatalakestore.us", "azuredatalakestore.cn"),
    ("azurehdinsight.net", "azurehdinsight.us", "azurehdinsight.cn"),
    ("azuresynapse.net", "azuresynapse.usgovcloudapi.net", "azuresynapse.azure.cn"),
    ("portal.azure.com", "portal.azure.us", "portal.azure.cn"),
    ("azure.com", "azure.us", "azure.cn"),  # opinsights, monitor, guestconfiguration, arc ... .azure.com
]


def counterparts(host: str, src: str, dst: str) -> list[str]:
    """``host`` (cloud ``src``) as cloud ``dst`` may name it: one candidate per known suffix it
    ends with, longest suffix first (``[]`` when none is known: the same name is then expected)."""
    h = host_of(host)
    i, j = CLOUDS.index(src), CLOUDS.index(dst)
    rows = sorted((r for r in SUFFIXES if h == r[i] or h.endswith("." + r[i])), key=lambda r: -len(r[i]))
    out: list[str] = []
    for r in rows:
        c = h[: len(h) - len(r[i])] + r[j]
        if c not in out:
            out.append(c)
    return out


@dataclass
class Gap:
    source: str
    cloud: str  # where the rule is stated
    party: str
    missing_in: str
    expected: str | None  # the counterpart host looked for (None: same name / a tag)
    direction: str | None
    ports: list[str]
    purpose: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _has(rows: list[dict[str, Any]], row: dict[str, Any], wants: list[str]) -> bool:
    if row.get("endpoint"):
        targets = wants or [host_of(row["endpoint"])]
        return any(r.get("endpoint") and r.get("endpoint_kind") in HOST_KINDS
                   and (pattern_covers(r["endpoint"], t) or pattern_covers(t, r["endpoint"])) for r in rows for t in targets)
    tag = row.get("service_tag") or ""
    return any(r.get("service_tag") and (tag_covers(r["service_tag"], tag) or tag_covers(tag, r["service_tag"]))
               for r in rows)


def parity_gaps(catalog, *, source: str | None = None, reference_sources: set[str] | None = None) -> list[Gap]:
    rows = [r for r in query_rules(catalog, RuleFilter(source=source))
            if r["source"] not in (reference_sources or set()) and r.get("endpoint_kind") != "role"]
    gaps: list[Gap] = []
    for src_name in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == src_name]
        stated = sorted({r["cloud"] for r in mine if r.get("cloud")}, key=CLOUDS.index)
        for row in mine:
            a = row.get("cloud")
            if not a:
                continue
            for b in stated:
                if b == a:
                    continue
                there = [r for r in mine if r.get("cloud") in (b, None) and r.get("direction") in (row.get("direction"), None, "both")]
                wants = counterparts(row["endpoint"], a, b) if row.get("endpoint_kind") in HOST_KINDS else []
                if not _has(there, row, wants):
                    gaps.append(Gap(src_name, a, row.get("endpoint") or row.get("service_tag") or "", b, wants[0] if wants else None,
                                    row.get("direction"), list(row.get("ports") or []), row.get("purpose")))
    uniq = {(g.source, g.cloud, g.party.lower(), g.missing_in, g.direction): g for g in gaps}
    return sorted(uniq.values(), key=lambda g: (g.source, CLOUDS.index(g.cloud), g.missing_in, g.party.lower()))
