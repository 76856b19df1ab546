"""Alerts: deliver catalog change events to Slack, Teams, webhooks, e-mail and an Atom feed.

``parse_channels`` validates config.toml's ``[alerts]``; ``deliver_pending`` sends every
change event not yet delivered, once per channel, through the outbox in ``outbox.py``.
Names are resolved lazily so that loading a config (``docwatch.alerts.config``) never
imports the outbox and its HTTP client.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "AtomChannel": "config", "Channel": "config", "EmailChannel": "config", "SlackChannel": "config",
    "TeamsChannel": "config", "WebhookChannel": "config", "parse_channels": "config",
    "ChannelReport": "outbox", "DeliveryReport": "outbox", "deliver_pending": "outbox", "send_test": "outbox",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"docwatch.alerts.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'docwatch.alerts' has no attribute {name!r}")
