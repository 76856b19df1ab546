"""``json`` and ``changes-json``: the Microsoft 365 endpoints web service shapes.

``json`` is one document: ``catalogVersion``, ``instances`` (``Worldwide`` / ``USGovernment`` /
``China``, each a list of endpoint sets with the M365 fields ``id``, ``serviceArea``,
``serviceAreaDisplayName``, ``urls``, ``ips``, ``tcpPorts``, ``udpPorts``, ``expressRoute``,
``category``, ``required``, ``notes``, plus docwatch's ``serviceTags``, ``direction`` and, for
ports whose protocol the page does not state, ``unknownProtocolPorts``), ``roleRules`` (parties
that need your own addresses) and ``warnings``. A set whose cloud is null is in every instance.

``changes-json`` is the ``/changes`` shape: one entry per endpoint set per catalog version, with
``id``, ``endpointSetId``, ``disposition`` (``Add`` / ``Change`` / ``Remove``, as M365 spells them), ``impact``, ``version``,
``effectiveDate``, ``add`` / ``remove`` (urls, ips, serviceTags) and, for a change of a member's
other facts, ``previous`` / ``current``. Entries are numbered over the whole history, so an id
never changes; ``--since-version N`` keeps the entries of versions after N.
"""
from __future__ import annotations

import json
from typing import Any

from docwatch.exports.base import (UNKNOWN, ExportData, ExportRequest, allocate_set_ids, effective_protocol, instances,
                                   set_key)

INSTANCES = {"public": "Worldwide", "usgov": "USGovernment", "china": "China"}
ADDRESS_KINDS = ("ip", "cidr", "ip_range")


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _set_item(es) -> dict[str, Any]:
    urls = sorted({m.endpoint for m in es.members if m.endpoint and m.endpoint_kind not in ADDRESS_KINDS})
    ips = sorted({m.endpoint for m in es.members if m.endpoint and m.endpoint_kind in ADDRESS_KINDS})
    tags = sorted({m.service_tag for m in es.members if m.service_tag})
    ports = ",".join(es.ports)
    notes = es.purpose or ""
    item: dict[str, Any] = {
        "id": es.id, "serviceArea": es.source, "serviceAreaDisplayName": es.label,
        "urls": urls, "ips": ips,
        "tcpPorts": ports if es.protocol in ("tcp", "any") else "",
        "udpPorts": ports if es.protocol in ("udp", "any") else "",
        "unknownProtocolPorts": ports if es.protocol == UNKNOWN else "",
        "expressRoute": False,
        "category": "Allow" if es.required is not False else "Default",
        "required": es.required is not False,
        "notes": notes, "serviceTags": tags, "direction": es.direction,
    }
    if es.protocol == UNKNOWN and ports:
        item["notes"] = (notes + " " if notes else "") + "(protocol unknown: the page states no protocol for these ports)"
    keep = ("id", "serviceArea", "serviceAreaDisplayName", "expressRoute", "category", "required")
    return {k: v for k, v in item.items() if k in keep or v not in ("", [], None)}


def render_json(data: ExportData) -> str:
    req = data.request
    doc: dict[str, Any] = {"catalogVersion": data.catalog_version, "instances": {}}
    for code, name in INSTANCES.items():
        if req.cloud and req.cloud != code:
            continue
        mine = [_set_item(es) for es in data.sets if code in instances(es, req.cloud)]
        if mine:
            doc["instances"][name] = mine
    doc["roleRules"] = [{"serviceArea": r["source"], "role": r.get("endpoint"), "source": r.get("traffic_source"),
                         "destination": r.get("traffic_destination"), "ports": ",".join(r.get("ports") or []),
                         "protocol": r.get("protocol"), "direction": r.get("direction"),
                         "notes": "needs your own addresses"} for r in data.roles]
    doc["warnings"] = [w.to_dict() for w in data.warnings]
    if data.skipped_reference:
        doc["referenceSourcesNotExported"] = data.skipped_reference
    return dumps(doc)


# ---------------------------------------------------------------- changes feed

_HISTORY = """SELECT rv.id, rv.rule, rv.version_id, rv.tombstone, so.name AS source, r.rule_key, f.endpoint, f.endpoint_kind,
    f.service_tag, f.ports, f.protocol, f.direction, f.cloud, f.tab, f.required, f."when", f.purpose,
    f.src AS traffic_source, f.dst AS traffic_destination, s.path AS section, v.observed_at
    FROM rule_versions rv JOIN rule_versions f ON f.id = coalesce(rv.facts_rv, rv.id)
    JOIN rules r ON r.id = rv.rule JOIN sources so ON so.id = r.source_id JOIN versions v ON v.id = rv.version_id
    LEFT JOIN sections s ON s.id = f.section_id ORDER BY rv.id"""  # f: a lean tombstone's facts (catalog schema 17)
_OTHER_FACTS = ("endpoint_kind", "when", "traffic_source", "traffic_destination")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["ports"] = json.loads(row["ports"]) if row.get("ports") else []
    row["section"] = json.loads(row["section"]) if row.get("section") else []
    if row.get("required") is not None:
        row["required"] = bool(row["required"])
    return row


def _bucket(members: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, pick in (("urls", lambda m: m.get("endpoint") if m.get("endpoint_kind") not in ADDRESS_KINDS else None),
                       ("ips", lambda m: m.get("endpoint") if m.get("endpoint_kind") in ADDRESS_KINDS else None),
                       ("serviceTags", lambda m: m.get("service_tag"))):
        vals = sorted({v for v in (pick(m) for m in members) if v})
        if vals:
            out[name] = vals
    return out


def _impact(adds: dict, removes: dict, changed: bool) -> str:
    added = set(adds.get("urls", []) + adds.get("ips", []) + adds.get("serviceTags", []))
    removed = set(removes.get("urls", []) + removes.get("ips", []) + removes.get("serviceTags", []))
    if added and removed and added & removed:
        return "MovedIpOrUrl"
    if added and not removed:
        if adds.get("ips") and adds.get("urls"):
            return "AddedIpAndUrl"
        return "AddedIp" if adds.get("ips") else "AddedUrl" if adds.get("urls") else "AddedServiceTag"
    if removed and not added:
        return "RemovedIpOrUrl"
    if added and removed:
        return "AddedAndRemovedIpOrUrl"
    return "OtherNonPriorityChanges" if changed else "None"


def change_entries(catalog, req: ExportRequest) -> tuple[list[dict[str, Any]], int]:
    """The whole change history as ``/changes`` entries (then filtered by the request)."""
    from docwatch.exports.base import catalog_version

    rows = [_decode(r) for r in catalog._all(_HISTORY) if r["source"] not in req.reference_sources
            and r.get("endpoint_kind") != "role"]
    group_version: dict[int, int] = {}
    for r in rows:
        group_version[r["version_id"]] = max(group_version.get(r["version_id"], 0), r["id"])
    keys: dict[str, str] = {}
    prev: dict[int, dict[str, Any]] = {}
    steps = []  # (version, set key, op, row, old row)
    for r in rows:
        old = prev.get(r["rule"])
        old_key = set_key(old, effective_protocol(old)[0]) if old and not old["tombstone"] else None
        new_key = None if r["tombstone"] else set_key(r, effective_protocol(r)[0])
        gv = group_version[r["version_id"]]
        if old_key and old_key != new_key:
            steps.append((gv, old_key, "remove", old, None))
        if new_key and new_key != old_key:
            steps.append((gv, new_key, "add", r, None))
        elif new_key and old_key == new_key:
            steps.append((gv, new_key, "change", r, old))
        for k, row in ((old_key, old), (new_key, r)):
            if k:
                keys[k] = row["source"]
        prev[r["rule"]] = r
    final: dict[str, int] = {}
    ever: dict[str, set[str]] = {}
    first: dict[str, int] = {}
    live: dict[str, set[str]] = {}
    for gv, key, op, row, _ in steps:
        final[key] = final.get(key, 0) + (1 if op == "add" else -1 if op == "remove" else 0)
        party = (row.get("endpoint") or row.get("service_tag") or "").lower()
        ever.setdefault(key, set()).add(party)
        if op == "add":
            live.setdefault(key, set()).add(party)
        elif op == "remove":
            live.setdefault(key, set()).discard(party)
        first.setdefault(key, gv)
    # members: what a set holds now, or for a vanished set everything it ever held
    ids = allocate_set_ids(catalog, keys, current={k for k, n in final.items() if n > 0},
                           members={k: frozenset(live.get(k) or ()) if final.get(k, 0) > 0 else frozenset(v)
                                    for k, v in ever.items()}, order=first)
    count: dict[int, int] = {}
    entries: dict[tuple[int, int], dict[str, Any]] = {}
    for gv, key, op, row, old in steps:
        sid = ids[key]
        e = entries.setdefault((gv, sid), {"adds": [], "removes": [], "changes": [], "before": count.get(sid, 0),
                                           "effectiveDate": row.get("observed_at"), "rows": []})
        e["rows"].append(row)
        if op == "add":
            e["adds"].append(row); count[sid] = count.get(sid, 0) + 1
        elif op == "remove":
            e["removes"].append(row); count[sid] = count.get(sid, 0) - 1
        else:
            diff = {f: (old.get(f), row.get(f)) for f in _OTHER_FACTS if old.get(f) != row.get(f)}
            if diff:
                e["changes"].append((row, diff))
        e["after"] = count.get(sid, 0)
    for e in entries.values():  # a set that only got new wording: its members moved onto themselves
        gone = {(r["rule"]): r for r in e["removes"]}
        for r in list(e["adds"]):
            o = gone.pop(r["rule"], None)
            if o is not None:
                e["adds"].remove(r); e["removes"].remove(o)
                e["changes"].append((r, {"purpose": (o.get("purpose"), r.get("purpose"))}))
    out = []
    for n, ((gv, sid), e) in enumerate(sorted(entries.items()), 1):
        if not (e["adds"] or e["removes"] or e["changes"]):
            continue
        clouds = {r.get("cloud") for r in e["rows"]}
        if req.cloud and not (clouds & {req.cloud, None}):
            continue
        if req.sources and e["rows"][0]["source"] not in req.sources:
            continue
        if gv <= req.since_version:
            continue
        adds, removes = _bucket(e["adds"]), _bucket(e["removes"])
        item: dict[str, Any] = {
            "id": n, "endpointSetId": sid,
            "disposition": "Add" if e["before"] == 0 and e["adds"] else "Remove" if e["after"] == 0 and e["removes"] else "Change",
            "impact": _impact(adds, removes, bool(e["changes"])), "version": gv,
            "serviceArea": e["rows"][0]["source"]}
        if adds:
            item["add"] = {"effectiveDate": e["effectiveDate"], **adds}
        if removes:
            item["remove"] = removes
        if e["changes"]:
            item["previous"] = {f"{r.get('endpoint') or r.get('service_tag')}": {f: v[0] for f, v in d.items()} for r, d in e["changes"]}
            item["current"] = {f"{r.get('endpoint') or r.get('service_tag')}": {f: v[1] for f, v in d.items()} for r, d in e["changes"]}
        out.append(item)
    return out, catalog_version(catalog)


def render_changes(catalog, req: ExportRequest) -> tuple[str, int]:
    entries, version = change_entries(catalog, req)
    return dumps({"catalogVersion": version, "sinceVersion": req.since_version, "changes": entries}), version

