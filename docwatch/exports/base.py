"""What every export format starts from: the catalog's rules, filtered, with protocols made
explicit only where the page's notation implies them, grouped into endpoint sets with stable ids.

* **Catalog version** = the highest ``rule_versions.id``. Every stored change of a rule fact (an
  addition, a modification, a tombstone) writes one rule version, so the number grows exactly
  when the catalog's content changes and never goes back; it needs no counter of its own.
  ``changes-json --since-version N`` lists what was written after version N.
* **Endpoint-set ids** live in ``endpoint_sets`` (schema v7, ``AUTOINCREMENT``: allocated once,
  never reused). A set is keyed by what it *is* (source, cloud, tab, direction, required,
  protocol, ports, purpose), never by its position, so adding or removing another set leaves
  its id alone and a new member joins the set it belongs to under the same id. When a set
  vanishes as a new one with most of its members appears (purpose re-worded, tab dropped, a
  port added), the new one succeeds it and keeps its id, as an M365 endpoint set would.
* **Protocols.** A rule whose page states no protocol is TCP only when the notation implies it:
  an ``http(s)://`` URL, a named host on web ports only (80/443: a firewall can allow a DNS
  name there only as HTTP/HTTPS), or a purpose/heading that says HTTP/HTTPS. Anything else is
  exported as ``protocol unknown`` with a note, never doubled into TCP and UDP.
* ``cloud`` null means every cloud; role parties ("needs your own addresses") are set apart;
  sources with ``role = "reference"`` in config.toml are never exported as allow rules.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from docwatch.catalog import Catalog
from docwatch.exports.patterns import HOST_KINDS, REGION_PLACEHOLDER, resolve_region, url_scheme
from docwatch.normalize_values import sort_ports
from docwatch.query import RuleFilter, query_rules

log = logging.getLogger(__name__)

CLOUDS = ("public", "usgov", "china")
WEB_PORTS = {"80", "443"}
_WEB_WORDS = re.compile(r"\bhttps?\b", re.I)
UNKNOWN = "unknown"


@dataclass
class ExportRequest:
    """The options of one export (CLI flags or one ``[[exports]]`` entry)."""

    format: str = "json"
    cloud: str | None = None
    sources: list[str] = field(default_factory=list)
    required_only: bool = False
    as_of: str | None = None
    regions: list[str] = field(default_factory=list)
    since_version: int = 0
    pac_route: str = "DIRECT"
    pac_default: str | None = None
    policy_name: str = "docwatch"
    priority: int = 500  # Azure Firewall rule collection group priority
    reference_sources: set[str] = field(default_factory=set)


@dataclass
class ExportWarning:
    """Something a format could not express; listed on stderr and in the file where it can be."""

    code: str  # e.g. wildcard-not-expressible, unresolved-template, fqdn-in-nsg, protocol-unknown
    source: str
    party: str
    message: str

    def line(self) -> str:
        return f"{self.source}: {self.party}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "source": self.source, "party": self.party, "message": self.message}


@dataclass
class Member:
    """One rule of an endpoint set, protocol made explicit (``unknown`` when the page says none)."""

    rule_key: str
    endpoint: str | None
    endpoint_kind: str | None
    service_tag: str | None
    ports: list[str]
    protocol: str  # tcp | udp | any | icmp | unknown
    protocol_note: str | None
    row: dict[str, Any]

    @property
    def party(self) -> str:
        return self.endpoint or self.service_tag or ""


@dataclass
class EndpointSet:
    id: int
    key: str
    source: str
    cloud: str | None
    tab: str | None
    direction: str | None
    required: bool | None
    protocol: str
    ports: list[str]
    purpose: str | None
    members: list[Member] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.source + (f" ({self.tab})" if self.tab else "")


@dataclass
class ExportData:
    catalog_version: int
    request: ExportRequest
    sets: list[EndpointSet]
    roles: list[dict[str, Any]]
    warnings: list[ExportWarning] = field(default_factory=list)
    skipped_reference: list[str] = field(default_factory=list)

    def warn(self, code: str, source: str, party: str, message: str) -> None:
        w = ExportWarning(code, source, party, message)
        if w not in self.warnings:
            self.warnings.append(w)


@dataclass
class ExportResult:
    format: str
    text: str
    catalog_version: int
    warnings: list[ExportWarning]


def catalog_version(catalog: Catalog) -> int:
    row = catalog.db.execute("SELECT max(id) FROM rule_versions").fetchone()
    return int(row[0] or 0)


def effective_protocol(row: dict[str, Any]) -> tuple[str, str | None]:
    """(protocol, note): the stated protocol, TCP where the notation implies it, else unknown."""
    if row.get("protocol"):
        return row["protocol"], None
    kind, ep, ports = row.get("endpoint_kind"), row.get("endpoint") or "", list(row.get("ports") or [])
    if kind in HOST_KINDS and url_scheme(ep):
        return "tcp", f"TCP implied by the {url_scheme(ep)}:// URL"
    if kind in HOST_KINDS and ports and set(ports) <= WEB_PORTS:
        return "tcp", "TCP implied: a named host on web ports (HTTP/HTTPS)"
    text = " ".join(str(x) for x in (row.get("purpose"), row.get("when"), *(row.get("section") or [])) if x)
    if ports and set(ports) <= WEB_PORTS and _WEB_WORDS.search(text):
        return "tcp", "TCP implied: the page says HTTP/HTTPS"
    return UNKNOWN, "protocol unknown: the page states no protocol for these ports; confirm before allowing"


def is_required(row: dict[str, Any]) -> bool:
    """Requirement pages list what must be allowed: only an explicit ``required: false`` is optional."""
    return row.get("required") is not False


def _norm_purpose(p: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (p or "").lower()).strip()


def set_key(row: dict[str, Any], protocol: str) -> str:
    """What an endpoint set is; its id is allocated once per key."""
    return json.dumps([row["source"], row.get("cloud"), row.get("tab"), row.get("direction"),
                       row.get("required"), protocol, sort_ports(list(row.get("ports") or [])),
                       _norm_purpose(row.get("purpose"))], ensure_ascii=False)


KEY_FIELDS = 8  # source, cloud, tab, direction, required, protocol, ports, purpose


def _same_fields(a: str, b: str) -> int:
    """How many set-key fields two keys share (the most alike vanished set is the predecessor)."""
    return sum(x == y for x, y in zip(json.loads(a), json.loads(b)))


def _overlap(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


SUCCESSION_OVERLAP = 0.5  # share of members a new set must have in common with a vanished one


def _ensure_columns(catalog: Catalog) -> None:
    """Catalogs made by an early build of schema v7 lack ``set_id``/``members``: add them."""
    have = {r[1] for r in catalog.db.execute("PRAGMA table_info(endpoint_sets)")}
    missing = [c for c in ("set_id", "members") if c not in have]
    if missing:
        with catalog._write():
            for c in missing:
                catalog.db.execute(f"ALTER TABLE endpoint_sets ADD COLUMN {c} {'INTEGER' if c == 'set_id' else 'TEXT'}")


def allocate_set_ids(catalog: Catalog, keys: dict[str, str], current: set[str] | None = None,
                     members: dict[str, frozenset] | None = None, order: dict[str, int] | None = None) -> dict[str, int]:
    """Public ids for set keys (key → source).

    A key seen before keeps its id. A new key gets a new id (never one used before), unless it
    *succeeds* a vanished set of the same source: most members in common (a set re-worded, moved
    out of a tab, or given another port keeps its id, as an M365 endpoint set does), or no
    members known and the same key but for its purpose. ``current`` = keys with members now
    (default: all); ``members`` = each key's parties; ``order`` = when each key first appeared
    (the changes feed allocates a whole history in order)."""
    current = set(keys) if current is None else current
    members = members or {}
    order = order or {}
    _ensure_columns(catalog)
    sources = sorted(set(keys.values()))
    table: dict[str, tuple[int, str | None, frozenset]] = {}  # key -> (public id, source, members)
    for i in range(0, len(sources), 200):
        chunk = sources[i:i + 200]
        marks = ",".join("?" for _ in chunk)
        for k, sid, src, mem in catalog.db.execute(
                f"SELECT set_key, coalesce(set_id, id), source, members FROM endpoint_sets WHERE source IN ({marks})", chunk):
            table[k] = (sid, src, frozenset(json.loads(mem)) if mem else frozenset())
    have = {k: table[k][0] for k in keys if k in table}
    missing = [k for k in keys if k not in table]
    stale = [k for k in keys if k in table and members.get(k) and members[k] != table[k][2]]
    if not missing and not stale:
        return have
    from docwatch.catalog_schema import now_iso

    with catalog._write():
        taken = {have[k] for k in current if k in have}  # ids held by sets that have members now
        for k in sorted(missing, key=lambda k: (order.get(k, 0), k in current, k)):
            src, mine = keys[k], members.get(k, frozenset())
            alias, best = None, (0.0, 0, 0)
            for x, (sid, xsrc, xmem) in table.items():
                if xsrc != src or x in current or x == k or sid in taken:
                    continue
                same = _same_fields(x, k)
                score = (_overlap(mine, xmem), same, -sid)
                if (score[0] >= SUCCESSION_OVERLAP or (not mine and not xmem and same == KEY_FIELDS - 1)) and score > best:
                    alias, best = sid, score
            rid = catalog.db.execute(
                "INSERT INTO endpoint_sets (set_key, source, created_at, set_id, members) VALUES (?, ?, ?, ?, ?)",
                (k, src, now_iso(), alias, json.dumps(sorted(mine)) if mine else None)).lastrowid
            have[k] = alias or rid
            table[k] = (have[k], src, mine)
            if k in current or alias:
                taken.add(have[k])
        for k in stale:
            catalog.db.execute("UPDATE endpoint_sets SET members = ? WHERE set_key = ?", (json.dumps(sorted(members[k])), k))
    return have


def _expand_regions(row: dict[str, Any], regions: list[str]) -> list[dict[str, Any]]:
    """One copy per ``--region`` of a rule whose host or tag has a ``<region>`` placeholder."""
    ep, tag = row.get("endpoint") or "", row.get("service_tag") or ""
    if not regions or not (REGION_PLACEHOLDER.search(ep) or REGION_PLACEHOLDER.search(tag)):
        return [row]
    out = []
    for region in regions:
        r = dict(row)
        if ep:
            r["endpoint"] = resolve_region(ep, region)
        if tag:
            r["service_tag"] = resolve_region(tag, region, tag=True)
        r["region"] = region
        out.append(r)
    return out


def select_rows(catalog: Catalog, req: ExportRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """Current (or as-of) rules of the requested sources and cloud; reference sources left out."""
    rows: list[dict[str, Any]] = []
    for src in (req.sources or [None]):
        rows += query_rules(catalog, RuleFilter(source=src, cloud=req.cloud, as_of=req.as_of))
    skipped = sorted({r["source"] for r in rows if r["source"] in req.reference_sources})
    rows = [r for r in rows if r["source"] not in req.reference_sources]
    if req.required_only:
        rows = [r for r in rows if is_required(r)]
    return rows, skipped


def _party(row: dict[str, Any]) -> str:
    return (row.get("endpoint") or row.get("service_tag") or "").lower()


def _current_keys(catalog: Catalog, req: ExportRequest) -> set[str]:
    """Keys of every set in force now, whatever this export filters (a set filtered out of this
    export has not vanished, so no new set may take its id)."""
    return {set_key(r, effective_protocol(r)[0]) for r in query_rules(catalog, RuleFilter())
            if r.get("endpoint_kind") != "role" and r["source"] not in req.reference_sources}


def collect(catalog: Catalog, req: ExportRequest) -> ExportData:
    """Rules → endpoint sets (stable ids) and role rules, for one export request."""
    rows, skipped = select_rows(catalog, req)
    roles = [r for r in rows if r.get("endpoint_kind") == "role"]
    groups: dict[str, list[tuple[dict[str, Any], str, str | None]]] = {}
    for row in rows:
        if row.get("endpoint_kind") == "role":
            continue
        for r in _expand_regions(row, req.regions):
            proto, note = effective_protocol(r)
            groups.setdefault(set_key(r, proto), []).append((r, proto, note))
    ids = allocate_set_ids(catalog, {k: v[0][0]["source"] for k, v in groups.items()},
                           current=set(groups) | _current_keys(catalog, req),
                           members={k: frozenset(_party(m[0]) for m in v) for k, v in groups.items()}
                           if not (req.as_of or req.regions) else None)
    sets = []
    for key, members in groups.items():
        first, proto, _ = members[0]
        es = EndpointSet(id=ids[key], key=key, source=first["source"], cloud=first.get("cloud"), tab=first.get("tab"),
                         direction=first.get("direction"), required=first.get("required"), protocol=proto,
                         ports=sort_ports(list(first.get("ports") or [])), purpose=first.get("purpose"))
        seen = set()
        for r, p, note in sorted(members, key=lambda m: ((m[0].get("endpoint") or "").lower(), m[0].get("service_tag") or "")):
            ident = (r.get("endpoint"), r.get("service_tag"))
            if ident in seen:
                continue
            seen.add(ident)
            es.members.append(Member(r["rule_key"], r.get("endpoint"), r.get("endpoint_kind"), r.get("service_tag"),
                                     list(r.get("ports") or []), p, note, r))
        sets.append(es)
    sets.sort(key=lambda s: s.id)
    data = ExportData(catalog_version(catalog), req, sets, sorted(roles, key=lambda r: (r["source"], r["rule_key"])),
                      skipped_reference=skipped)
    for es in sets:
        if es.protocol == UNKNOWN and es.ports:
            for m in es.members:
                data.warn("protocol-unknown", es.source, m.party,
                          f"ports {','.join(es.ports)} with no stated protocol: listed as protocol unknown, not as TCP+UDP")
    for r in data.roles:
        data.warn("role-needs-addresses", r["source"], r.get("endpoint") or "",
                  "names a role, not an address: needs your own addresses (exported apart)")
    return data


def instances(es: EndpointSet, cloud: str | None) -> list[str]:
    """The clouds a set applies to: its own, or every cloud (or the requested one) when null."""
    if es.cloud:
        return [es.cloud]
    return [cloud] if cloud else list(CLOUDS)


def firewall_host(data: ExportData, es: EndpointSet, m: Member, fmt: str) -> str | None:
    """A member's host as firewalls write it (``host`` or ``*.domain``), or ``None`` with a warning.

    A ``<placeholder>`` that is the leftmost label becomes ``*.`` (the reader's own resource);
    an unresolved ``<region>`` needs ``--region``; a ``*`` inside a label (``*pytorch.org``) or
    a placeholder further right cannot be written as one firewall FQDN."""
    from docwatch.exports.patterns import host_of, is_placeholder_label, labels

    host = host_of(m.endpoint or "")
    labs = labels(host)
    if REGION_PLACEHOLDER.search(host):
        data.warn("unresolved-template", es.source, m.party, f"{fmt}: <region> template not resolved; pass --region")
        return None
    if labs and is_placeholder_label(labs[0]):
        labs[0] = "*"
        data.warn("template-widened", es.source, m.party,
                  f"{fmt}: written as {'.'.join(labs)} (narrow it to your own {m.party.split('.')[0]} if you can)")
    if any(is_placeholder_label(lab) for lab in labs):
        data.warn("template-not-expressible", es.source, m.party, f"{fmt}: a placeholder inside the name cannot be one FQDN")
        return None
    if host == "*" or any("*" in lab for lab in labs[1:]) or ("*" in labs[0] and labs[0] != "*"):
        data.warn("wildcard-not-expressible", es.source, m.party,
                  f"{fmt}: wildcard only as a whole leftmost label ('*.domain') can be expressed")
        return None
    return ".".join(labs)


def region_tag(data: ExportData, es: EndpointSet, m: Member, fmt: str) -> str | None:
    tag = m.service_tag or ""
    if REGION_PLACEHOLDER.search(tag) or "<" in tag:
        data.warn("unresolved-template", es.source, tag, f"{fmt}: regional tag template not resolved; pass --region")
        return None
    return tag


def warn_no_ports(data: ExportData, es: EndpointSet, m: Member, fmt: str) -> bool:
    if es.ports:
        return False
    data.warn("no-ports", es.source, m.party, f"{fmt}: the page states no port; not exported")
    return True
