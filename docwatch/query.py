"""Read-side queries over the catalog: current or as-of rules with filters, and the history of
one endpoint or service tag. ``cloud`` includes the rules that name no cloud (they apply to every
cloud) unless ``only_cloud``; ``host`` answers "which rule allows this host" through wildcards and
``<placeholder>`` templates; ``tag`` ``Storage`` also finds ``Storage.<region>`` and ``Storage.EastUS``. Plain SQL on the tables (indexed: ``rules(source_id, rule_key)``,
``rule_versions(rule, valid_from)``, ``rule_ports(port, since)``), so as-of, port and history
queries stay fast on large catalogs.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from docwatch.catalog import Catalog, epoch, parse_time
from docwatch.catalog_schema import ISO_TIME, RULE_SOURCE

_FACTS = """rv.endpoint, rv.endpoint_kind, rv.service_tag,
    rv.src AS traffic_source, rv.dst AS traffic_destination, rv.ports, rv.protocol, rv.direction,
    rv.cloud, rv.tab, rv.required, rv."when", rv.purpose, s.path AS section, rv.tbl AS "table", rv.row"""
_COLUMNS = f"""so.name AS source, r.rule_key, {_FACTS},
    {ISO_TIME.format("rv.valid_from")} AS valid_from, {ISO_TIME.format("rv.valid_to")} AS valid_to,
    rv.tombstone, v.snapshot_id, v.observed_at, v.doc_date, v.doc_commit"""
_FROM = f"""FROM rules r {RULE_SOURCE} JOIN rule_versions rv ON {{join}}
    JOIN versions v ON v.id = rv.version_id LEFT JOIN sections s ON s.id = rv.section_id"""
# the same rows, the rule versions first: when an index already picked them (rv.id IN (...))
_FROM_VERSIONS = f"""FROM rule_versions rv CROSS JOIN rules r ON r.id = rv.rule AND {{join}} {RULE_SOURCE}
    JOIN versions v ON v.id = rv.version_id LEFT JOIN sections s ON s.id = rv.section_id"""


@dataclass
class RuleFilter:
    source: str | None = None
    cloud: str | None = None
    direction: str | None = None
    port: str | None = None
    tag: str | None = None
    endpoint: str | None = None  # glob, case-insensitive; without glob characters: like ``host``
    host: str | None = None  # a host name: rules whose endpoint pattern allows it (``matched_by``)
    only_cloud: bool = False  # strict ``cloud``: leave out the cloud-neutral rules
    as_of: str | None = None  # ISO date/time; a bare date includes the whole day


def port_matches(port: str, ports: list[str]) -> bool:
    """``443`` matches ``443``, a range ``400-500`` and the wildcard ``*``."""
    want = port.strip()
    for p in ports:
        if p == want or p == "*":
            return True
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", p)
        if m and want.isdigit() and int(m.group(1)) <= int(want) <= int(m.group(2)):
            return True
    return False


def _with_ports(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports and heading paths decoded from JSON: each distinct text once (they repeat across
    thousands of rows), each row its own list."""
    import json

    decoded: dict[str, list] = {}

    def decode(text: str | None) -> list:
        if not text:
            return []
        got = decoded.get(text)
        if got is None:
            got = decoded[text] = json.loads(text)
        return list(got)

    for r in rows:
        r["ports"] = decode(r.get("ports"))
        r["section"] = decode(r.get("section"))
        if r.get("required") is not None:
            r["required"] = bool(r["required"])
    return rows


def _port_versions(port: str, at: str | None) -> tuple[str, list]:
    """The rule versions that may allow ``port`` (started by ``at``), from the rule_ports index:
    the port itself, or -1 (ranges, ``*``, other text), which port_matches then decides."""
    since = " AND since <= ?" if at else ""
    num = int(port) if port.isdigit() and len(port) <= 5 else -1
    return f"SELECT rule_version FROM rule_ports WHERE port IN (?, -1){since}", [num] + ([epoch(at)] if at else [])


def _fewer_than_rules(catalog: Catalog, port_sql: str, params: list) -> bool:
    """Whether the index gives fewer candidates than there are rules (a covering-index count):
    for a port nearly every rule has (443), walking the rules once is cheaper."""
    rules = catalog.conn.execute("SELECT coalesce(max(id), 0) FROM rules").fetchone()[0]
    found = catalog.conn.execute(f"SELECT count(*) FROM ({port_sql} LIMIT ?)", (*params, rules + 1)).fetchone()[0]
    return found <= rules


def query_rules(catalog: Catalog, flt: RuleFilter) -> list[dict[str, Any]]:
    """Rules in force now (or at ``flt.as_of``) matching every given filter."""
    where, params = ["rv.tombstone = 0"], []
    if flt.as_of:
        at = parse_time(flt.as_of, end_of_day=True, what="--as-of date")
        join = "rv.rule = r.id AND rv.valid_from <= ? AND (rv.valid_to IS NULL OR rv.valid_to > ?)"
        params += [epoch(at), epoch(at)]
    else:
        join = "rv.id = r.current_rv"
    if flt.source:
        where.append("r.source_id = (SELECT id FROM sources WHERE name = ?)"); params.append(flt.source)
    if flt.cloud:
        where.append("lower(rv.cloud) = lower(?)" if flt.only_cloud else "(rv.cloud IS NULL OR lower(rv.cloud) = lower(?))")
        params.append(flt.cloud)
    if flt.direction:
        where.append("(lower(rv.direction) = lower(?) OR rv.direction = 'both')"); params.append(flt.direction)
    if flt.tag:  # the base name narrows in SQL; tag_matches_query decides
        where.append("(lower(rv.service_tag) = lower(?) OR lower(rv.service_tag) LIKE lower(?) || '.%')")
        params += [flt.tag.split(".", 1)[0]] * 2
    host = flt.host or (flt.endpoint if flt.endpoint and not any(c in flt.endpoint for c in "*?[") else None)
    if flt.endpoint and host is None:
        where.append("lower(rv.endpoint) GLOB lower(?)"); params.append(flt.endpoint)
    if host:
        where.append("rv.endpoint IS NOT NULL")
    frm = _FROM
    want = (flt.port or "").strip()
    if want:
        port_sql, port_params = _port_versions(want, at if flt.as_of else None)
        if not flt.source and _fewer_than_rules(catalog, port_sql, port_params):
            # the rule_ports index picks the versions, which drive the join: no walk of every rule
            where.append(f"rv.id IN ({port_sql})"); params += port_params
            frm = _FROM_VERSIONS
        else:  # one source's rules (or a port nearly every rule has): check each rule's ports
            where.append("EXISTS (SELECT 1 FROM json_each(rv.ports) j WHERE j.value = ? OR j.value = '*' "
                         "OR instr(j.value, '-') > 0)")
            params.append(want)
    sql = f"SELECT {_COLUMNS} {frm.format(join=join)} WHERE {' AND '.join(where)} ORDER BY so.name, r.rule_key"
    rows = _with_ports(catalog._all(sql, tuple(params)))
    if want:  # SQL narrowed; port_matches decides ranges
        rows = [r for r in rows if port_matches(want, r["ports"])]
    if flt.tag:
        from docwatch.exports.patterns import tag_matches_query

        rows = [r for r in rows if tag_matches_query(r["service_tag"], flt.tag)]
    if host:
        rows = _allowing(rows, host)
    return rows


def _allowing(rows: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    """The rules whose endpoint (host, wildcard, URL or template; for an IP address: the IPs,
    CIDRs and ranges holding it) allow ``host``; each gets ``matched_by`` naming the pattern and
    how it matched (exact, wildcard, template, range, any address)."""
    from docwatch.exports.patterns import address_covers, has_placeholder, host_of, ip_net, pattern_covers

    want = host_of(host)
    is_ip = ip_net(want) is not None and want != "*"
    out = []
    for r in rows:
        ep = r["endpoint"]
        if is_ip:  # an address: the IPs, CIDRs and ranges that contain it
            if r.get("endpoint_kind") not in ("ip", "cidr", "ip_range") or not address_covers(ep, want):
                continue
            how = "exact" if ep.strip() == want else "any address" if ep.strip() == "*" else "range"
        elif r.get("endpoint_kind") not in ("fqdn", "wildcard", "url", "template") or not pattern_covers(ep, want):
            continue
        else:
            how = "exact" if host_of(ep) == want else "template" if has_placeholder(ep) else "wildcard"
        r["matched_by"] = {"pattern": ep, "match": how}
        out.append(r)
    return out


def _next(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _glob_lookup(term: str, src_sql: str, src_params: list) -> tuple[str, tuple]:
    """A glob on endpoints as an index range: on the reversed endpoint when the pattern ends in
    literal text (``*.blob.core.windows.net``), on the endpoint when it starts with some
    (``login.*``); the glob itself then only filters that range."""
    t = term.lower()
    cut = [i for i, c in enumerate(t) if c in "*?["]
    prefix, suffix = t[:cut[0]], t[cut[-1] + 1:]
    sql = "SELECT r.id FROM rules r WHERE lower(r.endpoint) GLOB ? " + src_sql
    params: list = [t, *src_params]
    if suffix and len(suffix) >= len(prefix):
        rev = suffix[::-1]
        sql += " AND r.endpoint_rev >= ? AND r.endpoint_rev < ?"
        params += [rev, _next(rev)]
    elif prefix:
        sql += " AND lower(r.endpoint) >= ? AND lower(r.endpoint) < ?"
        params += [prefix, _next(prefix)]
    return sql, tuple(params)


def history(catalog: Catalog, term: str, *, source: str | None = None) -> list[dict[str, Any]]:
    """Every version (tombstones included) of the rules whose endpoint or service tag is
    ``term`` (case-insensitive; a glob when it has ``*``/``?``), else full-text matches."""
    src_sql, src_params = ("AND r.source_id = (SELECT id FROM sources WHERE name = ?)", [source]) if source else ("", [])
    if any(c in term for c in "*?["):
        exact = catalog._all(*_glob_lookup(term, src_sql, src_params))
    else:  # two indexed look-ups (rules(lower(endpoint)), rules(lower(service_tag)))
        exact = catalog._all(
            f"SELECT r.id FROM rules r WHERE lower(r.endpoint) = lower(?) {src_sql} "
            f"UNION SELECT r.id FROM rules r WHERE lower(r.service_tag) = lower(?) {src_sql}",
            (term, *src_params, term, *src_params))
    ids = [r["id"] for r in exact]
    if not ids:
        phrase = '"' + term.replace('"', '""') + '"'
        ids = [r["rowid"] for r in catalog._all(
            f"SELECT f.rowid FROM rules_fts f JOIN rules r ON r.id = f.rowid WHERE rules_fts MATCH ? {src_sql}",
            (phrase, *src_params))]
    if not ids:
        return []
    return _history_rows(catalog, ids)


# history's columns: the times as stored (epoch seconds; ISO text made in Python, once per distinct
# value) and no ORDER BY (a temp B-tree over every row): Python sorts the decoded rows
_HISTORY_COLUMNS = _COLUMNS.replace(ISO_TIME.format("rv.valid_from"), "rv.valid_from").replace(
    ISO_TIME.format("rv.valid_to"), "rv.valid_to") + ", rv.id AS _rv, rv.facts_rv AS _facts"


def _history_rows(catalog: Catalog, ids: list[int]) -> list[dict[str, Any]]:
    """Every version of the rules ``ids``, ordered by source, rule key, start and id (as
    ``ORDER BY so.name, r.rule_key, rv.valid_from, rv.id``: Python's string order is SQLite's
    BINARY order), with times as ISO text and ports/heading paths decoded, each distinct value once."""
    import json

    marks = ",".join("?" for _ in ids)
    cur = catalog.conn.execute(f"SELECT {_HISTORY_COLUMNS} {_FROM.format(join='rv.rule = r.id')} WHERE r.id IN ({marks})",
                               tuple(ids))
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    i_facts = cols.index("_facts")
    lean = {r[i_facts] for r in rows if r[i_facts] is not None}
    if lean:  # lean tombstones (migration 17): the facts of the version each repeats
        first = cols.index("endpoint")
        facts = {f[0]: f[1:] for f in catalog.conn.execute(
            f"SELECT rv.id, {_FACTS} FROM rule_versions rv LEFT JOIN sections s ON s.id = rv.section_id "
            f"WHERE rv.id IN ({','.join('?' for _ in lean)})", tuple(lean))}
        rows = [r if r[i_facts] is None else (*r[:first], *facts[r[i_facts]], *r[first + len(facts[r[i_facts]]):])
                for r in rows]
    i_src, i_key, i_from, i_to, i_id = (cols.index(c) for c in ("source", "rule_key", "valid_from", "valid_to", "_rv"))
    i_ports, i_section, i_req = cols.index("ports"), cols.index("section"), cols.index("required")
    rows.sort(key=lambda r: (r[i_src], r[i_key], r[i_from], r[i_id]))
    iso: dict[Any, Any] = {None: None}
    decoded: dict[Any, list] = {None: [], "": []}

    def stamp(v: Any) -> Any:
        got = iso[v] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v))
        return got

    def parse(v: Any) -> list:
        got = decoded[v] = json.loads(v)
        return got

    out = []
    append = out.append
    keep = [c for c in cols if c not in ("_rv", "_facts")]
    for r in rows:  # unrolled, each distinct time and JSON text converted once: this loop is half of a history query
        d = dict(zip(keep, r))
        v = r[i_from]
        d["valid_from"] = iso[v] if v in iso else stamp(v)
        v = r[i_to]
        d["valid_to"] = iso[v] if v in iso else stamp(v)
        v = r[i_ports]
        d["ports"] = list(decoded[v] if v in decoded else parse(v))
        v = r[i_section]
        d["section"] = list(decoded[v] if v in decoded else parse(v))
        if r[i_req] is not None:
            d["required"] = bool(r[i_req])
        append(d)
    return out
