"""Alert channels from config.toml's ``[alerts]`` section.

Each ``[alerts.<name>]`` table is one channel with a ``kind`` (slack, teams, webhook,
email, atom), optional filters (``sources``, ``clouds``, ``min_severity``) and its
kind's settings. Secrets (webhook URLs that embed tokens, HMAC secrets, SMTP passwords)
come from environment variables named by ``*_env`` keys and are read only when a message
is sent, so they never sit in the config object, the catalog or a log line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from docwatch.errors import ConfigError, DocwatchError

SEVERITIES = ("info", "low", "medium", "high")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
KINDS = ("slack", "teams", "webhook", "email", "atom")
_NAME_RX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_RX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def mask_url(url: str | None) -> str:
    """Scheme and host only: webhook URLs carry their token in the path or query."""
    if not url:
        return "-"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/***" if parts.scheme else "***"


@dataclass(kw_only=True)
class Channel:
    """What every channel has: a name, a kind, filters and a retry policy."""

    name: str
    kind: str
    sources: tuple[str, ...] = ()  # empty: every source
    clouds: tuple[str, ...] = ()  # empty: every cloud; events naming no cloud always pass
    min_severity: str = "low"  # "info" events only reach channels that ask for them
    max_items: int = 25  # change lines shown in one digest before "… and N more changes"
    max_attempts: int = 8  # then the delivery is "failed" until `docwatch alerts retry`
    retry_base_seconds: float = 30.0  # backoff: base * 2**(attempts-1), capped at retry_max_seconds
    retry_max_seconds: float = 3600.0
    enabled: bool = True

    def accepts(self, event) -> bool:
        """Channel filters: source, cloud (cloud-less events pass), minimum severity."""
        if self.sources and event.source not in self.sources:
            return False
        if self.clouds and event.cloud and event.cloud not in self.clouds:
            return False
        return SEVERITY_RANK.get(event.severity or "low", 1) >= SEVERITY_RANK[self.min_severity]

    def secrets(self) -> list[str]:
        """Every secret value this channel can currently resolve (used to redact errors)."""
        return []

    def describe(self) -> str:
        return self.kind


def _env(var: str, key: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise DocwatchError(f"environment variable {var} ({key}) is not set")
    return value


@dataclass(kw_only=True)
class HttpChannel(Channel):
    """Slack, Teams and generic webhooks: POST JSON to a URL (inline or from ``url_env``)."""

    url: str | None = field(default=None, repr=False)
    url_env: str | None = None
    timeout: float = 10.0

    def resolve_url(self) -> str:
        return self.url or _env(self.url_env or "", f"alerts.{self.name}.url_env")

    def secrets(self) -> list[str]:
        url = self.url or os.environ.get(self.url_env or "", "")
        return [url] if url else []

    def describe(self) -> str:
        return f"{self.kind} → {mask_url(self.url) if self.url else '$' + str(self.url_env)}"

    def __repr__(self) -> str:  # the URL itself is a secret for Slack/Teams
        return f"{type(self).__name__}(name={self.name!r}, url={mask_url(self.url) if self.url else None!r}, url_env={self.url_env!r})"


@dataclass(kw_only=True, repr=False)
class SlackChannel(HttpChannel):
    pass


@dataclass(kw_only=True, repr=False)
class TeamsChannel(HttpChannel):
    pass


@dataclass(kw_only=True, repr=False)
class WebhookChannel(HttpChannel):
    secret_env: str  # HMAC-SHA256 key for X-Docwatch-Signature

    def resolve_secret(self) -> str:
        return _env(self.secret_env, f"alerts.{self.name}.secret_env")

    def secrets(self) -> list[str]:
        secret = os.environ.get(self.secret_env, "")
        return super().secrets() + ([secret] if secret else [])


@dataclass(kw_only=True)
class EmailChannel(Channel):
    host: str
    port: int
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None
    password_env: str | None = None
    sender: str
    to: tuple[str, ...]
    ca_file: str | None = None  # extra CA bundle (self-signed relays); system CAs otherwise
    subject_prefix: str = "[docwatch]"
    timeout: float = 30.0

    def resolve_password(self) -> str | None:
        if not self.password_env:
            return None
        return _env(self.password_env, f"alerts.{self.name}.password_env")

    def secrets(self) -> list[str]:
        pw = os.environ.get(self.password_env or "", "")
        return [pw] if pw else []

    def describe(self) -> str:
        return f"email → {', '.join(self.to)} via {self.host}:{self.port} ({self.security})"


@dataclass(kw_only=True)
class AtomChannel(Channel):
    path: str
    max_entries: int = 50
    title: str = "docwatch: network requirement changes"

    def describe(self) -> str:
        return f"atom → {self.path}"


# ---------------------------------------------------------------- parsing

_COMMON = {"kind", "sources", "clouds", "min_severity", "max_items", "max_attempts",
           "retry_base_seconds", "retry_max_seconds", "enabled"}
_KIND_KEYS = {
    "slack": {"url", "url_env", "timeout"},
    "teams": {"url", "url_env", "timeout"},
    "webhook": {"url", "url_env", "timeout", "secret_env"},
    "email": {"host", "port", "security", "username", "password_env", "from", "to", "ca_file",
              "subject_prefix", "timeout"},
    "atom": {"path", "max_entries", "title"},
}
_INLINE_SECRETS = {"password": "password_env", "secret": "secret_env"}
_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class _Reader:
    """Typed access to one channel table; every error names ``alerts.<name>.<field>``."""

    def __init__(self, name: str, raw: dict[str, Any]):
        self.name, self.raw = name, raw

    def key(self, field_name: str) -> str:
        return f"alerts.{self.name}.{field_name}"

    def fail(self, field_name: str, msg: str) -> ConfigError:
        return ConfigError(msg, key=self.key(field_name))

    def get(self, f: str, typ: type | tuple, default: Any = None, required: bool = False) -> Any:
        if f not in self.raw:
            if required:
                raise self.fail(f, f"missing required setting {f!r}")
            return default
        value = self.raw[f]
        if typ in (int, float) and isinstance(value, bool):
            raise self.fail(f, f"must be a number, got {value!r}")
        if typ is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, typ):
            want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.fail(f, f"must be a {want}, got {type(value).__name__} {value!r}")
        if isinstance(value, str) and ("\r" in value or "\n" in value):
            raise self.fail(f, "must not contain line breaks")
        return value

    def positive(self, f: str, typ: type, default: Any) -> Any:
        value = self.get(f, typ, default)
        if value <= 0:
            raise self.fail(f, f"must be greater than 0, got {value!r}")
        return value

    def strings(self, f: str) -> tuple[str, ...]:
        value = self.get(f, (list, str), [])
        value = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f, "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def env_name(self, f: str, required: bool = False) -> str | None:
        value = self.get(f, str, None, required)
        if value is not None and not _ENV_RX.match(value):
            raise self.fail(f, f"must name an environment variable (letters, digits, _), got {value!r}")
        return value

    def url(self) -> tuple[str | None, str | None]:
        url, url_env = self.get("url", str), self.env_name("url_env")
        if bool(url) == bool(url_env):
            raise self.fail("url_env", "set exactly one of 'url' or 'url_env' (prefer url_env: the URL is a secret)")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise self.fail("url", f"must be an http(s) URL, got {mask_url(url)!r}")
        return url, url_env


def parse_channels(raw: dict[str, Any] | None) -> list[Channel]:
    """Validate ``[alerts]`` (a dict of channel tables) into channels.

    Raises ConfigError naming the offending key (``alerts.<name>.<field>``).
    """
    channels: list[Channel] = []
    for name, table in (raw or {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"expected a table [alerts.{name}] describing one channel", key=f"alerts.{name}")
        if not _NAME_RX.match(name):
            raise ConfigError("channel names use letters, digits, '-' and '_' (max 64)", key=f"alerts.{name}")
        channels.append(_parse_channel(name, table))
    return channels


def _parse_channel(name: str, table: dict[str, Any]) -> Channel:
    r = _Reader(name, table)
    kind = r.get("kind", str, required=True)
    if kind not in KINDS:
        raise r.fail("kind", f"unknown channel kind {kind!r}; expected one of {', '.join(KINDS)}")
    for inline, env_key in _INLINE_SECRETS.items():
        if inline in table:
            raise r.fail(inline, f"secrets are not written in config.toml; put it in an environment variable and set {env_key!r}")
    unknown = sorted(set(table) - _COMMON - _KIND_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_COMMON | _KIND_KEYS[kind]))
        raise r.fail(unknown[0], f"unknown setting {unknown[0]!r} for a {kind} channel (allowed: {allowed})")
    min_sev = r.get("min_severity", str, "low").lower()
    if min_sev not in SEVERITIES:
        raise r.fail("min_severity", f"must be one of {', '.join(SEVERITIES)}, got {min_sev!r}")
    clouds = tuple(c.lower() for c in r.strings("clouds"))
    for c in clouds:
        if c not in ("public", "usgov", "china"):
            raise r.fail("clouds", f"unknown cloud {c!r}; expected public, usgov or china")
    common: dict[str, Any] = dict(
        name=name, kind=kind, sources=r.strings("sources"), clouds=clouds, min_severity=min_sev,
        max_items=r.positive("max_items", int, 25), max_attempts=r.positive("max_attempts", int, 8),
        retry_base_seconds=r.positive("retry_base_seconds", float, 30.0),
        retry_max_seconds=r.positive("retry_max_seconds", float, 3600.0),
        enabled=r.get("enabled", bool, True),
    )
    if kind in ("slack", "teams", "webhook"):
        url, url_env = r.url()
        http = dict(common, url=url, url_env=url_env, timeout=r.positive("timeout", float, 10.0))
        if kind == "slack":
            return SlackChannel(**http)
        if kind == "teams":
            return TeamsChannel(**http)
        return WebhookChannel(**http, secret_env=r.env_name("secret_env", required=True))
    if kind == "email":
        security = r.get("security", str, "starttls").lower()
        if security not in _DEFAULT_PORTS:
            raise r.fail("security", f"must be starttls, ssl or none, got {security!r}")
        port = r.positive("port", int, _DEFAULT_PORTS[security])
        if port > 65535:
            raise r.fail("port", f"must be a TCP port (1-65535), got {port}")
        sender = _address(r, "from", r.get("from", str, required=True))
        to = tuple(_address(r, "to", a) for a in r.strings("to"))
        if not to:
            raise r.fail("to", "needs at least one recipient address")
        username, password_env = r.get("username", str), r.env_name("password_env")
        if password_env and not username:
            raise r.fail("username", "password_env is set but username is missing")
        ca_file = r.get("ca_file", str)
        return EmailChannel(**common, host=r.get("host", str, required=True), port=port, security=security,
                            username=username, password_env=password_env, sender=sender, to=to,
                            ca_file=ca_file, subject_prefix=r.get("subject_prefix", str, "[docwatch]"),
                            timeout=r.positive("timeout", float, 30.0))
    return AtomChannel(**common, path=r.get("path", str, required=True),
                       max_entries=r.positive("max_entries", int, 50),
                       title=r.get("title", str, "docwatch: network requirement changes"))


def _address(r: _Reader, f: str, value: str) -> str:
    _, addr = parseaddr(value)
    if "@" not in addr or any(ch in value for ch in "\r\n"):
        raise r.fail(f, f"not an e-mail address: {value!r}")
    return value.strip()
