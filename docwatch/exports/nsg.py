"""``nsg``: an ARM template holding one ``Microsoft.Network/networkSecurityGroups`` with ``securityRules``.

One rule per service tag (a tag must stand alone in ``destinationAddressPrefix``, or in
``sourceAddressPrefix`` for inbound) and one per endpoint set for its IPs/CIDRs
(``destinationAddressPrefixes``; an ``a-b`` range is written as its CIDRs). The local side is
``VirtualNetwork``. Protocol ``Tcp``/``Udp``/``Icmp``/``*``; priorities 100-4096, unique, in set
order; names ``dw-s<set>-<n>``. Host names cannot be NSG rules: they are listed as warnings, as
are unknown protocols, missing ports and unresolved ``<region>`` tags.
"""
from __future__ import annotations

from typing import Any

from docwatch.exports.base import UNKNOWN, ExportData, region_tag, warn_no_ports
from docwatch.exports.m365 import dumps
from docwatch.exports.patterns import ip_range_nets

API_VERSION = "2023-09-01"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
FMT = "nsg"
PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "any": "*", "icmp": "Icmp"}
HOST_KINDS = ("fqdn", "wildcard", "url", "template")
MAX_PRIORITY = 4096


def _directions(direction: str | None) -> list[str]:
    return ["Inbound", "Outbound"] if direction == "both" else ["Inbound"] if direction == "inbound" else ["Outbound"]


def _props(protocol: str, ports: list[str], direction: str, remote: list[str], desc: str) -> dict[str, Any]:
    p: dict[str, Any] = {"description": desc[:140], "protocol": PROTOCOLS[protocol], "sourcePortRange": "*",
                         "access": "Allow", "direction": direction}
    if len(ports) == 1:
        p["destinationPortRange"] = ports[0]
    else:
        p["destinationPortRanges"] = list(ports)
    local, far = ("destination", "source") if direction == "Inbound" else ("source", "destination")
    p[f"{local}AddressPrefix"] = "VirtualNetwork"
    if len(remote) == 1:
        p[f"{far}AddressPrefix"] = remote[0]
    else:
        p[f"{far}AddressPrefixes"] = remote
    return p


def render(data: ExportData) -> str:
    specs: list[tuple[str, dict[str, Any]]] = []
    for es in data.sets:
        addrs: list[str] = []
        tags: list[str] = []
        for m in es.members:
            if m.endpoint_kind in HOST_KINDS:
                data.warn("fqdn-in-nsg", es.source, m.party, f"{FMT}: an FQDN cannot be an NSG rule; use Azure Firewall")
                continue
            if warn_no_ports(data, es, m, FMT) or es.protocol == UNKNOWN:
                continue
            if m.endpoint:
                if m.endpoint_kind == "ip_range":
                    addrs += [str(n) for n in ip_range_nets(m.endpoint)]
                else:
                    addrs.append("*" if m.endpoint == "*" else m.endpoint)
            else:
                tag = region_tag(data, es, m, FMT)
                if tag:
                    tags.append(tag)
        n = 0
        for d in _directions(es.direction):
            for remote in [[t] for t in sorted(set(tags))] + ([sorted(set(addrs))] if addrs else []):
                n += 1
                specs.append((f"dw-s{es.id}-{n}", _props(es.protocol, es.ports, d, remote, es.purpose or es.label)))
    step = 10 if 100 + 10 * len(specs) <= MAX_PRIORITY else 1
    rules = []
    for i, (name, props) in enumerate(specs):
        prio = 100 + step * i
        if prio > MAX_PRIORITY:
            data.warn("nsg-full", "", name, f"{FMT}: more rules than NSG priorities 100-4096; rest not exported")
            break
        rules.append({"name": name, "properties": {**props, "priority": prio}})
    for r in data.roles:
        data.warn("role-needs-addresses", r["source"], r.get("endpoint") or "", f"{FMT}: needs your own addresses")
    return dumps({
        "$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0",
        "metadata": {"generator": "docwatch", "catalogVersion": data.catalog_version, "cloud": data.request.cloud,
                     "regions": data.request.regions, "warnings": [w.to_dict() for w in data.warnings]},
        "parameters": {"nsgName": {"type": "string", "defaultValue": data.request.policy_name},
                       "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}},
        "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": API_VERSION,
                       "name": "[parameters('nsgName')]", "location": "[parameters('location')]",
                       "properties": {"securityRules": rules}}],
    })
