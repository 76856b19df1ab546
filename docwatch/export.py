"""Export current rules as CSV or as JSON in the Microsoft 365 endpoints web-service shape.

JSON is ONE document keyed by cloud instance, ``{"Worldwide": [...], "USGovernment": [...],
"China": [...]}`` (only instances that have rules; ``--cloud`` keeps one). Each value is a
list of endpoint sets like https://endpoints.office.com returns: ``id``, ``serviceArea``
(= docwatch source name), ``serviceAreaDisplayName``, ``urls``, ``ips``, ``tcpPorts``
("80,443"), ``udpPorts``, ``expressRoute`` (false), ``category`` ("Allow" for required rules,
"Default" otherwise), ``required``, ``notes`` - plus two docwatch extensions: ``serviceTags``
and ``direction``. Rules sharing source, tab, direction, ports, required and purpose form one
set. Rules that name no cloud (the page is not cloud-specific) are listed in every instance.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

INSTANCES = {"public": "Worldwide", "usgov": "USGovernment", "china": "China"}
CSV_COLUMNS = ("source", "cloud", "tab", "direction", "endpoint", "endpoint_kind", "service_tag", "ports",
               "protocol", "required", "when", "purpose", "traffic_source", "traffic_destination",
               "rule_key", "valid_from", "doc_date", "doc_commit")


def _ports(rows: list[dict[str, Any]], protos: tuple[str, ...]) -> str:
    seen: list[str] = []
    for r in rows:
        if (r.get("protocol") or "any") in protos or (r.get("protocol") is None and "tcp" in protos):
            for p in r["ports"]:
                if p not in seen:
                    seen.append(p)
    return ",".join(seen)


def endpoint_sets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["source"], r.get("tab"), r.get("direction"), tuple(r["ports"]), r.get("required"), r.get("purpose"))
        groups.setdefault(key, []).append(r)
    out = []
    for i, ((source, tab, direction, _ports_key, required, purpose), members) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0])), 1):
        urls = sorted({m["endpoint"] for m in members if m.get("endpoint") and m.get("endpoint_kind") not in ("ip", "cidr")})
        ips = sorted({m["endpoint"] for m in members if m.get("endpoint") and m.get("endpoint_kind") in ("ip", "cidr")})
        tags = sorted({m["service_tag"] for m in members if m.get("service_tag")})
        item: dict[str, Any] = {
            "id": i,
            "serviceArea": source,
            "serviceAreaDisplayName": source + (f" ({tab})" if tab else ""),
            "urls": urls, "ips": ips,
            "tcpPorts": _ports(members, ("tcp", "any")),
            "udpPorts": _ports(members, ("udp", "any")),
            "expressRoute": False,
            "category": "Allow" if required else "Default",
            "required": bool(required),
            "notes": purpose or "",
            "serviceTags": tags,
            "direction": direction,
        }
        out.append({k: v for k, v in item.items() if v not in ("", []) or k in ("urls", "id", "required", "expressRoute")})
    return out


def to_m365_json(rows: list[dict[str, Any]], cloud: str | None = None) -> dict[str, list[dict[str, Any]]]:
    doc: dict[str, list[dict[str, Any]]] = {}
    for code, name in INSTANCES.items():
        if cloud and cloud != code:
            continue
        mine = [r for r in rows if r.get("cloud") in (code, None)]
        if mine:
            doc[name] = endpoint_sets(mine)
    return doc


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([",".join(r["ports"]) if c == "ports" else ("" if r.get(c) is None else r.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def dumps_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
