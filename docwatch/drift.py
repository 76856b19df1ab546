"""``docwatch drift``: does a real firewall policy allow what the pages require?

A policy is an Azure Firewall rule collection group (``az network firewall policy
rule-collection-group show`` output, the resource itself, or an ARM template holding it), a
classic Azure Firewall's rule collections (``az network firewall show``) or a
network security group (``az network nsg show`` output or an ARM template). Both are read into
:class:`PolicyRule` (destinations, protocols, ports, direction). Each requirement (a current,
non-role rule of a non-reference source) is then

* **covered** - some allow rule matches its party (wildcards, ``<placeholder>`` labels, CIDR
  containment, service tags and their regional forms) on every port and protocol it needs;
* **partial** - rules match the party but miss ports or a protocol (named in ``missing``);
* **must add** - nothing matches.

Allow rules that cover no known requirement are listed for **review**. A requirement that is
not explicitly optional and is not (fully) covered fails the check (exit 1).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from docwatch.errors import UsageError
from docwatch.exports.base import UNKNOWN, effective_protocol, is_required
from docwatch.exports.patterns import address_covers, nets_of, pattern_covers, ports_cover, ports_uncovered, tag_covers
from docwatch.query import RuleFilter, query_rules

HOST_KINDS = ("fqdn", "wildcard", "url", "template")
_APP_PROTO = {"http": "tcp", "https": "tcp", "mssql": "tcp"}


@dataclass
class PolicyRule:
    name: str
    kind: str  # application | network | nsg
    direction: str  # outbound | inbound
    protocols: set[str]  # tcp, udp, icmp, any
    ports: list[str]
    fqdns: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # IPs, CIDRs, ranges, tags, "*"

    @property
    def destinations(self) -> list[str]:
        return self.fqdns + self.addresses


@dataclass
class Policy:
    kind: str  # azure-firewall | nsg
    rules: list[PolicyRule]


@dataclass
class Finding:
    source: str
    party: str
    direction: str | None
    protocol: str
    ports: list[str]
    required: bool
    purpose: str | None
    missing: str = ""
    covered_by: list[str] = field(default_factory=list)


@dataclass
class DriftReport:
    kind: str
    policy_rules: list[PolicyRule]
    covered: list[Finding]
    partial: list[Finding]
    must_add: list[Finding]
    review: list[PolicyRule]
    not_applicable: list[Finding]

    @property
    def failed(self) -> bool:
        return any(f.required for f in (*self.must_add, *self.partial))

    def to_dict(self) -> dict[str, Any]:
        def rule(r: PolicyRule) -> dict[str, Any]:
            d = asdict(r)
            d["protocols"] = sorted(r.protocols)
            return d
        return {"policy_kind": self.kind, "policy_rules": len(self.policy_rules), "failed": self.failed,
                "must_add": [asdict(f) for f in self.must_add], "partial": [asdict(f) for f in self.partial],
                "review": [rule(r) for r in self.review], "covered": [asdict(f) for f in self.covered],
                "not_applicable": [asdict(f) for f in self.not_applicable]}


# ---------------------------------------------------------------- reading a policy

def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _props(obj: dict[str, Any]) -> dict[str, Any]:
    """ARM nests under ``properties``; the az CLI flattens them."""
    return {**obj, **obj["properties"]} if isinstance(obj.get("properties"), dict) else obj


def _azfw_rules(collections: list[dict[str, Any]]) -> list[PolicyRule]:
    out = []
    for rc in collections:
        rc = _props(rc)
        if rc.get("ruleCollectionType") != "FirewallPolicyFilterRuleCollection":
            continue
        if str((rc.get("action") or {}).get("type", "")).lower() != "allow":
            continue
        for r in rc.get("rules") or []:
            name = f"{rc.get('name')}/{r.get('name')}"
            if r.get("ruleType") == "ApplicationRule":
                protos = r.get("protocols") or []
                out.append(PolicyRule(name, "application", "outbound",
                                      {_APP_PROTO.get(str(p.get("protocolType", "")).lower(), "tcp") for p in protos},
                                      [str(p.get("port")) for p in protos if p.get("port") is not None],
                                      fqdns=list(r.get("targetFqdns") or []),
                                      addresses=list(r.get("destinationAddresses") or [])))
            elif r.get("ruleType") == "NetworkRule":
                ipp = {str(p).lower() for p in r.get("ipProtocols") or []}
                out.append(PolicyRule(name, "network", "outbound", ipp, [str(p) for p in r.get("destinationPorts") or []],
                                      fqdns=list(r.get("destinationFqdns") or []),
                                      addresses=list(r.get("destinationAddresses") or [])))
    return out


def _nsg_rules(rules: list[dict[str, Any]]) -> list[PolicyRule]:
    out = []
    for r in rules:
        p = _props(r)
        if str(p.get("access", "")).lower() != "allow":
            continue
        direction = str(p.get("direction", "")).lower()
        far = "destination" if direction == "outbound" else "source"
        addrs = [p[f"{far}AddressPrefix"]] if p.get(f"{far}AddressPrefix") else list(p.get(f"{far}AddressPrefixes") or [])
        ports = [p["destinationPortRange"]] if p.get("destinationPortRange") else list(p.get("destinationPortRanges") or [])
        proto = str(p.get("protocol", "*")).lower()
        out.append(PolicyRule(str(r.get("name")), "nsg", direction, {"any" if proto == "*" else proto},
                              [str(x) for x in ports], addresses=[str(a) for a in addrs]))
    return out


def _classic_rules(app: list[dict[str, Any]], net: list[dict[str, Any]]) -> list[PolicyRule]:
    """Classic Azure Firewall rules (``az network firewall show``: applicationRuleCollections,
    networkRuleCollections), read as the policy rules they correspond to."""
    out = []
    for kind, collections in (("application", app), ("network", net)):
        for rc in collections:
            rc = _props(rc)
            if str((rc.get("action") or {}).get("type", "")).lower() != "allow":
                continue
            for r in rc.get("rules") or []:
                name = f"{rc.get('name')}/{r.get('name')}"
                if kind == "application":
                    protos = [p for p in r.get("protocols") or [] if isinstance(p, dict)]
                    out.append(PolicyRule(name, kind, "outbound",
                                          {_APP_PROTO.get(str(p.get("protocolType", "")).lower(), "tcp") for p in protos},
                                          [str(p.get("port")) for p in protos if p.get("port") is not None],
                                          fqdns=list(r.get("targetFqdns") or [])))
                else:
                    out.append(PolicyRule(name, kind, "outbound", {str(p).lower() for p in r.get("protocols") or []},
                                          [str(p) for p in r.get("destinationPorts") or []],
                                          fqdns=list(r.get("destinationFqdns") or []),
                                          addresses=list(r.get("destinationAddresses") or [])))
    return out


def parse_policy(doc: Any) -> Policy:
    """Rule collection groups, classic firewall rule collections or NSG security rules,
    wherever they sit in the JSON."""
    found: dict[str, list] = {"ruleCollections": [], "securityRules": [], "applicationRuleCollections": [],
                              "networkRuleCollections": []}
    seen: set[int] = set()  # a list is met twice: under "properties" and merged into its owner
    for node in _walk(doc):
        p = _props(node)
        for name, acc in found.items():
            value = p.get(name)
            if isinstance(value, list) and id(value) not in seen:
                seen.add(id(value))
                acc += value
    collections, nsg = found["ruleCollections"], found["securityRules"]
    app, net = found["applicationRuleCollections"], found["networkRuleCollections"]
    if collections or app or net:
        return Policy("azure-firewall", _azfw_rules(collections) + _classic_rules(app, net))
    if nsg:
        return Policy("nsg", _nsg_rules(nsg))
    raise UsageError("policy file holds neither Azure Firewall ruleCollections nor NSG securityRules")


def load_policy(path: Path) -> Policy:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    return parse_policy(doc)


# ---------------------------------------------------------------- matching

def _dest_covers(dest: str, row: dict[str, Any]) -> bool:
    kind = row.get("endpoint_kind")
    if row.get("endpoint"):
        ep = row["endpoint"]
        if kind in HOST_KINDS:
            return pattern_covers(dest, ep) if not nets_of(dest) or dest.strip() == "*" else False
        return bool(nets_of(dest)) and address_covers(dest, ep)
    tag = row.get("service_tag")
    return bool(tag) and not nets_of(dest) and tag_covers(dest, tag)


def _proto_ok(rule: PolicyRule, proto: str) -> bool:
    if "any" in rule.protocols:
        return True
    if proto in ("tcp", "udp", "icmp"):
        return proto in rule.protocols
    if proto == "any":
        return {"tcp", "udp"} <= rule.protocols
    return bool(rule.protocols & {"tcp", "udp"})  # unknown: either will do


def _applies(rule: PolicyRule, direction: str | None) -> bool:
    if rule.kind != "nsg":
        return True
    return direction in (None, "both") or rule.direction == direction


def _evaluate(row: dict[str, Any], rules: list[PolicyRule], used: set[str]) -> Finding:
    proto, _ = effective_protocol(row)
    ports = list(row.get("ports") or [])
    f = Finding(row["source"], row.get("endpoint") or row.get("service_tag") or "", row.get("direction"), proto, ports,
                is_required(row), row.get("purpose"))
    matching = [r for r in rules if _applies(r, row.get("direction")) and any(_dest_covers(d, row) for d in r.destinations)]
    for r in matching:
        used.add(r.name)
    if not matching:
        f.missing = "no rule for this party"
        return f
    ok = [r for r in matching if _proto_ok(r, proto)]
    have = [p for r in ok for p in r.ports]
    missing_ports = [m for p in ports for m in ports_uncovered(have, p)]
    f.covered_by = sorted(r.name for r in ok if any(ports_cover(r.ports, p) for p in ports) or not ports)
    if not ok:
        f.missing = f"protocol {proto if proto != UNKNOWN else 'tcp/udp'}"
    elif missing_ports:
        f.missing = "ports " + ",".join(missing_ports)
    return f


def check_drift(catalog, policy: Policy, *, cloud: str | None = None, sources: list[str] | None = None,
                reference_sources: set[str] | None = None) -> DriftReport:
    rows: list[dict[str, Any]] = []
    for src in (sources or [None]):
        rows += query_rules(catalog, RuleFilter(source=src, cloud=cloud))
    rows = [r for r in rows if r["source"] not in (reference_sources or set()) and r.get("endpoint_kind") != "role"]
    used: set[str] = set()
    covered, partial, must, na = [], [], [], []
    for row in rows:
        if policy.kind == "azure-firewall" and row.get("direction") == "inbound":
            na.append(Finding(row["source"], row.get("endpoint") or row.get("service_tag") or "", "inbound",
                              effective_protocol(row)[0], list(row.get("ports") or []), is_required(row),
                              row.get("purpose"), missing="inbound: checked against an NSG, not Azure Firewall"))
            continue
        if policy.kind == "nsg" and row.get("endpoint_kind") in HOST_KINDS:
            na.append(Finding(row["source"], row["endpoint"], row.get("direction"), effective_protocol(row)[0],
                              list(row.get("ports") or []), is_required(row), row.get("purpose"),
                              missing="FQDN: an NSG cannot allow host names"))
            continue
        f = _evaluate(row, policy.rules, used)
        (must if f.missing == "no rule for this party" else partial if f.missing else covered).append(f)
    review = [r for r in policy.rules if r.name not in used]
    key = lambda f: (f.source, f.party.lower(), f.direction or "")  # noqa: E731
    return DriftReport(policy.kind, policy.rules, sorted(covered, key=key), sorted(partial, key=key),
                       sorted(must, key=key), review, sorted(na, key=key))
