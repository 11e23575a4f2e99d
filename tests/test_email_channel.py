"""The email channel against a real SMTP server on 127.0.0.1 (aiosmtpd), from planned steps."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import httpx
import pytest
from sqlmodel import select

from desktop_app.core import email_channel, models
from desktop_app.core.providers import smtp_email
from desktop_app.core.providers.base import ProviderError
from tests.channel_helpers import ChannelApp
from tests.conftest import PUBLIC_URL
from tests.standins.smtp_server import USER, SmtpStandIn

# aiosmtpd itself sets its deprecated Session.login_data while handling AUTH.
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")

BORROWER = "jordan.rivera@example.com"
SENDER = "Harbor Point Mortgage <loans@harborpoint.example>"


@pytest.fixture
def smtp_server(tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls") as server:
        yield server


def open_app(data_dir, twilio_api, env: dict | None = None, settings: dict | None = None) -> ChannelApp:
    return ChannelApp(data_dir, twilio_api, {"MCD_EMAIL_FROM": SENDER, **(env or {})}, settings)


@pytest.fixture
def mail_app(data_dir, twilio_api, smtp_server):
    desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": smtp_server.url()})
    yield desk
    desk.close()


def caller_with_email(desk: ChannelApp, email: str | None = BORROWER, seconds: int = 14) -> models.Contact:
    """An inquiry call (no drop in its sequence) from a borrower with a known email address."""
    contact = desk.miss(seconds=seconds)
    desk.update_contact(contact.id, email=email, first_name="Jordan", loan_purpose="refi")
    return contact


def email_4h(desk: ChannelApp, contact: models.Contact) -> models.Step:
    desk.run_after(4 * 60 + 1)
    return desk.step(contact.id, "email_4h")


# -- sending through each kind of server -----------------------------------------------------

def test_email_step_over_starttls_with_login(mail_app, smtp_server):
    contact = caller_with_email(mail_app)
    step = email_4h(mail_app, contact)
    received = smtp_server.wait_for(1)[0]

    assert received.tls
    assert received.login == USER
    assert received.mail_from == "loans@harborpoint.example"
    assert received.rcpt_tos == [BORROWER]
    message = received.message
    assert message["Subject"] == "Your refi question - Harbor Point Mortgage"
    assert message["To"] == BORROWER
    assert "Hi Jordan," in message.get_body(("plain",)).get_content()

    assert step.status == "sent"
    assert step.provider == "smtp"
    assert step.provider_id == message["Message-ID"]
    assert step.detail == "accepted by 127.0.0.1: 250 2.0.0 Ok: queued as STANDIN1"
    assert any(s.startswith("Email sent: Your refi question") for s in mail_app.timeline(contact.id, "email"))


def test_email_over_plain_relay(data_dir, twilio_api, tmp_path):
    with SmtpStandIn(tmp_path, mode="plain", login=False) as server:
        desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": server.url(user=None)})
        try:
            step = email_4h(desk, caller_with_email(desk))
            received = server.wait_for(1)[0]
            assert not received.tls
            assert received.login is None
            assert received.rcpt_tos == [BORROWER]
            assert step.status == "sent"
        finally:
            desk.close()


def test_email_over_implicit_tls(data_dir, twilio_api, tmp_path):
    with SmtpStandIn(tmp_path, mode="tls") as server:
        desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": server.url()})
        try:
            step = email_4h(desk, caller_with_email(desk))
            received = server.wait_for(1)[0]
            assert received.tls
            assert received.login == USER
            assert step.status == "sent"
        finally:
            desk.close()


def test_nurture_email_uses_channel(mail_app, smtp_server):
    contact = caller_with_email(mail_app)
    mail_app.run_after(7 * 24 * 60 + 1)
    subjects = [r.message["Subject"] for r in smtp_server.wait_for(1)]
    # The 4-hour email is long past its catch-up window by then; the nurture email is due.
    assert subjects == ["Still thinking about your refi?"]
    assert mail_app.step(contact.id, "nurture_7d").status == "sent"
    assert mail_app.step(contact.id, "email_4h").status == "skipped"


# -- failures --------------------------------------------------------------------------------

def test_login_failure_fails_step_at_once(data_dir, twilio_api, smtp_server):
    desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": smtp_server.url(password="wrong")})
    try:
        step = email_4h(desk, caller_with_email(desk))
        assert step.status == "failed"
        assert step.error_code == "535"
        assert "rejected the login" in step.detail
        assert step.attempts == 1
        # smtplib tries each advertised mechanism (PLAIN, LOGIN) on the one connection.
        assert smtp_server.login_attempts
        assert all(login == USER and not ok for login, ok in smtp_server.login_attempts)
        assert smtp_server.received == []
    finally:
        desk.close()


def test_recipient_550_fails_step_with_server_text(mail_app, smtp_server):
    smtp_server.refuse_recipient(BORROWER, 550, "5.1.1 <jordan.rivera@example.com>: Recipient address "
                                                "rejected: User unknown")
    contact = caller_with_email(mail_app)
    step = email_4h(mail_app, contact)
    assert step.status == "failed"
    assert step.error_code == "550"
    assert "550 5.1.1 <jordan.rivera@example.com>: Recipient address rejected: User unknown" in step.detail
    assert smtp_server.rcpt_replies == [(BORROWER, 550)]
    assert any("Email failed" in s and "550" in s for s in mail_app.timeline(contact.id, "email"))


def test_temporary_450_is_retried(mail_app, smtp_server):
    smtp_server.refuse_recipient(BORROWER, 450, "4.2.1 Mailbox busy, try again later", times=1)
    step = email_4h(mail_app, caller_with_email(mail_app))
    assert smtp_server.rcpt_replies == [(BORROWER, 450), (BORROWER, 250)]
    assert len(smtp_server.wait_for(1)) == 1
    assert step.status == "sent"
    assert step.attempts == 2


def test_send_errors_are_classified(tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls") as server:
        config = smtp_email.parse_smtp_url(server.url())
        message = EmailMessage()
        message["Subject"] = "x"
        message.set_content("x")
        server.refuse_recipient("gone@example.com", 550, "5.1.1 User unknown")
        server.refuse_recipient("busy@example.com", 451, "4.3.0 Try later")
        with pytest.raises(ProviderError) as gone:
            smtp_email.send(config, message, sender="loans@harborpoint.example", recipient="gone@example.com")
        with pytest.raises(ProviderError) as busy:
            smtp_email.send(config, message, sender="loans@harborpoint.example", recipient="busy@example.com")
    assert (gone.value.code, gone.value.retryable) == ("550", False)
    assert (busy.value.code, busy.value.retryable) == ("451", True)

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    refused = smtp_email.parse_smtp_url(f"smtp://127.0.0.1:{port}?tls=none&timeout=2")
    with pytest.raises(ProviderError) as error:
        smtp_email.send(refused, message, sender="a@example.com", recipient="b@example.com")
    assert error.value.retryable
    assert "refused the connection" in error.value.message


def test_no_email_address_skips_step(mail_app, smtp_server):
    contact = caller_with_email(mail_app, email=None)
    step = email_4h(mail_app, contact)
    assert step.status == "skipped"
    assert step.detail == "no email address known for the borrower"
    assert smtp_server.received == []


def test_sandbox_without_smtp_sends_nothing(data_dir, twilio_api):
    desk = open_app(data_dir, twilio_api)
    try:
        step = email_4h(desk, caller_with_email(desk))
        assert step.status == "sent"
        assert step.detail.startswith("sandbox mode: recorded, not sent (no SMTP server set")
        assert f"would email {BORROWER}" in step.detail
        assert any(s.startswith("Sandbox: would have sent email") for s in desk.timeline(step.contact_id))
    finally:
        desk.close()


def test_bad_smtp_url_skips_step(data_dir, twilio_api):
    desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": "http://mail.example.com"})
    try:
        step = email_4h(desk, caller_with_email(desk))
        assert step.status == "skipped"
        assert "email is misconfigured: the SMTP URL must start with smtp://" in step.detail
    finally:
        desk.close()


# -- the message -----------------------------------------------------------------------------

def test_message_is_multipart_with_escaped_html(data_dir, twilio_api, smtp_server):
    desk = open_app(data_dir, twilio_api, {"MCD_SMTP_URL": smtp_server.url()},
                    settings={"email.rate_snapshot": "30-year fixed <b>6.1%</b> & no points",
                              "email.postal_address": "12 Harbor St, Boston, MA 02110"})
    try:
        def lo_email(uow):
            for lo in uow.session.exec(select(models.LoanOfficer)):
                lo.email = f"{lo.name.split()[0].lower()}@harborpoint.example"
                uow.add(lo)

        desk.ctx.db.write(lo_email)
        contact = caller_with_email(desk)
        email_4h(desk, contact)
        message = smtp_server.wait_for(1)[0].message
    finally:
        desk.close()

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    # SMTP carries CRLF line ends.
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")

    assert "30-year fixed <b>6.1%</b> & no points" in plain
    assert "30-year fixed &lt;b&gt;6.1%&lt;/b&gt; &amp; no points" in html
    assert "<b>" not in html
    # Paragraphs become <p>; the numbered lines inside one paragraph keep their breaks.
    assert html.count("<p>") == plain.split("\n-- \n")[0].count("\n\n") + 1
    assert "1. A short call with Dana Reyes about your goals and timeline.<br>\n2. A pre-approval" in html
    assert "12 Harbor St, Boston, MA 02110" in plain
    assert "12 Harbor St, Boston, MA 02110" in html

    assert message["From"] == SENDER
    assert message["Reply-To"] == "Dana Reyes <dana@harborpoint.example>"
    assert message["Message-ID"].endswith("@harborpoint.example>")
    assert message["Date"]
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{PUBLIC_URL}/email/unsubscribe/")
    assert "<mailto:loans@harborpoint.example?subject=unsubscribe>" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe[1:unsubscribe.index(">")]
    assert f"To stop these emails, open {link}" in plain
    assert f'href="{link}"' in html


def test_build_message_escapes_every_paragraph():
    from datetime import datetime, timezone
    from email.headerregistry import Address

    message = email_channel.build_message(
        sender=Address("Desk", "loans", "harborpoint.example"), to="a@example.com", subject="Hi",
        body="<script>alert(1)</script>\n\nTom & Jerry\nsecond line\n\n\n\nlast", broker="A&B",
        postal_address="", unsubscribe_url="https://desk.example.test/email/unsubscribe/t?x=1&y=2",
        reply_to=None, now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    html = message.get_body(("html",)).get_content()
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in html
    assert "<p>Tom &amp; Jerry<br>\nsecond line</p>" in html
    assert "<p>last</p>" in html
    assert 'href="https://desk.example.test/email/unsubscribe/t?x=1&amp;y=2"' in html
    assert "You are getting this email because you called A&amp;B." in html


# -- unsubscribe -----------------------------------------------------------------------------

def unsubscribe_link(message) -> str:
    header = message["List-Unsubscribe"]
    return header[1:header.index(">")]


def test_unsubscribe_link_records_email_opt_out(mail_app, smtp_server):
    contact = caller_with_email(mail_app)
    email_4h(mail_app, contact)
    link = unsubscribe_link(smtp_server.wait_for(1)[0].message)
    local = mail_app.app_base + link[len(PUBLIC_URL):]

    page = httpx.get(local)
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    with mail_app.ctx.db.read() as session:
        assert session.exec(select(models.OptOutEntry)).all() == []

    done = httpx.post(local, content="List-Unsubscribe=One-Click",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    again = httpx.post(local)
    assert again.status_code == 200

    with mail_app.ctx.db.read() as session:
        entries = session.exec(select(models.OptOutEntry)).all()
    assert len(entries) == 1
    assert (entries[0].channel, entries[0].email, entries[0].phone) == ("email", BORROWER, contact.phone)
    assert entries[0].action == "opt_out"
    nurture = mail_app.step(contact.id, "nurture_7d")
    assert nurture.status == "cancelled"
    assert nurture.detail == "unsubscribed from email"
    assert mail_app.step(contact.id, "sms_24h").status == "scheduled"
    assert any("Unsubscribed jordan.rivera@example.com from email" in s
               for s in mail_app.timeline(contact.id, "opt_out"))


def test_unsubscribed_address_gets_no_more_email(mail_app, smtp_server):
    contact = caller_with_email(mail_app)
    email_4h(mail_app, contact)
    link = unsubscribe_link(smtp_server.wait_for(1)[0].message)
    httpx.post(mail_app.app_base + link[len(PUBLIC_URL):])
    second = mail_app.miss(seconds=2, caller="+12125550147")  # accidental: only the email step
    mail_app.update_contact(second.id, email=BORROWER.upper())
    mail_app.run_after(4 * 60 + 1)
    assert len(smtp_server.received) == 1
    step = mail_app.step(second.id, "email_4h")
    assert step.status == "cancelled"
    assert step.detail == "email address unsubscribed"


def test_unknown_unsubscribe_token_is_404(mail_app):
    for token in ("x" * 43, "short", "../../etc/passwd"):
        assert httpx.get(f"{mail_app.app_base}/email/unsubscribe/{token}").status_code == 404
        assert httpx.post(f"{mail_app.app_base}/email/unsubscribe/{token}").status_code == 404


# -- settings: URL parsing and "Test connection" ---------------------------------------------

@pytest.mark.parametrize("url, host, port, security, user", [
    ("smtp://u%40x.com:p%3Aw@smtp.example.com", "smtp.example.com", 587, "starttls", "u@x.com"),
    ("smtps://u:p@smtp.example.com", "smtp.example.com", 465, "tls", "u"),
    ("smtp://relay.local:25?tls=none", "relay.local", 25, "none", None),
    ("SMTP://u:p@Mail.Example.com:2525", "mail.example.com", 2525, "starttls", "u"),
])
def test_smtp_url_accepted(url, host, port, security, user):
    config = smtp_email.parse_smtp_url(url)
    assert (config.host, config.port, config.security, config.username) == (host, port, security, user)


@pytest.mark.parametrize("url, words", [
    ("http://smtp.example.com", "must start with smtp://"),
    ("smtp://", "no host name"),
    ("smtp://u@smtp.example.com", "no password"),
    ("smtp://u:p@relay.local:25?tls=none", "unencrypted"),
    ("smtps://relay.local?tls=none", "contradicts smtps://"),
    ("smtp://smtp.example.com?verify=no", "unknown SMTP URL parameter verify"),
    ("smtp://smtp.example.com:99999", "invalid SMTP URL"),
    ("smtp://smtp.example.com?timeout=abc", "not a number"),
    ("smtp://bad..host:25", "not a valid host name"),
])
def test_smtp_url_rejected(url, words):
    with pytest.raises(smtp_email.SmtpConfigError) as error:
        smtp_email.parse_smtp_url(url)
    assert words in str(error.value)


def test_check_connection_ok(smtp_server):
    result = smtp_email.check_connection(smtp_email.parse_smtp_url(smtp_server.url()))
    assert result.ok
    assert result.stage == "ok"
    assert f"logged in as {USER}" in result.message


def test_check_connection_names_dns_failure():
    def no_such_host(host, port, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    config = smtp_email.parse_smtp_url("smtp://u:p@smtp.nowhere.example:587")
    result = smtp_email.check_connection(config, resolve=no_such_host)
    assert (result.ok, result.stage) == (False, "dns")
    assert result.message.startswith("DNS: cannot resolve 'smtp.nowhere.example'")


def test_check_connection_names_refused_port():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = smtp_email.check_connection(smtp_email.parse_smtp_url(f"smtp://u:p@127.0.0.1:{port}?timeout=2"))
    assert (result.ok, result.stage) == (False, "connect")
    assert "refused the connection" in result.message


def test_check_connection_names_tls_failure(smtp_server):
    # Without cafile= the stand-in's self-signed certificate is not trusted.
    url = smtp_server.url().split("?")[0]
    result = smtp_email.check_connection(smtp_email.parse_smtp_url(url))
    assert (result.ok, result.stage) == (False, "tls")
    assert "failed verification" in result.message


def test_check_connection_names_wrong_mode(tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls") as server:
        url = server.url().replace("smtp://", "smtps://")
        result = smtp_email.check_connection(smtp_email.parse_smtp_url(url))
    assert (result.ok, result.stage) == (False, "tls")
    assert "did not speak TLS" in result.message


def test_check_connection_names_login_failure(smtp_server):
    result = smtp_email.check_connection(smtp_email.parse_smtp_url(smtp_server.url(password="nope")))
    assert (result.ok, result.stage) == (False, "auth")
    assert "535" in result.message
    assert "rejected the login" in result.message


def test_check_connection_through_context(mail_app):
    assert email_channel.check_smtp_connection(mail_app.ctx).ok

