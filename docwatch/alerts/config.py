"""Alert channels from config.toml's ``[alerts]`` section.

Each ``[alerts.<name>]`` table is one channel with a ``kind`` (slack, teams, webhook,
email, atom), optional filters (``sources``, ``clouds``, ``min_severity``) and its
kind's settings. One registry (:data:`CHANNEL_KINDS`) drives parsing, the allowed keys,
the README's channel reference (checked by a test) and delivery: a channel class declares
its ``KIND``, its ``KEYS`` (type, default, check) and its ``SENDER`` (``module:function``,
imported only when a message is sent). Adding a kind = one class + one registry entry. Secrets (webhook URLs that embed tokens, HMAC secrets, SMTP passwords)
come from environment variables named by ``*_env`` keys and are read only when a message
is sent, so they never sit in the config object, the catalog or a log line.
"""
from __future__ import annotations

import os
import re
import importlib
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Callable, ClassVar
from urllib.parse import urlsplit

from docwatch.errors import ConfigError, DocwatchError

SEVERITIES = ("info", "low", "medium", "high")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
DEFAULT_MIN_SEVERITY = "medium"  # a firewall team wants what it must act on, not every wording tweak
_NAME_RX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_RX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def mask_url(url: str | None) -> str:
    """Scheme and host only: webhook URLs carry their token in the path or query."""
    if not url:
        return "-"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/***" if parts.scheme else "***"


@dataclass(frozen=True)
class Key:
    """One config.toml key of a channel: its type, default and the check applied to it.

    ``check``: ``positive`` (> 0), ``env`` (an environment variable name), ``strings`` (a
    string or list of non-empty strings), ``lower`` (case-folded, one of ``choices``) or "".
    ``attr`` is the dataclass field when it differs from the key (``from`` → ``sender``).
    """

    name: str
    type: type | tuple = str
    default: Any = None
    required: bool = False
    check: str = ""
    choices: tuple[str, ...] = ()
    attr: str | None = None
    doc: str = ""

    @property
    def field_name(self) -> str:
        return self.attr or self.name


@dataclass(kw_only=True)
class Channel:
    """What every channel has: a name, a kind, filters and a retry policy."""

    KIND: ClassVar[str] = ""
    SENDER: ClassVar[str] = ""  # "module:function" taking (channel, digest, meta, client)
    OWN_KEYS: ClassVar[tuple[Key, ...]] = (  # every kind's keys; subclasses add their own
        Key("sources", check="strings", default=(), doc="only these sources (default: all)"),
        Key("clouds", check="strings", default=(), choices=("public", "usgov", "china"),
            doc="only these clouds; events naming no cloud always pass"),
        Key("min_severity", check="lower", default=DEFAULT_MIN_SEVERITY, choices=SEVERITIES,
            doc="lowest severity sent; info events only reach channels that ask for them"),
        Key("max_items", int, 25, check="positive", doc="change lines in one digest before '… and N more'"),
        Key("max_attempts", int, 8, check="positive", doc="then the delivery is failed until `alerts retry`"),
        Key("retry_base_seconds", float, 30.0, check="positive", doc="backoff base, doubled per attempt"),
        Key("retry_max_seconds", float, 3600.0, check="positive", doc="cap on one backoff delay"),
        Key("enabled", bool, True, doc="false keeps the channel configured but silent"),
        Key("backlog", bool, False, doc="a new channel starts from now; true sends it the events stored before it"),
    )

    name: str
    kind: str
    sources: tuple[str, ...] = ()  # empty: every source
    clouds: tuple[str, ...] = ()  # empty: every cloud; events naming no cloud always pass
    min_severity: str = DEFAULT_MIN_SEVERITY  # "info" events only reach channels that ask for them
    max_items: int = 25  # change lines shown in one digest before "… and N more changes"
    max_attempts: int = 8  # then the delivery is "failed" until `docwatch alerts retry`
    retry_base_seconds: float = 30.0  # backoff: base * 2**(attempts-1), capped at retry_max_seconds
    retry_max_seconds: float = 3600.0
    enabled: bool = True
    backlog: bool = False  # a newly added channel starts from now unless it asks for the history

    @classmethod
    def all_keys(cls) -> tuple[Key, ...]:
        """Every key this kind accepts: the common ones, then each subclass's own, in MRO order."""
        keys: dict[str, Key] = {}
        for klass in reversed(cls.__mro__):
            for k in vars(klass).get("OWN_KEYS", ()):
                keys[k.name] = k
        return tuple(keys.values())

    @classmethod
    def validate(cls, r: "_Reader", values: dict[str, Any]) -> None:
        """Checks across keys of one kind; edits ``values`` in place. Subclasses extend it."""

    def accepts(self, event) -> bool:
        """Channel filters: source, cloud (cloud-less events pass), minimum severity. Events a
        parser change made (``parser``) are history, never alerts."""
        if getattr(event, "kind", None) in NEVER_ALERTED:
            return False
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

    OWN_KEYS: ClassVar[tuple[Key, ...]] = (
        Key("url", doc="the URL inline (it is a secret for Slack/Teams: prefer url_env)"),
        Key("url_env", check="env", doc="environment variable holding the URL"),
        Key("timeout", float, 10.0, check="positive", doc="seconds per request"),
    )

    url: str | None = field(default=None, repr=False)
    url_env: str | None = None
    timeout: float = 10.0

    @classmethod
    def validate(cls, r: "_Reader", values: dict[str, Any]) -> None:
        url, url_env = values.get("url"), values.get("url_env")
        if bool(url) == bool(url_env):
            raise r.fail("url_env", "set exactly one of 'url' or 'url_env' (prefer url_env: the URL is a secret)")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise r.fail("url", f"must be an http(s) URL, got {mask_url(url)!r}")

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
    """Slack incoming webhook (Block Kit)."""

    KIND: ClassVar[str] = "slack"
    SENDER: ClassVar[str] = "docwatch.alerts.slack:send"


@dataclass(kw_only=True, repr=False)
class TeamsChannel(HttpChannel):
    """Teams Workflows webhook (Adaptive Card 1.4)."""

    KIND: ClassVar[str] = "teams"
    SENDER: ClassVar[str] = "docwatch.alerts.teams:send"


@dataclass(kw_only=True, repr=False)
class WebhookChannel(HttpChannel):
    """Generic JSON webhook signed with HMAC-SHA256."""

    KIND: ClassVar[str] = "webhook"
    SENDER: ClassVar[str] = "docwatch.alerts.webhook:send"
    OWN_KEYS: ClassVar[tuple[Key, ...]] = (
        Key("secret_env", required=True, check="env", doc="environment variable holding the HMAC key"),
    )

    secret_env: str  # HMAC-SHA256 key for X-Docwatch-Signature

    def resolve_secret(self) -> str:
        return _env(self.secret_env, f"alerts.{self.name}.secret_env")

    def secrets(self) -> list[str]:
        secret = os.environ.get(self.secret_env, "")
        return super().secrets() + ([secret] if secret else [])


_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(kw_only=True)
class EmailChannel(Channel):
    """SMTP e-mail (text + HTML)."""

    KIND: ClassVar[str] = "email"
    SENDER: ClassVar[str] = "docwatch.alerts.mail:send"
    OWN_KEYS: ClassVar[tuple[Key, ...]] = (
        Key("host", required=True, doc="SMTP server"),
        Key("port", int, None, check="positive", doc="default 587 (starttls), 465 (ssl), 25 (none)"),
        Key("security", default="starttls", check="lower", choices=tuple(_DEFAULT_PORTS), doc="starttls | ssl | none"),
        Key("username", doc="SMTP AUTH user"),
        Key("password_env", check="env", doc="environment variable holding the SMTP password"),
        Key("from", required=True, attr="sender", doc="From address"),
        Key("to", check="strings", default=(), doc="recipient addresses"),
        Key("ca_file", doc="extra CA bundle for a private relay"),
        Key("subject_prefix", default="[docwatch]", doc="start of every subject"),
        Key("timeout", float, 30.0, check="positive", doc="seconds per SMTP operation"),
    )

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

    @classmethod
    def validate(cls, r: "_Reader", values: dict[str, Any]) -> None:
        port = values.get("port") or _DEFAULT_PORTS[values["security"]]
        if port > 65535:
            raise r.fail("port", f"must be a TCP port (1-65535), got {port}")
        values["port"] = port
        values["sender"] = _address(r, "from", values["sender"])
        values["to"] = tuple(_address(r, "to", a) for a in values["to"])
        if not values["to"]:
            raise r.fail("to", "needs at least one recipient address")
        if values.get("password_env") and not values.get("username"):
            raise r.fail("username", "password_env is set but username is missing")

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
    """Atom 1.0 feed file, rewritten from the catalog on every delivery."""

    KIND: ClassVar[str] = "atom"
    SENDER: ClassVar[str] = "docwatch.alerts.atom:send"
    OWN_KEYS: ClassVar[tuple[Key, ...]] = (
        Key("path", required=True, doc="feed file, replaced atomically"),
        Key("max_entries", int, 50, check="positive", doc="newest entries kept"),
        Key("title", default="docwatch: network requirement changes", doc="feed title"),
    )

    path: str
    max_entries: int = 50
    title: str = "docwatch: network requirement changes"

    def describe(self) -> str:
        return f"atom → {self.path}"


# The registry: kind → channel class. One entry per kind; nothing else lists kinds.
CHANNEL_KINDS: dict[str, type[Channel]] = {cls.KIND: cls for cls in
                                           (SlackChannel, TeamsChannel, WebhookChannel, EmailChannel, AtomChannel)}
KINDS = tuple(CHANNEL_KINDS)


# ---------------------------------------------------------------- parsing

_INLINE_SECRETS = {"password": "password_env", "secret": "secret_env"}


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

    def read(self, k: Key) -> Any:
        """One declared key, typed and checked."""
        if k.check == "strings":
            value = self.get(k.name, (list, str), [], k.required)
            value = [value] if isinstance(value, str) else value
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise self.fail(k.name, "must be a list of non-empty strings")
            value = tuple(v.strip() for v in value)
            if k.choices:
                value = tuple(v.lower() for v in value)
                bad = [v for v in value if v not in k.choices]
                if bad:
                    raise self.fail(k.name, f"unknown {k.name.rstrip('s')} {bad[0]!r}; expected {_one_of(k.choices)}")
            return value
        value = self.get(k.name, k.type, k.default, k.required)
        if value is None:
            return None
        if k.check == "positive" and value <= 0:
            raise self.fail(k.name, f"must be greater than 0, got {value!r}")
        if k.check == "env" and not _ENV_RX.match(value):
            raise self.fail(k.name, f"must name an environment variable (letters, digits, _), got {value!r}")
        if k.check == "lower":
            value = value.lower()
            if value not in k.choices:
                raise self.fail(k.name, f"must be one of {', '.join(k.choices)}, got {value!r}")
        return value


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


NEVER_ALERTED = ("parser",)


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
    cls = CHANNEL_KINDS.get(kind)
    if cls is None:
        raise r.fail("kind", f"unknown channel kind {kind!r}; expected one of {', '.join(CHANNEL_KINDS)}")
    for inline, env_key in _INLINE_SECRETS.items():
        if inline in table:
            raise r.fail(inline, f"secrets are not written in config.toml; put it in an environment variable and set {env_key!r}")
    keys = cls.all_keys()
    allowed = {"kind"} | {k.name for k in keys}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise r.fail(unknown[0], f"unknown setting {unknown[0]!r} for a {kind} channel (allowed: {', '.join(sorted(allowed))})")
    values = {k.field_name: r.read(k) for k in keys}
    cls.validate(r, values)
    return cls(name=name, kind=kind, **values)


def sender_for(channel: Channel) -> Callable:
    """The send function declared by a channel's class (``SENDER``), imported only now so
    that loading a config never imports httpx or smtplib."""
    module, _, func = type(channel).SENDER.partition(":")
    return getattr(importlib.import_module(module), func)


def _address(r: _Reader, f: str, value: str) -> str:
    _, addr = parseaddr(value)
    if "@" not in addr or any(ch in value for ch in "\r\n"):
        raise r.fail(f, f"not an e-mail address: {value!r}")
    return value.strip()
