"""Generic webhook: the digest's events as JSON, signed with HMAC-SHA256.

Body (schema ``docwatch.events/v1``)::

    {"schema": "docwatch.events/v1", "delivery_id": "12", "idempotency_key": "<sha256 hex>",
     "channel": "hook", "sent_at": "2024-05-01T10:00:00Z",
     "events": [{"id": 41, "source": …, "kind": …, every ChangeEvent field …}]}

Headers: ``X-Docwatch-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``,
``X-Docwatch-Timestamp`` (unix seconds, also inside the signed body as ``sent_at``),
``Idempotency-Key`` and ``X-Docwatch-Delivery``. A retry of the same delivery carries the
same idempotency key, so receivers can drop duplicates.
"""
from __future__ import annotations

import hashlib
import hmac

from docwatch.alerts.config import WebhookChannel
from docwatch.alerts.digest import Digest
from docwatch.alerts.transport import dumps, post

SCHEMA = "docwatch.events/v1"
SIGNATURE_HEADER = "X-Docwatch-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (documented in the README): constant-time compare."""
    return hmac.compare_digest(sign(secret, body), header or "")


def render(digest: Digest, meta) -> dict:
    return {"schema": SCHEMA, "delivery_id": str(meta.delivery_id), "idempotency_key": meta.idempotency_key,
            "channel": digest.channel, "sent_at": meta.sent_at, "events": [e.to_dict() for e in digest.events]}


def send(channel: WebhookChannel, digest: Digest, meta, client=None) -> None:
    secret = channel.resolve_secret()
    body = dumps(render(digest, meta))
    headers = {SIGNATURE_HEADER: sign(secret, body), "X-Docwatch-Timestamp": str(meta.timestamp),
               "Idempotency-Key": meta.idempotency_key, "X-Docwatch-Delivery": str(meta.delivery_id)}
    post(client, channel.resolve_url(), body, headers=headers, timeout=channel.timeout)
