"""Alerts: deliver catalog change events to Slack, Teams, webhooks, e-mail and an Atom feed.

``parse_channels`` validates config.toml's ``[alerts]``; ``deliver_pending`` sends every
change event not yet delivered, once per channel, through the outbox in ``outbox.py``.
"""
from docwatch.alerts.config import (AtomChannel, Channel, EmailChannel, SlackChannel, TeamsChannel,
                                    WebhookChannel, parse_channels)
from docwatch.alerts.outbox import ChannelReport, DeliveryReport, deliver_pending, send_test

__all__ = ["AtomChannel", "Channel", "ChannelReport", "DeliveryReport", "EmailChannel", "SlackChannel",
           "TeamsChannel", "WebhookChannel", "deliver_pending", "parse_channels", "send_test"]
