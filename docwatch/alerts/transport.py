"""HTTP POST shared by the Slack, Teams and webhook channels (httpx, explicit timeouts)."""
from __future__ import annotations

import json
import logging
from typing import Any

from docwatch import httpx_without_its_cli

httpx_without_its_cli()
import httpx  # noqa: E402 - after the stand-in for its CLI

from docwatch.alerts.config import mask_url
from docwatch.errors import DocwatchError


class _MaskUrls(logging.Filter):
    """httpx logs every request URL at INFO; webhook URLs carry tokens, so mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(mask_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _MaskUrls) for f in _httpx_log.filters):
    _httpx_log.addFilter(_MaskUrls())


class SendError(DocwatchError):
    """A channel refused or could not take a message; the delivery is retried later."""


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post(client: httpx.Client | None, url: str, body: bytes, *, headers: dict[str, str], timeout: float) -> None:
    """POST ``body``; anything but 2xx is a SendError whose message never contains the URL."""
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "docwatch-alerts", **headers}
    own = client is None
    client = client or httpx.Client()
    try:
        resp = client.post(url, content=body, headers=headers, timeout=httpx.Timeout(timeout))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
        # the parser's message quotes the offending part (often the token itself): never echo it
        raise SendError(f"malformed channel URL ({type(exc).__name__}); check its url / url_env value") from None
    except httpx.TimeoutException as exc:
        raise SendError(f"timed out after {timeout:g}s ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        # httpx messages rarely hold the URL; the outbox redacts secrets from errors anyway
        raise SendError(f"request failed: {type(exc).__name__}: {' '.join(str(exc).replace(url, '<url>').split())[:200]}") from None
    finally:
        if own:
            client.close()
    if not 200 <= resp.status_code < 300:
        snippet = " ".join(resp.text[:200].split())
        raise SendError(f"HTTP {resp.status_code} {resp.reason_phrase}: {snippet}".rstrip(": "))
