"""E-mail delivery against a real aiosmtpd server: STARTTLS + AUTH, implicit TLS, plain.

The TLS certificate is a throw-away self-signed one made with the openssl CLI for this test
run (the `cryptography` package is not installed); the channel trusts it through ``ca_file``.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import datetime, timezone
from email import message_from_bytes
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from docwatch.alerts import deliver_pending, parse_channels
from docwatch.alerts.outbox import start_channels
from docwatch.alerts.outbox import idempotency_key, list_deliveries
from synthetic_alerts_support import add_events, event, make_outbox

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
PASSWORD = "smtp-Pa55-w0rd-secret"
HOSTILE_SOURCE = "apim\r\nBcc: victim@example.org"
HOSTILE_TEXT = "<script>alert(1)</script> <b>bold</b> & [x](http://evil.example)\r\nBcc: victim@example.org"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed to make a test certificate")


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return crt, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content,
                              "tls": server.transport.get_extra_info("ssl_object") is not None, "auth": session.authenticated})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"docwatch" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


def _server_ctx(cert):
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def starttls_server(cert):
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port(), tls_context=_server_ctx(cert),
                     require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    ctl.start()
    yield ctl, inbox
    ctl.stop()


@pytest.fixture
def db(tmp_path):
    handle = make_outbox(tmp_path / "catalog.db")
    yield handle
    handle.conn.close()


def mail_channel(port: int, cert=None, **kw):
    table = {"kind": "email", "host": "127.0.0.1", "port": port, "from": "docwatch <docwatch@example.org>",
             "to": ["netops@example.org", "Sec Team <sec@example.org>"], "timeout": 10}
    if cert:
        table["ca_file"] = str(cert[0])
    table.update(kw)
    return parse_channels({"mail": table})


def test_starttls_auth_digest_is_multipart_and_injection_free(starttls_server, cert, db, monkeypatch):
    ctl, inbox = starttls_server
    monkeypatch.setenv("DW_TEST_SMTP_PASSWORD", PASSWORD)
    chs = mail_channel(ctl.port, cert, security="starttls", username="docwatch", password_env="DW_TEST_SMTP_PASSWORD")
    start_channels(db, chs)  # as a writer does: the channel exists before the events
    ids = add_events(db, [event(1, source=HOSTILE_SOURCE, summary=HOSTILE_TEXT, severity="high"), event(2)])
    report = deliver_pending(db, chs, now=T0)
    assert report.channels["mail"].sent == 1, report.channels["mail"].errors
    assert len(inbox.messages) == 1
    got = inbox.messages[0]
    assert got["tls"] and got["auth"]
    assert sorted(got["to"]) == ["netops@example.org", "sec@example.org"]  # no injected Bcc recipient
    msg = message_from_bytes(got["data"], policy=policy.default)
    assert msg["Bcc"] is None
    subject = msg["Subject"]
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("[docwatch] 2 network rule changes (1 high): ")
    assert msg["Message-ID"] == f"<{idempotency_key('mail', ids)[:40]}@example.org>"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "[HIGH]" in text and "host2.monitor.azure.com" in text
    assert "https://learn.microsoft.com/" in text
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>bold</b>" not in html
    assert '<a href="https://learn.microsoft.com/' in html


def test_wrong_password_fails_and_is_retried_without_leaking(starttls_server, cert, db, monkeypatch):
    ctl, inbox = starttls_server
    monkeypatch.setenv("DW_TEST_SMTP_PASSWORD", "not-the-" + PASSWORD)
    chs = mail_channel(ctl.port, cert, username="docwatch", password_env="DW_TEST_SMTP_PASSWORD")
    start_channels(db, chs)
    add_events(db, [event(1)])
    report = deliver_pending(db, chs, now=T0)
    r = report.channels["mail"]
    assert (r.sent, r.failed, r.pending) == (0, 1, 1) and "535" in r.errors[0]
    assert inbox.messages == []
    row = list_deliveries(db)[0]
    assert PASSWORD not in row["last_error"]
    # the password is fixed: the retry (after backoff) goes through
    monkeypatch.setenv("DW_TEST_SMTP_PASSWORD", PASSWORD)
    report = deliver_pending(db, chs, now=datetime(2024, 5, 1, 13, 0, tzinfo=timezone.utc))
    assert report.channels["mail"].sent == 1 and len(inbox.messages) == 1


def test_untrusted_certificate_is_refused(starttls_server, db):
    ctl, inbox = starttls_server
    chs = mail_channel(ctl.port)  # no ca_file: the self-signed cert must not be accepted
    start_channels(db, chs)
    add_events(db, [event(1)])
    r = deliver_pending(db, chs, now=T0).channels["mail"]
    assert r.failed == 1 and "SSL" in r.errors[0].upper()
    assert inbox.messages == []


def test_implicit_tls_and_plain_servers(cert, db):
    ssl_inbox, plain_inbox = Inbox(), Inbox()
    ssl_ctl = Controller(ssl_inbox, hostname="127.0.0.1", port=_free_port(), ssl_context=_server_ctx(cert))
    plain_ctl = Controller(plain_inbox, hostname="127.0.0.1", port=_free_port())
    ssl_ctl.start()
    plain_ctl.start()
    try:
        chs = (mail_channel(ssl_ctl.port, cert, security="ssl")
               + parse_channels({"plain": {"kind": "email", "host": "127.0.0.1", "port": plain_ctl.port,
                                           "security": "none", "from": "dw@example.org", "to": "ops@example.org"}}))
        start_channels(db, chs)
        add_events(db, [event(1)])
        report = deliver_pending(db, chs, now=T0)
    finally:
        ssl_ctl.stop()
        plain_ctl.stop()
    assert report.channels["mail"].sent == 1 and report.channels["plain"].sent == 1, report
    assert ssl_inbox.messages[0]["tls"] and not plain_inbox.messages[0]["tls"]
    assert plain_inbox.messages[0]["to"] == ["ops@example.org"]
