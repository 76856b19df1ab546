"""Exports: the catalog as files firewalls, proxies and firewall-as-code pipelines consume.

:data:`FORMATS` is the registry (name → one-line description); :func:`run_export` renders one
format for one :class:`~docwatch.exports.base.ExportRequest`; :func:`write_configured_exports`
rewrites every ``[[exports]]`` entry of config.toml atomically (write, then rename), for the
daemon to call after a cycle that changed something. Format modules are imported lazily so
``docwatch.query`` can use :mod:`docwatch.exports.patterns` without a cycle.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from docwatch.errors import UsageError

log = logging.getLogger(__name__)

FORMATS = {
    "json": "Microsoft 365 endpoints shape (endpoint sets with stable ids, per cloud instance)",
    "changes-json": "Microsoft 365 /changes shape (--since-version N)",
    "csv": "one row per rule, with its endpoint set id",
    "azure-firewall": "ARM template: Microsoft.Network/firewallPolicies/ruleCollectionGroups",
    "nsg": "ARM template: Microsoft.Network/networkSecurityGroups securityRules",
    "edl-urls": "external dynamic list of host names / URLs, one per line",
    "edl-ips": "external dynamic list of IPs / CIDRs / ranges (service tags resolved when known)",
    "pac": "proxy auto-config file (--pac-route for listed hosts, --pac-default for the rest)",
}


def run_export(catalog, req):
    """Render ``req.format`` from ``catalog``: an :class:`ExportResult` (text, version, warnings)."""
    from docwatch.exports import azfw, lists, m365, nsg
    from docwatch.exports.base import ExportResult, collect

    if req.format not in FORMATS:
        raise UsageError(f"unknown export format {req.format!r} (known: {', '.join(FORMATS)})")
    if req.format == "pac" and not req.pac_default:
        raise UsageError("--format pac needs --pac-default (where hosts not listed go, e.g. 'PROXY proxy:8080')")
    if req.format == "changes-json":
        text, version = m365.render_changes(catalog, req)
        return ExportResult(req.format, text, version, [])
    data = collect(catalog, req)
    render = {"json": m365.render_json, "csv": lists.render_csv, "azure-firewall": azfw.render, "nsg": nsg.render,
              "edl-urls": lists.render_edl_urls, "pac": lists.render_pac,
              "edl-ips": lambda d: lists.render_edl_ips(d, catalog)}[req.format]
    text = render(data)
    return ExportResult(req.format, text, data.catalog_version, list(data.warnings))


def atomic_write(path: Path, text: str) -> None:
    """Write beside ``path`` then rename over it, so a poller never reads half a file."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent or "."))
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None


def request_from_config(entry, cfg):
    """An :class:`ExportRequest` for one ``[[exports]]`` entry."""
    from docwatch.exports.base import ExportRequest

    o = dict(entry.options)
    return ExportRequest(format=entry.format, cloud=o.get("cloud"), sources=list(o.get("sources", [])),
                         required_only=bool(o.get("required_only", False)), as_of=o.get("as_of"),
                         regions=list(o.get("regions", [])), since_version=int(o.get("since_version", 0)),
                         pac_route=o.get("pac_route", "DIRECT"), pac_default=o.get("pac_default"),
                         policy_name=o.get("policy_name", "docwatch"), priority=int(o.get("priority", 500)),
                         reference_sources=reference_sources(cfg))


def reference_sources(cfg) -> set[str]:
    return {s.name for s in getattr(cfg, "sources", []) if getattr(s, "role", None) == "reference"}


def write_configured_exports(cfg, catalog) -> list[Path]:
    """Rewrite every ``[[exports]]`` file from ``catalog`` (atomically); the paths written.
    An entry that cannot be written is logged as an error and skipped."""
    from docwatch.errors import DocwatchError

    written = []
    for entry in getattr(cfg, "exports", []):
        path = Path(entry.path)
        try:  # one bad entry (unwritable path) must not keep the others stale
            res = run_export(catalog, request_from_config(entry, cfg))
            atomic_write(path, res.text)
        except DocwatchError as exc:
            log.error("export %s (%s) not written: %s", path, entry.format, exc)
            continue
        for w in res.warnings:
            log.info("export %s: %s", path, w.line())
        log.info("export %s: %s, catalog version %d, %d warnings", path, entry.format, res.catalog_version,
                 len(res.warnings))
        written.append(path)
    return written
