"""E-mail digests over SMTP (smtplib): STARTTLS, implicit TLS or plain; optional AUTH.

One multipart/alternative message (text + HTML) per digest. Doc text is HTML-escaped in
the HTML part, and the subject is built from a single line (CR/LF and other control
characters removed) so doc text cannot add headers. The Message-ID derives from the
delivery's idempotency key, so a re-sent delivery carries the same Message-ID.
"""
from __future__ import annotations

import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from docwatch.alerts.config import EmailChannel
from docwatch.alerts.digest import Digest, describe, more_in_group, safe_url
from docwatch.alerts.transport import SendError

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
SEV_COLORS = {"high": "#b00020", "medium": "#b35c00", "low": "#1f5fa8", "info": "#555555"}


def one_line(text: str, limit: int = 200) -> str:
    """Header-safe text: control characters (CR, LF, …) become spaces, then trimmed."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject(prefix: str, digest: Digest) -> str:
    n, sources = digest.total, digest.sources
    names = ", ".join(sources[:3]) + (f" (+{len(sources) - 3} more)" if len(sources) > 3 else "")
    high = digest.severity_counts().get("high", 0)
    return one_line(f"{prefix} {n} network rule change{'s' if n != 1 else ''}{f' ({high} high)' if high else ''}: {names}")


def render_text(digest: Digest) -> str:
    out = [digest.title, ""]
    for g in digest.groups:
        out.append(f"== {g.source} - {g.cloud_label} ({g.total}) ==")
        for item in g.items:
            out.append(f"  - [{item.event.severity.upper()}] {describe(item.event)}")
        if g.hidden:
            out.append(f"  {g.more_line()}")
        for label, url in (("page", safe_url(g.page_url)), ("commit", safe_url(g.commit_url))):
            if url:
                out.append(f"  {label}: {url}")
        out.append("")
    if digest.more_line():
        out.append(digest.more_line())
    return "\n".join(out).rstrip() + "\n"


def render_html(digest: Digest) -> str:
    e = html.escape
    parts = [f"<html><body style=\"font-family:sans-serif\"><h2>{e(digest.title)}</h2>"]
    for g in digest.groups:
        parts.append(f"<h3>{e(g.source)} &middot; {e(g.cloud_label)} ({g.total})</h3><ul>")
        for item in g.items:
            sev = item.event.severity
            parts.append(f"<li><b style=\"color:{SEV_COLORS.get(sev, '#555')}\">{e(sev.upper())}</b> {e(describe(item.event))}</li>")
        if g.hidden:
            parts.append(f"<li><i>{e(more_in_group(g.hidden))}</i>; all of them: <code>{e(g.rest_command)}</code></li>")
        parts.append("</ul>")
        links = [f"<a href=\"{e(url, quote=True)}\">{label}</a>"
                 for label, url in (("Open page", safe_url(g.page_url)), ("Doc commit", safe_url(g.commit_url))) if url]
        if links:
            parts.append("<p>" + " &middot; ".join(links) + "</p>")
    if digest.more_line():
        parts.append(f"<p><i>{e(digest.more_line())}</i></p>")
    parts.append("</body></html>")
    return "".join(parts)


def build_message(channel: EmailChannel, digest: Digest, meta) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject(one_line(channel.subject_prefix), digest)
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(meta.timestamp, usegmt=True)
    domain = parseaddr(channel.sender)[1].rpartition("@")[2] or "docwatch.invalid"
    msg["Message-ID"] = f"<{meta.idempotency_key[:40]}@{one_line(domain, 100)}>"
    msg["X-Docwatch-Idempotency-Key"] = meta.idempotency_key
    msg.set_content(render_text(digest))
    msg.add_alternative(render_html(digest), subtype="html")
    return msg


def send(channel: EmailChannel, digest: Digest, meta, client=None) -> None:
    msg = build_message(channel, digest, meta)
    password = channel.resolve_password()
    context = ssl.create_default_context(cafile=channel.ca_file) if channel.security != "none" else None
    try:
        if channel.security == "ssl":
            smtp = smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout, context=context)
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout)
        with smtp:
            smtp.ehlo()
            if channel.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if channel.username:
                smtp.login(channel.username, password or "")
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise SendError(f"SMTP {exc.smtp_code}: {one_line(detail)} ({type(exc).__name__})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {type(exc).__name__}: {one_line(str(exc))}") from None
