"""`[alerts]` validation: every mistake names its key; secrets only by environment variable."""
from __future__ import annotations

import pytest

from docwatch.alerts import parse_channels
from docwatch.alerts.config import AtomChannel, EmailChannel, SlackChannel, TeamsChannel, WebhookChannel
from docwatch.errors import ConfigError
from synthetic_alerts_support import event

VALID = {
    "ops": {"kind": "slack", "url_env": "DOCWATCH_SLACK_URL", "sources": ["azure-monitor"], "min_severity": "medium"},
    "teams": {"kind": "teams", "url_env": "DOCWATCH_TEAMS_URL", "clouds": ["usgov", "china"]},
    "hook": {"kind": "webhook", "url": "https://hooks.example.org/docwatch", "secret_env": "DOCWATCH_HOOK_SECRET"},
    "mail": {"kind": "email", "host": "smtp.example.org", "security": "ssl", "username": "docwatch",
             "password_env": "DOCWATCH_SMTP_PASSWORD", "from": "docwatch <dw@example.org>", "to": "netops@example.org"},
    "feed": {"kind": "atom", "path": "feeds/changes.xml", "max_entries": 20, "min_severity": "info"},
}


def test_valid_channels_and_defaults():
    chs = {c.name: c for c in parse_channels(VALID)}
    assert [type(chs[n]) for n in VALID] == [SlackChannel, TeamsChannel, WebhookChannel, EmailChannel, AtomChannel]
    assert chs["ops"].sources == ("azure-monitor",) and chs["ops"].min_severity == "medium"
    assert chs["mail"].port == 465 and chs["mail"].to == ("netops@example.org",)
    assert chs["hook"].min_severity == "medium" and chs["hook"].max_attempts == 8  # firewall-relevant by default
    assert parse_channels({}) == [] and parse_channels(None) == []


def test_filters():
    chs = {c.name: c for c in parse_channels(VALID)}
    assert chs["ops"].accepts(event(1, severity="high"))
    assert not chs["ops"].accepts(event(1, severity="low"))
    assert not chs["ops"].accepts(event(1, source="apim", severity="high"))
    assert chs["teams"].accepts(event(1, cloud="usgov")) and not chs["teams"].accepts(event(1, cloud="public"))
    assert chs["teams"].accepts(event(1, cloud=None, kind="anomaly", severity="high"))  # cloud-less: every channel
    assert not chs["hook"].accepts(event(1, severity="info")) and chs["feed"].accepts(event(1, severity="info"))


def test_repr_masks_url_tokens():
    ch = parse_channels({"s": {"kind": "slack", "url": "https://hooks.slack.com/services/T1/B2/sEcReT"}})[0]
    assert "sEcReT" not in repr(ch) and "sEcReT" not in ch.describe() and "hooks.slack.com" in repr(ch)


@pytest.mark.parametrize("table, key, words", [
    ({"url_env": "X"}, "alerts.c.kind", "missing required"),
    ({"kind": "pager"}, "alerts.c.kind", "unknown channel kind"),
    ({"kind": "slack", "url_env": "X", "colour": "red"}, "alerts.c.colour", "unknown setting"),
    ({"kind": "slack"}, "alerts.c.url_env", "exactly one"),
    ({"kind": "slack", "url": "https://a/b", "url_env": "X"}, "alerts.c.url_env", "exactly one"),
    ({"kind": "slack", "url": "ftp://a/b"}, "alerts.c.url", "http(s) URL"),
    ({"kind": "slack", "url_env": "NOT-A-VAR"}, "alerts.c.url_env", "environment variable"),
    ({"kind": "slack", "url_env": "X", "min_severity": "urgent"}, "alerts.c.min_severity", "one of"),
    ({"kind": "slack", "url_env": "X", "clouds": ["mars"]}, "alerts.c.clouds", "unknown cloud"),
    ({"kind": "slack", "url_env": "X", "sources": [1]}, "alerts.c.sources", "list of non-empty strings"),
    ({"kind": "slack", "url_env": "X", "max_items": 0}, "alerts.c.max_items", "greater than 0"),
    ({"kind": "slack", "url_env": "X", "timeout": True}, "alerts.c.timeout", "number"),
    ({"kind": "webhook", "url": "https://a/b"}, "alerts.c.secret_env", "missing required"),
    ({"kind": "webhook", "url": "https://a/b", "secret": "x"}, "alerts.c.secret", "secret_env"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "password": "p"}, "alerts.c.password", "password_env"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": []}, "alerts.c.to", "at least one"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z\r\nBcc: e@v.il"]}, "alerts.c.to", "not an e-mail"),
    ({"kind": "email", "host": "h", "from": "nobody", "to": ["x@y.z"]}, "alerts.c.from", "not an e-mail"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "port": 70000}, "alerts.c.port", "TCP port"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "security": "tls13"}, "alerts.c.security", "starttls"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "password_env": "P"}, "alerts.c.username", "username"),
    ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"], "subject_prefix": "x\nBcc: y"}, "alerts.c.subject_prefix", "line breaks"),
    ({"kind": "atom"}, "alerts.c.path", "missing required"),
])
def test_errors_name_the_key(table, key, words):
    with pytest.raises(ConfigError) as info:
        parse_channels({"c": table})
    assert info.value.key == key and words in info.value.message, (info.value.key, info.value.message)


def test_channel_table_and_name_errors():
    with pytest.raises(ConfigError) as info:
        parse_channels({"c": "slack"})
    assert info.value.key == "alerts.c"
    with pytest.raises(ConfigError) as info:
        parse_channels({"bad name!": {"kind": "atom", "path": "x"}})
    assert info.value.key == "alerts.bad name!"


def test_registry_declares_every_kind_once():
    """Kinds, their keys and their senders all come from CHANNEL_KINDS."""
    from docwatch.alerts.config import CHANNEL_KINDS, KINDS, sender_for

    assert KINDS == ("slack", "teams", "webhook", "email", "atom")
    chs = {c.kind: c for c in parse_channels(VALID)}
    for kind, cls in CHANNEL_KINDS.items():
        assert cls.KIND == kind and callable(sender_for(chs[kind]))
        names = [k.name for k in cls.all_keys()]
        assert len(names) == len(set(names)) and "min_severity" in names
    assert {k.name for k in EmailChannel.all_keys()} >= {"subject_prefix", "timeout", "from", "to"}
    assert {k.name for k in AtomChannel.all_keys()} >= {"title", "max_entries", "path"}


def test_new_kind_is_one_class_and_one_registry_entry(monkeypatch):
    from dataclasses import dataclass
    from typing import ClassVar

    from docwatch.alerts import config as cfg

    @dataclass(kw_only=True, repr=False)
    class PagerChannel(cfg.HttpChannel):
        KIND: ClassVar[str] = "pager"
        SENDER: ClassVar[str] = "docwatch.alerts.webhook:send"
        OWN_KEYS: ClassVar[tuple] = (cfg.Key("routing_key_env", required=True, check="env"),)
        routing_key_env: str

    monkeypatch.setitem(cfg.CHANNEL_KINDS, "pager", PagerChannel)
    ch = parse_channels({"p": {"kind": "pager", "url_env": "U", "routing_key_env": "R", "timeout": 3}})[0]
    assert isinstance(ch, PagerChannel) and ch.timeout == 3.0 and ch.routing_key_env == "R"
    assert cfg.sender_for(ch).__module__ == "docwatch.alerts.webhook"
    with pytest.raises(ConfigError) as info:
        parse_channels({"p": {"kind": "pager", "url_env": "U"}})
    assert info.value.key == "alerts.p.routing_key_env"
