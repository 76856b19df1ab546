"""NSG and Azure Firewall rules a page gives only as commands (a pass of the text rules).

Learn pages often state a requirement as the command that creates it::

    az network nsg rule create ... --source-address-prefixes AzureLoadBalancer \\
        --destination-port-ranges 60000-60001 --direction inbound --access Allow --protocol Tcp
    New-AzNetworkSecurityRuleConfig -Name web -Access Allow -Protocol Tcp -Direction Inbound `
        -SourceAddressPrefix Internet -DestinationPortRange 443 ...
    az network firewall application-rule create ... --target-fqdns www.example.org --protocols Https=443

Each allow rule becomes one :class:`CliRule`: the remote side's prefixes (the source of an
inbound rule, the destination of an outbound one), its ports and transport. Shell variables
(``$subnetPrefix``), ``*`` sides and deny rules name no party. Parsing is pure and never raises.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_COMMAND = re.compile(
    r"\baz\s+network\s+(?:nsg\s+rule|firewall\s+(?:network|application)-rule)\s+create\b|"
    r"\b(?:New|Add|Set)-AzNetworkSecurityRuleConfig\b|\b(?:New|Add)-AzFirewall(?:Network|Application)Rule\b", re.I)
_CONTINUATION = re.compile(r"\s*(?:\\|`|\^)\s*\n\s*")
_VARIABLE = re.compile(r"^[$%@]|^<[^>]*>$|^\{[^}]*\}$")
# option (lower-case, without dashes and hyphens) → what it holds
_OPTIONS = {
    "sourceaddressprefixes": "source", "sourceaddressprefix": "source", "sourceaddresses": "source",
    "sourceaddress": "source",
    "destinationaddressprefixes": "destination", "destinationaddressprefix": "destination",
    "destinationaddresses": "destination", "destinationaddress": "destination",
    "destinationfqdns": "destination", "targetfqdns": "destination", "targetfqdn": "destination",
    "destinationportranges": "ports", "destinationportrange": "ports", "destinationports": "ports",
    "destinationport": "ports", "protocol": "protocol", "protocols": "protocol", "direction": "direction",
    "access": "access", "action": "access",
}
_APP_PROTOCOL = re.compile(r"^(https?|mssql)[=:](\d{1,5})$", re.I)
_PORT = re.compile(r"^(?:\*|\d{1,5}(?:-\d{1,5})?)$")


@dataclass
class CliRule:
    parties: list[str]
    ports: dict[str | None, list[str]] = field(default_factory=dict)
    direction: str | None = None


def has_rule_command(text: str) -> bool:
    return _COMMAND.search(text) is not None


def cli_rules(text: str) -> list[CliRule]:
    """The allow rules of the NSG/firewall rule commands in a code block (``[]`` when it has none)."""
    if not has_rule_command(text):
        return []
    joined = _CONTINUATION.sub(" ", text)
    out = []
    for line in joined.splitlines():
        m = _COMMAND.search(line)
        if m:
            rule = _one(line[m.end():])
            if rule is not None:
                out.append(rule)
    return out


def _one(args: str) -> CliRule | None:
    try:
        words = shlex.split(args, comments=False, posix=True)
    except ValueError:
        words = args.split()
    found: dict[str, list[str]] = {}
    key: str | None = None
    for w in words:
        if w.startswith("-") and not _PORT.match(w):
            key = _OPTIONS.get(w.lstrip("-").replace("-", "").lower())
            continue
        if key:
            found.setdefault(key, []).extend(v for v in re.split(r"[,\s]+", w.strip("'\"()")) if v)
    if any(a.lower() == "deny" for a in found.get("access", [])):
        return None
    direction = next((d.lower() for d in found.get("direction", []) if d.lower() in ("inbound", "outbound")), None)
    side = "source" if direction == "inbound" else "destination" if direction == "outbound" else None
    sides = [side] if side else ["destination", "source"]
    parties: list[str] = []
    for s in sides:
        parties = [v for v in found.get(s, []) if v != "*" and not _VARIABLE.match(v) and v.lower() != "virtualnetwork"]
        if parties:
            break
    if not parties:
        return None
    ports: dict[str | None, list[str]] = {}
    protocols = [p.lower() for p in found.get("protocol", [])]
    plain = [p for p in found.get("ports", []) if _PORT.match(p)]
    transport = next((p for p in protocols if p in ("tcp", "udp", "icmp")), None)
    if any(p in ("*", "any") for p in protocols):
        transport = "any"
    if plain:
        ports[transport] = plain
    for p in protocols:  # firewall application rules: "Https=443 Http=80"
        m = _APP_PROTOCOL.match(p)
        if m:
            ports.setdefault("tcp", []).append(m.group(2))
    return CliRule(parties, ports, direction)
