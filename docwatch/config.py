"""``config.toml`` → typed dataclasses.

One loader, one kind of error: anything wrong (TOML syntax, unknown key, wrong type, bad
URL, host not allowed, duplicate source name) is a :class:`ConfigError` naming the key
and the line it is written on, so the user can go straight to it. A missing default
``config.toml`` gives the built-in defaults (no sources).
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from docwatch.guard import GuardSettings
from docwatch.errors import ConfigError, UsageError

DEFAULT_ALLOWED_HOSTS = ("learn.microsoft.com", "raw.githubusercontent.com", "github.com",
                         "www.microsoft.com", "download.microsoft.com")  # the last two: service-tag files
FORMS = ("markdown", "html")
_NAME_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class SourceConfig:
    """One watched page: its Learn URL and, optionally, its raw markdown URL."""

    name: str
    url: str
    markdown_url: str | None = None
    forms: list[str] = field(default_factory=lambda: list(FORMS))  # preference order
    role: str | None = None  # "reference": tracked and diffed, never exported as allow rules


@dataclass
class ScheduleConfig:
    interval_minutes: float = 360.0
    cron: str | None = None  # crontab expression; wins over interval_minutes when set
    jitter_seconds: int = 300
    misfire_grace_seconds: int = 600


@dataclass
class FetchConfig:
    concurrency: int = 8
    per_host: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # deadline of one whole fetch (retries and redirects included)
    retries: int = 3  # extra attempts after the first
    backoff: float = 1.0  # first retry delay (s); doubles each retry, plus jitter
    backoff_max: float = 30.0
    retry_after_max: float = 60.0  # cap on a server's Retry-After
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    include_depth: int = 3
    keep_suspicious: int = 5  # suspicious bodies (error pages, collapsed extractions) kept per source
    # scrape cycle (docwatch/cycle.py): whole-cycle deadline, parse processes (0/1 = serial),
    # how often a known-missing include is asked for again, fetch-log retention
    cycle_timeout: float = 3600.0
    parse_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    missing_include_recheck_hours: float = 24.0
    fetch_log_days: float = 30.0
    user_agent: str = "docwatch/0.1 (+https://github.com/docwatch/docwatch; network-requirements watcher)"
    allowed_hosts: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS))


@dataclass
class DeadlinesConfig:
    reminders: list = field(default_factory=lambda: [30, 7, 1])  # days before a deadline to remind


@dataclass
class ServiceTagsConfig:
    """One watched "Azure IP Ranges and Service Tags" file (docwatch/servicetags_fetch.py):
    a direct ``json_url`` or the download-center ``page_url`` its weekly link is found on."""

    cloud: str = "public"  # public | usgov | china (required in config.toml)
    json_url: str | None = None
    page_url: str | None = None
    name: str | None = None  # source name; default servicetags-<cloud>
    min_ratio: float = 0.8  # fewer tags or prefixes than this share of the last file's → anomaly
    max_bytes: int = 25_000_000  # size cap of the JSON file (the Public one is about 4 MB)

    @property
    def source(self) -> str:
        return self.name or f"servicetags-{self.cloud}"


SERVICETAG_CLOUDS = ("public", "usgov", "china")
DEFAULT_SERVICETAG_PAGES = {"public": "https://www.microsoft.com/en-us/download/details.aspx?id=56519",
                            "usgov": "https://www.microsoft.com/en-us/download/details.aspx?id=57063",
                            "china": "https://www.microsoft.com/en-us/download/details.aspx?id=57062"}


def default_servicetags() -> list[ServiceTagsConfig]:
    return [ServiceTagsConfig(cloud=c, page_url=DEFAULT_SERVICETAG_PAGES[c]) for c in ("public", "usgov")]


@dataclass
class Config:
    catalog_path: str = "docwatch.db"
    snapshot_dir: str = "snapshots"
    sources: list[SourceConfig] = field(default_factory=list)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    guard: GuardSettings = field(default_factory=GuardSettings)
    deadlines: DeadlinesConfig = field(default_factory=DeadlinesConfig)
    channels: list = field(default_factory=list)
    exports: list = field(default_factory=list)  # [[exports]] entries (ExportConfig), rewritten after a changing cycle
    # [[servicetags]]; a config file without the key gets default_servicetags() (parse_config), a
    # Config built in code watches none unless given
    servicetags: list[ServiceTagsConfig] = field(default_factory=list)
    path: str | None = None  # the file it came from (None: built-in defaults)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise UsageError(f"unknown source {name!r} (known: {known})")


# -- locating a key in the file text ------------------------------------------------------

_HEADER_RX = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_source_name(name: str, key: str | None = None) -> str:
    """Source names are ``[a-z0-9][a-z0-9._-]*``: they name files, URLs and log lines, so no
    newline, slash, ``..`` tricks or upper case."""
    if not isinstance(name, str) or not _SOURCE_NAME.fullmatch(name) or ".." in name:
        where = f"{key}: " if key else ""
        raise UsageError(f"{where}bad source name {name!r}: use lower-case letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit")
    return name


def _split_key(key: str) -> list[str | int]:
    """``sources[2].url`` → ``["sources", 2, "url"]``."""
    out: list[str | int] = []
    for part in key.split("."):
        m = re.match(r"^([^\[]+)((?:\[\d+\])*)$", part)
        if not m:
            out.append(part)
            continue
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def find_line(text: str, key: str) -> int | None:
    """1-based line where ``key`` (dotted, ``sources[1].url`` style) is written, or the line
    of its table header when the key itself is not on a line of its own."""
    want = _split_key(key)
    counters: dict[str, int] = {}
    table: list[str | int] = []
    table_line: dict[tuple, int] = {(): 0}
    best: int | None = None
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER_RX.match(line)
        if m and not line.lstrip().startswith("#"):
            names = [p.strip().strip('"') for p in m.group(2).split(".")]
            if m.group(1) == "[[":
                name = ".".join(names)
                idx = counters.get(name, -1) + 1
                counters[name] = idx
                table = [*names, idx]
            else:
                table = list(_with_indexes(names, counters))
            table_line[tuple(table)] = n
            if table == want:
                best = best or n
            continue
        km = re.match(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=", line)
        if not km:
            continue
        k = [p.strip().strip('"\'') for p in km.group(1).split(".")]
        if [*table, *k] == want:
            return n
        if [*table, *k] == want[: len(table) + len(k)] and len(table) + len(k) < len(want):
            best = best or n  # an inline table / array holding the key
    if best:
        return best
    for cut in range(len(want) - 1, 0, -1):  # fall back to the nearest enclosing table
        if tuple(want[:cut]) in table_line and table_line[tuple(want[:cut])]:
            return table_line[tuple(want[:cut])]
    return None


def _with_indexes(names: list[str], counters: dict[str, int]) -> list[str | int]:
    """``[sources.extra]`` inside the current ``[[sources]]`` element gets its index."""
    out: list[str | int] = []
    for i, n in enumerate(names):
        out.append(n)
        prefix = ".".join(names[: i + 1])
        if prefix in counters and i < len(names) - 1:
            out.append(counters[prefix])
    return out


# -- validation helpers -------------------------------------------------------------------

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}


def _check_type(key: str, value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float) and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", key=key)
    if typ in (int, float) and isinstance(value, bool):
        raise ConfigError(f"expected {_TYPE_NAMES[typ]}, got {value!r}", key=key)
    if not isinstance(value, typ):
        raise ConfigError(f"expected {_TYPE_NAMES.get(typ, typ.__name__)}, got {type(value).__name__} {value!r}", key=key)
    return value


def _unknown(key_prefix: str, data: dict, known: set[str]) -> None:
    for k in data:
        if k not in known:
            full = f"{key_prefix}.{k}" if key_prefix else k
            raise ConfigError(f"unknown key (known keys here: {', '.join(sorted(known))})", key=full)


def _fill(cls, prefix: str, data: Any, overrides: dict[str, Any] | None = None):
    """Build dataclass ``cls`` from a TOML table, checking unknown keys and types."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table, got {type(data).__name__}", key=prefix)
    hints = {f.name: f for f in fields(cls)}
    skip = set(overrides or {})
    _unknown(prefix, data, set(hints) - {"path"})
    kwargs: dict[str, Any] = dict(overrides or {})
    for name, value in data.items():
        if name in skip:
            continue
        default = getattr(cls(), name) if not _needs_args(cls) else None
        typ = _field_type(hints[name].type, default)
        kwargs[name] = _check_type(f"{prefix}.{name}", value, typ)
    return cls(**kwargs)


def _needs_args(cls) -> bool:
    return cls is SourceConfig


def _field_type(annotation: Any, default: Any) -> type:
    text = str(annotation)
    for name, typ in (("bool", bool), ("float", float), ("int", int), ("list", list), ("str", str)):
        if text.startswith(name):
            return typ
    if default is not None:
        return type(default)
    return str


DEFAULT_PORTS = {"https": 443, "http": 80}


def url_port(parts) -> int:
    """The port a split URL connects to (its scheme's default when none is written);
    ``ValueError`` for a malformed port."""
    return parts.port or DEFAULT_PORTS.get(parts.scheme, 443)


def allowed_entry(entry: str) -> tuple[str, int | None]:
    """``host``, ``*.host``, ``host:port``, ``1.2.3.4:port``, ``[::1]:port`` → (host, port or None)."""
    e = entry.strip().lower().rstrip(".")
    if e.startswith("["):
        host, _, rest = e[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if e.count(":") == 1:
        host, _, port = e.partition(":")
        if port.isdigit():
            return host.rstrip("."), int(port)
    return e, None


def host_allowed(host: str, allowed: list[str], port: int | None = None, scheme: str = "https") -> bool:
    """Host and port match an entry: exact host or ``*.example.com`` for subdomains (never
    an IP address); an entry without a port admits only the scheme's default port (443 for
    https, 80 for http), ``host:port`` admits that port. ``port`` None means the default."""
    host = (host or "").lower().rstrip(".").strip("[]")
    want = port if port is not None else DEFAULT_PORTS.get(scheme, 443)
    is_ip = _is_ip(host)
    for entry in allowed:
        a, a_port = allowed_entry(entry)
        if (a_port if a_port is not None else DEFAULT_PORTS.get(scheme, 443)) != want:
            continue
        if host == a or (not is_ip and a.startswith("*.") and host.endswith(a[1:])):
            return True
    return False


def check_url(url: str, allowed: list[str], key: str) -> str:
    try:
        parts = urlsplit(url)
        port = url_port(parts)
    except ValueError:
        raise ConfigError(f"malformed URL {url!r}", key=key) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not an http(s) URL: {url!r}", key=key)
    if not host_allowed(parts.hostname, allowed, port, parts.scheme):
        shown = f"{parts.hostname}:{port}" if port != DEFAULT_PORTS[parts.scheme] else parts.hostname
        raise ConfigError(
            f"host {shown!r} is not in fetch.allowed_hosts ({', '.join(allowed)})", key=key)
    return url


# -- the loader ---------------------------------------------------------------------------

TOP_KEYS = {"exports", "catalog_path", "snapshot_dir", "sources", "schedule", "fetch", "guard", "alerts", "deadlines",
            "servicetags"}


def parse_config(data: dict, *, base: Path | None = None) -> Config:
    """Validate an already-parsed TOML document (raises ConfigError with ``key`` set)."""
    _unknown("", data, TOP_KEYS)
    cfg = Config()
    for k in ("catalog_path", "snapshot_dir"):
        if k in data:
            setattr(cfg, k, _check_type(k, data[k], str))
    if "schedule" in data:
        cfg.schedule = _fill(ScheduleConfig, "schedule", data["schedule"])
        _validate_schedule(cfg.schedule)
    if "fetch" in data:
        cfg.fetch = _fill(FetchConfig, "fetch", data["fetch"])
        _validate_fetch(cfg.fetch)
    if "guard" in data:
        cfg.guard = _fill(GuardSettings, "guard", data["guard"])
        _validate_guard(cfg.guard)
    if "deadlines" in data:
        cfg.deadlines = _fill(DeadlinesConfig, "deadlines", data["deadlines"])
        for i, d in enumerate(cfg.deadlines.reminders):
            if isinstance(d, bool) or not isinstance(d, int) or d < 0:
                raise ConfigError(f"expected a whole number of days >= 0, got {d!r}", key=f"deadlines.reminders[{i}]")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("expected [[sources]] tables (an array of tables)", key="sources")
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_sources):
        src = _parse_source(i, raw, cfg.fetch.allowed_hosts)
        if src.name in seen:
            raise ConfigError(f"duplicate source name {src.name!r} (also used by sources[{seen[src.name]}])",
                              key=f"sources[{i}].name")
        seen[src.name] = i
        cfg.sources.append(src)
    if "servicetags" in data:
        cfg.servicetags = _parse_servicetags(data["servicetags"], cfg.fetch.allowed_hosts)
    else:  # the defaults, where allowed_hosts lets them be fetched
        cfg.servicetags = [e for e in default_servicetags()
                           if host_allowed(urlsplit(e.page_url).hostname, cfg.fetch.allowed_hosts)]
    cfg.exports = _parse_exports(data.get("exports", []))
    alerts = data.get("alerts", {})
    if not isinstance(alerts, dict):
        raise ConfigError("expected a table", key="alerts")
    cfg.channels = _parse_channels(alerts)
    return cfg


def _parse_source(i: int, raw: Any, allowed: list[str]) -> SourceConfig:
    key = f"sources[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError("expected a table", key=key)
    _unknown(key, raw, {"name", "url", "markdown_url", "forms", "role"})
    for req in ("name", "url"):
        if req not in raw:
            raise ConfigError(f"missing required key {req!r}", key=key)
    name = _check_type(f"{key}.name", raw["name"], str)
    try:
        check_source_name(name)
    except UsageError as exc:
        raise ConfigError(str(exc), key=f"{key}.name") from None
    url = check_url(_check_type(f"{key}.url", raw["url"], str), allowed, f"{key}.url")
    md = raw.get("markdown_url")
    if md is not None:
        md = check_url(_check_type(f"{key}.markdown_url", md, str), allowed, f"{key}.markdown_url")
    forms = raw.get("forms", list(FORMS))
    forms = _check_type(f"{key}.forms", forms, list)
    if not forms or any(f not in FORMS for f in forms) or len(set(forms)) != len(forms):
        raise ConfigError(f"forms must be a non-empty list of distinct values from {list(FORMS)}, got {forms!r}",
                          key=f"{key}.forms")
    role = raw.get("role")
    if role is not None and role not in SOURCE_ROLES:
        raise ConfigError(f"role must be one of {list(SOURCE_ROLES)}, got {role!r}", key=f"{key}.role")
    return SourceConfig(name=name, url=url, markdown_url=md, forms=list(forms), role=role)


SOURCE_ROLES = ("reference",)
EXPORT_OPTIONS = {"cloud": str, "sources": list, "required_only": bool, "as_of": str, "regions": list,
                  "since_version": int, "pac_route": str, "pac_default": str, "policy_name": str, "priority": int}


@dataclass
class ExportConfig:
    """One ``[[exports]]`` entry: a file the daemon rewrites (atomically) after a changing cycle."""

    format: str
    path: str
    options: dict = field(default_factory=dict)


def _parse_exports(raw: Any) -> list[ExportConfig]:
    from docwatch.exports import FORMATS

    if not isinstance(raw, list):
        raise ConfigError("expected [[exports]] tables (an array of tables)", key="exports")
    out: list[ExportConfig] = []
    for i, e in enumerate(raw):
        key = f"exports[{i}]"
        if not isinstance(e, dict):
            raise ConfigError("expected a table", key=key)
        _unknown(key, e, {"format", "path", "options"})
        for req in ("format", "path"):
            if req not in e:
                raise ConfigError(f"missing required key {req!r}", key=key)
        fmt = _check_type(f"{key}.format", e["format"], str)
        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})", key=f"{key}.format")
        opts = e.get("options", {})
        if not isinstance(opts, dict):
            raise ConfigError("expected a table", key=f"{key}.options")
        _unknown(f"{key}.options", opts, set(EXPORT_OPTIONS))
        for k, typ in EXPORT_OPTIONS.items():
            if k in opts:
                _check_type(f"{key}.options.{k}", opts[k], typ)
        if opts.get("cloud") not in (None, "public", "usgov", "china"):
            raise ConfigError(f"cloud must be public, usgov or china, got {opts['cloud']!r}", key=f"{key}.options.cloud")
        if "priority" in opts and not 100 <= opts["priority"] <= 65000:
            raise ConfigError("must be between 100 and 65000 (Azure Firewall priorities)", key=f"{key}.options.priority")
        if fmt == "pac" and not opts.get("pac_default"):
            raise ConfigError("a pac export needs options.pac_default (e.g. 'PROXY proxy:8080')", key=f"{key}.options")
        out.append(ExportConfig(format=fmt, path=_check_type(f"{key}.path", e["path"], str), options=dict(opts)))
    return out


def _parse_servicetags(raw: Any, allowed: list[str]) -> list[ServiceTagsConfig]:
    """``[[servicetags]]`` entries: ``cloud`` plus exactly one of ``json_url`` / ``page_url``."""
    if not isinstance(raw, list):
        raise ConfigError("expected [[servicetags]] tables (an array of tables)", key="servicetags")
    out: list[ServiceTagsConfig] = []
    for i, entry in enumerate(raw):
        key = f"servicetags[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError("expected a table", key=key)
        if "cloud" not in entry:
            raise ConfigError(f"missing required key 'cloud' (one of {', '.join(SERVICETAG_CLOUDS)})", key=key)
        st = _fill(ServiceTagsConfig, key, entry, overrides={"cloud": entry["cloud"]})
        if st.cloud not in SERVICETAG_CLOUDS:
            raise ConfigError(f"cloud must be one of {', '.join(SERVICETAG_CLOUDS)}, got {st.cloud!r}", key=f"{key}.cloud")
        if (st.json_url is None) == (st.page_url is None):
            raise ConfigError("give exactly one of json_url (the file) or page_url (its download-center page)", key=key)
        for k in ("json_url", "page_url"):
            if getattr(st, k) is not None:
                check_url(getattr(st, k), allowed, f"{key}.{k}")
        if st.name is not None and not _NAME_RX.match(st.name):
            raise ConfigError(f"source name {st.name!r} must be letters, digits, '.', '_' or '-'", key=f"{key}.name")
        if not 0 < st.min_ratio <= 1:
            raise ConfigError(f"must be > 0 and <= 1, got {st.min_ratio!r}", key=f"{key}.min_ratio")
        if st.max_bytes < 1:
            raise ConfigError("must be >= 1", key=f"{key}.max_bytes")
        for j, other in enumerate(out):
            if other.cloud == st.cloud or other.source == st.source:
                raise ConfigError(f"cloud {st.cloud!r} / source {st.source!r} already watched by servicetags[{j}]",
                                  key=f"{key}.cloud")
        out.append(st)
    return out


def _validate_schedule(s: ScheduleConfig) -> None:
    if s.cron:
        from docwatch.schedule import cron_trigger

        try:
            cron_trigger(s.cron)
        except ValueError as exc:
            raise ConfigError(f"invalid cron expression {s.cron!r}: {exc}", key="schedule.cron") from None
    else:
        s.cron = None
    if s.interval_minutes <= 0:
        raise ConfigError("must be > 0", key="schedule.interval_minutes")
    for k in ("jitter_seconds", "misfire_grace_seconds"):
        if getattr(s, k) < 0:
            raise ConfigError("must be >= 0", key=f"schedule.{k}")


# Ceilings: a value past these is a typo (minutes for seconds, an extra zero), not a wish.
_FETCH_MAX = {"concurrency": 256, "per_host": 64, "retries": 20, "max_redirects": 20, "include_depth": 20,
              "keep_suspicious": 10_000, "max_bytes": 1_000_000_000, "connect_timeout": 3600,
              "read_timeout": 3600, "total_timeout": 86400, "backoff": 3600, "backoff_max": 86400,
              "retry_after_max": 86400}


def _validate_guard(g: GuardSettings) -> None:
    """Ratios are shares of a page (0..1); a negative count would disable the guard unseen."""
    for k in ("min_table_ratio", "max_removed_ratio"):
        v = getattr(g, k, None)
        if v is not None and not 0 <= v <= 1:
            raise ConfigError(f"must be between 0 and 1 (a share of the last accepted version), got {v!r}",
                              key=f"guard.{k}")
    for k, v in vars(g).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise ConfigError(f"must be >= 0, got {v!r}", key=f"guard.{k}")


def _validate_fetch(f: FetchConfig) -> None:
    for k, most in _FETCH_MAX.items():
        v = getattr(f, k, None)
        if isinstance(v, (int, float)) and v > most:
            raise ConfigError(f"{v!r} is out of range (at most {most})", key=f"fetch.{k}")
    if f.keep_suspicious < 0:
        raise ConfigError("must be >= 0", key="fetch.keep_suspicious")
    for k in ("concurrency", "per_host", "max_bytes"):
        if getattr(f, k) < 1:
            raise ConfigError("must be >= 1", key=f"fetch.{k}")
    for k in ("retries", "max_redirects", "include_depth", "backoff", "backoff_max", "retry_after_max"):
        if getattr(f, k) < 0:
            raise ConfigError("must be >= 0", key=f"fetch.{k}")
    for k in ("parse_workers", "missing_include_recheck_hours", "fetch_log_days"):
        if getattr(f, k) < 0:
            raise ConfigError("must be >= 0", key=f"fetch.{k}")
    for k in ("connect_timeout", "read_timeout", "total_timeout", "cycle_timeout"):
        if getattr(f, k) <= 0:
            raise ConfigError("must be > 0", key=f"fetch.{k}")
    for i, h in enumerate(f.allowed_hosts):
        host, port = allowed_entry(h) if isinstance(h, str) else ("", None)
        if (not host or "/" in host or "@" in host or ":" in host and not _is_ip(host)
                or port is not None and not 0 < port < 65536):
            raise ConfigError(f"expected a host name, optionally with :port (no scheme or path), got {h!r}",
                              key=f"fetch.allowed_hosts")


def _is_ip(h: str) -> bool:
    try:
        ipaddress.ip_address(h.strip("[]"))
        return True
    except ValueError:
        return False


def _parse_channels(alerts: dict) -> list:
    from docwatch.alerts.config import parse_channels

    try:
        return parse_channels(alerts)
    except ConfigError as exc:
        key = exc.key or "alerts"
        if not key.startswith("alerts"):
            key = f"alerts.{key}"
        raise ConfigError(exc.message, key=key, line=exc.line) from None


def load_config(path: Path, required: bool = False) -> Config:
    """Read and validate ``path``; missing and not required → built-in defaults."""
    path = Path(path)
    if not path.exists():
        if required:
            raise ConfigError("config file not found", path=str(path))
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot read config file ({detail})", path=str(path)) from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError("TOML nesting is too deep (arrays or tables nested hundreds of levels)",
                          path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(f"TOML syntax error: {msg}", line=line, path=str(path)) from None
    try:
        cfg = parse_config(data)
    except RecursionError:
        raise ConfigError("config nesting is too deep", path=str(path)) from None
    except ConfigError as exc:
        line = exc.line or (find_line(text, exc.key) if exc.key else None)
        raise ConfigError(exc.message, key=exc.key, line=line, path=str(path)) from None
    cfg.path = str(path)
    return cfg
