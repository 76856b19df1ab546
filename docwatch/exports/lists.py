"""Plain lists firewalls and proxies poll: ``edl-urls``, ``edl-ips`` (PAN-OS external dynamic
lists: one entry per line, nothing else) and ``pac`` (a proxy auto-config file), plus ``csv``.

EDL URL entries drop the scheme and port (``*`` only as a whole label: ``*.example.com``); IP
entries are IPs, CIDRs or ``a-b`` ranges, service tags resolved to their prefixes when the
catalog holds service-tag data. The lists carry no comment lines (a firewall would reject
them as entries): their catalog version and warnings go to stderr. The PAC file names them in
its header comment.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3

from docwatch.exports.base import ExportData, firewall_host
from docwatch.exports.patterns import REGION_PLACEHOLDER, host_of, ip_net, is_placeholder_label, labels

log = logging.getLogger(__name__)
HOST_KINDS = ("fqdn", "wildcard", "url", "template")


def _url_entry(data: ExportData, es, m) -> str | None:
    host = firewall_host(data, es, m, "edl-urls")
    if host is None:
        return None
    ep = m.endpoint or ""
    path = ep.split("://", 1)[-1].partition("/")[2] if m.endpoint_kind == "url" else ""
    return host + ("/" + path.rstrip("/") if path.strip("/") else "")


def _web(data: ExportData, es, m, fmt: str) -> bool:
    """URL lists and PAC files steer web traffic: a UDP-only requirement is not theirs."""
    if es.protocol == "udp":
        data.warn("not-web", es.source, m.party, f"{fmt}: UDP only; a firewall rule, not a web list entry")
        return False
    return True


def render_edl_urls(data: ExportData) -> str:
    out = set()
    for es in data.sets:
        for m in es.members:
            if m.endpoint_kind in HOST_KINDS and _web(data, es, m, "edl-urls"):
                e = _url_entry(data, es, m)
                if e:
                    out.add(e)
    return "".join(f"{e}\n" for e in sorted(out))


def _resolve_tag(catalog, data: ExportData, es, tag: str) -> list[str]:
    """Prefixes of a service tag from the catalog's service-tag data (``docwatch.catalog_tags``)."""
    try:
        from docwatch.catalog_tags import resolve_tag
    except ImportError:
        resolve_tag = None
    prefixes: list[str] = []
    if resolve_tag is not None:
        try:
            got = resolve_tag(catalog, tag, es.cloud or data.request.cloud or "public", data.request.regions,
                              data.request.as_of)
            prefixes = [str(p) for p in (got or [])]
        except sqlite3.OperationalError as exc:  # service-tag tables not there yet
            log.info("service-tag data unavailable: %s", exc)
    if not prefixes:
        data.warn("tag-unresolved", es.source, tag, "edl-ips: no service-tag prefixes in the catalog for this tag")
    return prefixes


def render_edl_ips(data: ExportData, catalog) -> str:
    out: set[str] = set()
    for es in data.sets:
        for m in es.members:
            if m.endpoint_kind in HOST_KINDS:
                continue
            if m.endpoint:
                if m.endpoint_kind != "ip_range" and (ip_net(m.endpoint) is None or ip_net(m.endpoint).prefixlen == 0):
                    data.warn("address-not-listed", es.source, m.party, "edl-ips: 'any address' is not a list entry")
                    continue
                out.add(m.endpoint.replace(" ", ""))
            elif m.service_tag:
                if REGION_PLACEHOLDER.search(m.service_tag) or "<" in m.service_tag:
                    data.warn("unresolved-template", es.source, m.service_tag, "edl-ips: pass --region to resolve")
                    continue
                out.update(_resolve_tag(catalog, data, es, m.service_tag))
    return "".join(f"{e}\n" for e in sorted(out, key=_ip_sort))


def _ip_sort(e: str):
    n = ip_net(e.split("-")[0])
    return (n.version, int(n.network_address), n.prefixlen, e) if n else (9, 0, 0, e)


def _pac_pattern(m) -> str | None:
    """A ``shExpMatch`` pattern: placeholders become ``*`` (PAC globs may span labels)."""
    labs = ["*" if is_placeholder_label(lab) else lab for lab in labels(host_of(m.endpoint or ""))]
    return ".".join(labs) if labs else None


def render_pac(data: ExportData) -> str:
    req = data.request
    exact: set[str] = set()
    globs: set[str] = set()
    for es in data.sets:
        for m in es.members:
            if m.endpoint_kind not in HOST_KINDS:
                data.warn("address-not-in-pac", es.source, m.party, "pac: a PAC file routes by host name; not listed")
                continue
            if not _web(data, es, m, "pac"):
                continue
            pat = _pac_pattern(m)
            if not pat or pat == "*":
                continue
            if "*" in pat:
                globs.add(pat)
            else:
                exact.add(pat)
    head = [f"// docwatch proxy auto-config; catalog version {data.catalog_version}",
            f"// listed hosts -> {req.pac_route}; everything else -> {req.pac_default}"]
    head += [f"// warning: {w.line()}" for w in data.warnings]
    body = ["function FindProxyForURL(url, host) {",
            "  host = host.toLowerCase();",
            f"  var exact = {json.dumps(sorted(exact))};",
            f"  var globs = {json.dumps(sorted(globs))};",
            "  for (var i = 0; i < exact.length; i++) { if (host == exact[i]) return " + json.dumps(req.pac_route) + "; }",
            "  for (var j = 0; j < globs.length; j++) { if (shExpMatch(host, globs[j])) return " + json.dumps(req.pac_route) + "; }",
            f"  return {json.dumps(req.pac_default)};",
            "}"]
    return "\n".join(head + body) + "\n"


CSV_COLUMNS = ("catalog_version", "endpoint_set_id", "source", "cloud", "tab", "direction", "endpoint", "endpoint_kind", "service_tag",
               "ports", "protocol", "protocol_note", "required", "when", "purpose", "traffic_source",
               "traffic_destination", "rule_key", "valid_from", "doc_date", "doc_commit")


def render_csv(data: ExportData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    rows = []
    for es in data.sets:
        for m in es.members:
            r = dict(m.row, catalog_version=data.catalog_version, endpoint_set_id=es.id, protocol=m.protocol, protocol_note=m.protocol_note or "")
            rows.append(r)
    for r in data.roles:
        rows.append(dict(r, catalog_version=data.catalog_version, endpoint_set_id="", protocol=r.get("protocol") or "",
                         protocol_note="role: needs your own addresses"))
    for r in rows:
        w.writerow([",".join(r["ports"]) if c == "ports" else ("" if r.get(c) is None else r.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()
