"""``azure-firewall``: an ARM template holding one ``Microsoft.Network/firewallPolicies/ruleCollectionGroups``.

Per source two ``FirewallPolicyFilterRuleCollection`` (action Allow): application rules for host
names on HTTP/HTTPS (``protocols`` ``Http``/``Https`` with their port, ``targetFqdns``), network
rules for IPs, CIDRs, service tags (``destinationAddresses``) and for host names on other ports
(``destinationFqdns``, never mixed with addresses in one rule). Rule names come from the endpoint
set id (``s42-app``), collection names from the source, so they stay put across runs. Priorities:
group from ``--priority`` (100-65000), collections 100, 110, ... in source order.
What Azure Firewall cannot express (inbound requirements, ``*pytorch.org``, unresolved
``<region>`` templates, unknown protocols) is listed in ``metadata.warnings``.
"""
from __future__ import annotations

from typing import Any

from docwatch.exports.base import UNKNOWN, ExportData, firewall_host, region_tag, warn_no_ports
from docwatch.exports.m365 import dumps
from docwatch.exports.patterns import ip_range_nets, url_scheme

API_VERSION = "2023-09-01"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
FMT = "azure-firewall"
IP_PROTOCOLS = {"tcp": ["TCP"], "udp": ["UDP"], "any": ["Any"], "icmp": ["ICMP"]}
HOST_KINDS = ("fqdn", "wildcard", "url", "template")


def _app_protocols(ports: list[str], scheme: str | None) -> list[dict[str, Any]] | None:
    """``Http``/``Https`` per port; ``None`` when a port is not a web one (then a network rule)."""
    out = []
    for p in ports:
        if p == "80" or (scheme == "http" and p.isdigit()):
            out.append({"protocolType": "Http", "port": int(p)})
        elif p == "443" or (scheme == "https" and p.isdigit()):
            out.append({"protocolType": "Https", "port": int(p)})
        else:
            return None
    return out


def _rules_for_set(data: ExportData, es) -> tuple[list[dict], list[dict]]:
    app: dict[str, dict] = {}
    net: dict[str, dict] = {}
    desc = (es.purpose or "")[:140]
    if es.direction == "inbound":
        for m in es.members:
            data.warn("inbound-not-firewall", es.source, m.party, f"{FMT}: inbound requirement; belongs in an NSG")
        return [], []
    for m in es.members:
        if warn_no_ports(data, es, m, FMT) or es.protocol == UNKNOWN:
            continue
        if m.endpoint_kind in HOST_KINDS:
            host = firewall_host(data, es, m, FMT)
            if host is None:
                continue
            wild = host.startswith("*")
            # "any" on a named host: a network rule (TCP and UDP); a wildcard can only be an
            # application rule, so its TCP part is exported and the UDP part warned about
            web = es.protocol == "tcp" or (es.protocol == "any" and wild)
            protos = _app_protocols(es.ports, url_scheme(m.endpoint or "")) if web else None
            if protos and es.protocol == "any":
                data.warn("udp-not-expressible", es.source, m.party,
                          f"{FMT}: protocol any: the TCP part is an application rule, UDP to a wildcard FQDN cannot be allowed")
            if protos and m.endpoint_kind == "url" and (m.endpoint or "").split("://", 1)[-1].strip("/").count("/"):
                data.warn("url-path-dropped", es.source, m.party,
                          f"{FMT}: allowed as the host {host} (a path needs targetUrls and TLS inspection)")
            if protos:
                name = f"s{es.id}-app-" + "-".join(f"{p['protocolType'].lower()}{p['port']}" for p in protos)
                rule = app.setdefault(name, {"ruleType": "ApplicationRule", "name": name, "description": desc,
                                             "sourceAddresses": ["*"], "protocols": protos, "targetFqdns": [],
                                             "terminateTLS": False})
                rule["targetFqdns"].append(host)
            elif wild:
                data.warn("wildcard-not-expressible", es.source, m.party,
                          f"{FMT}: a wildcard FQDN is allowed only in application rules (HTTP/HTTPS)")
            else:
                name = f"s{es.id}-fqdn"
                rule = net.setdefault(name, {"ruleType": "NetworkRule", "name": name, "description": desc,
                                             "ipProtocols": IP_PROTOCOLS[es.protocol], "sourceAddresses": ["*"],
                                             "destinationFqdns": [], "destinationPorts": list(es.ports)})
                rule["destinationFqdns"].append(host)
        else:
            addr = m.endpoint if m.endpoint else region_tag(data, es, m, FMT)
            if not addr:
                continue
            addrs = [str(n) for n in ip_range_nets(addr)] if m.endpoint_kind == "ip_range" else [addr]
            name = f"s{es.id}-addr"
            rule = net.setdefault(name, {"ruleType": "NetworkRule", "name": name, "description": desc,
                                         "ipProtocols": IP_PROTOCOLS[es.protocol], "sourceAddresses": ["*"],
                                         "destinationAddresses": [], "destinationPorts": list(es.ports)})
            rule["destinationAddresses"].extend(addrs)
    for r in (*app.values(), *net.values()):
        for k in ("targetFqdns", "destinationFqdns", "destinationAddresses"):
            if k in r:
                r[k] = sorted(set(r[k]), key=str.lower)
    return list(app.values()), list(net.values())


def render(data: ExportData) -> str:
    req = data.request
    collections: list[dict[str, Any]] = []
    by_source: dict[str, tuple[list, list]] = {}
    for es in data.sets:
        a, n = _rules_for_set(data, es)
        acc = by_source.setdefault(es.source, ([], []))
        acc[0].extend(a)
        acc[1].extend(n)
    prio = 100
    for source in sorted(by_source):
        for suffix, rules in (("app", by_source[source][0]), ("net", by_source[source][1])):
            if not rules:
                continue
            collections.append({"ruleCollectionType": "FirewallPolicyFilterRuleCollection",
                                "name": f"dw-{source}-{suffix}"[:80], "priority": prio,
                                "action": {"type": "Allow"}, "rules": rules})
            prio += 10
    for r in data.roles:
        data.warn("role-needs-addresses", r["source"], r.get("endpoint") or "", f"{FMT}: needs your own addresses")
    template = {
        "$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0",
        "metadata": {"generator": "docwatch", "catalogVersion": data.catalog_version, "cloud": req.cloud,
                     "regions": req.regions, "warnings": [w.to_dict() for w in data.warnings]},
        "parameters": {"firewallPolicyName": {"type": "string", "defaultValue": req.policy_name}},
        "resources": [{
            "type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups", "apiVersion": API_VERSION,
            "name": "[concat(parameters('firewallPolicyName'), '/docwatch')]",
            "properties": {"priority": req.priority, "ruleCollections": collections},
        }],
    }
    return dumps(template)
