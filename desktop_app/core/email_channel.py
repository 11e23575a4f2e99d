"""The email channel: SMTP sends of the sequence's emails, and the borrower's unsubscribe link."""

from __future__ import annotations

import html
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Optional

from sqlmodel import Field, SQLModel, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from desktop_app.core import compliance, models, sequences
from desktop_app.core.context import register_channel
from desktop_app.core.db import StorageError
from desktop_app.core.events import ContactChanged, Notification
from desktop_app.core.models import UTCDateTime
from desktop_app.core.providers import smtp_email
from desktop_app.core.providers.base import ProviderError, SendResult
from desktop_app.core.server import register_routes
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

UNSUBSCRIBE_PATH = "/email/unsubscribe/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


class EmailUnsubscribe(SQLModel, table=True):
    """The secret token behind one borrower's unsubscribe link, per contact and address."""

    __tablename__ = "email_unsubscribe"

    token: str = Field(primary_key=True)
    contact_id: Optional[int] = Field(default=None, index=True)
    phone: str  # kept so the opt-out ledger entry is keyed even if the contact is deleted
    email: str = Field(index=True)  # lower case
    created_at: datetime = Field(sa_type=UTCDateTime)
    used_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


# -- configuration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EmailSettings:
    smtp: smtp_email.SmtpConfig | None  # None: sandbox mode
    sender: Address | None


class EmailConfigError(ValueError):
    """SMTP URL or sender address that cannot be used."""


def load_settings(ctx) -> EmailSettings:
    """Read the SMTP URL and sender address (env first, then the keyring)."""
    url = ctx.secrets.get("smtp.url")
    smtp = smtp_email.parse_smtp_url(url) if url else None
    sender = _sender_address(ctx, smtp)
    if smtp is not None and sender is None:
        raise EmailConfigError("no sender address: set MCD_EMAIL_FROM (or email.from in the "
                               "settings) to the address emails come from")
    return EmailSettings(smtp, sender)


def _sender_address(ctx, smtp: smtp_email.SmtpConfig | None) -> Address | None:
    raw = ctx.secrets.get("email.from")
    if not raw and smtp is not None and smtp.username and "@" in smtp.username:
        raw = smtp.username
    if not raw:
        return None
    name, address = parseaddr(raw)
    if not is_email_address(address):
        raise EmailConfigError(f"the sender address {raw!r} is not an email address")
    user, _, domain = address.rpartition("@")
    try:
        return Address(display_name=name or ctx.settings.get("brokerage.name") or "",
                       username=user, domain=domain)
    except (ValueError, IndexError) as exc:
        raise EmailConfigError(f"the sender address {raw!r} cannot be used: {exc}") from None


_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")


def is_email_address(text: str) -> bool:
    """Check that text is one plain address (user@domain.tld), not a list or a display-name form."""
    return bool(_ADDRESS.fullmatch(text or ""))


def email_ready(ctx) -> tuple[bool, str]:
    """Report the channel ready with SMTP or in sandbox mode, and not ready when misconfigured."""
    try:
        load_settings(ctx)
    except (smtp_email.SmtpConfigError, EmailConfigError) as exc:
        return False, f"email is misconfigured: {exc}"
    return True, ""


def check_smtp_connection(ctx) -> smtp_email.ConnectionCheck:
    """Run the settings window's "Test connection" and report which stage failed (DNS, connect,
    TLS, login)."""
    try:
        settings = load_settings(ctx)
    except (smtp_email.SmtpConfigError, EmailConfigError) as exc:
        return smtp_email.ConnectionCheck(False, "config", f"Settings: {exc}")
    if settings.smtp is None:
        return smtp_email.ConnectionCheck(False, "config", "Settings: no SMTP server is set; set "
                                                           "MCD_SMTP_URL or smtp.url in the settings")
    return smtp_email.check_connection(settings.smtp)


def mask_email(address: str) -> str:
    """j***@example.com, for logs."""
    user, _, domain = (address or "").partition("@")
    return f"{user[:1]}***@{domain}" if domain else "***"


# -- the message -----------------------------------------------------------------------------

def _paragraphs(text: str) -> list[list[str]]:
    """Blank lines separate paragraphs; line breaks inside a paragraph are kept."""
    result = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = [line.rstrip() for line in block.split("\n")]
        if any(lines):
            result.append(lines)
    return result


def _footer_lines(broker: str, postal_address: str) -> list[str]:
    lines = [f"You are getting this email because you called {broker}."]
    if postal_address.strip():
        lines.append(" ".join(postal_address.split()))
    return lines


def build_message(*, sender: Address, to: str, subject: str, body: str, broker: str,
                  postal_address: str, unsubscribe_url: str | None, reply_to: Address | None,
                  now: datetime) -> EmailMessage:
    """Build a multipart/alternative email (plain text and HTML) with unsubscribe headers and footer."""
    paragraphs = _paragraphs(body)
    footer = _footer_lines(broker, postal_address)
    mailto = f"mailto:{sender.addr_spec}?subject=unsubscribe"
    if unsubscribe_url:
        stop_text = f"To stop these emails, open {unsubscribe_url} or reply with the word unsubscribe."
    else:
        stop_text = "To stop these emails, reply with the word unsubscribe."

    text = "\n\n".join("\n".join(lines) for lines in paragraphs)
    text += "\n\n-- \n" + "\n".join(footer + [stop_text]) + "\n"

    html_paragraphs = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>" for lines in paragraphs)
    if unsubscribe_url:
        stop_html = (f'To stop these emails, <a href="{html.escape(unsubscribe_url, quote=True)}">'
                     "unsubscribe here</a> or reply with the word unsubscribe.")
    else:
        stop_html = html.escape(stop_text)
    footer_html = "<br>\n".join([html.escape(line) for line in footer] + [stop_html])
    html_body = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n"
                 "<body style=\"font-family: Arial, sans-serif; font-size: 15px; color: #222;\">\n"
                 f"{html_paragraphs}\n"
                 "<hr style=\"border: none; border-top: 1px solid #ddd;\">\n"
                 f"<p style=\"font-size: 12px; color: #666;\">{footer_html}</p>\n"
                 "</body></html>\n")

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.domain)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    # RFC 2369 and RFC 8058: mail clients show an unsubscribe button; one-click POSTs the URL.
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>, <{mailto}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    else:
        message["List-Unsubscribe"] = f"<{mailto}>"
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    return message


# -- sending ---------------------------------------------------------------------------------

def _unsubscribe_token(uow, contact_id: int, email: str, now: datetime) -> str | None:
    """Return the unsubscribe token for this contact and address, created on first use."""
    contact = uow.session.get(models.Contact, contact_id)
    if contact is None:
        return None
    address = email.strip().lower()
    row = uow.session.exec(
        select(EmailUnsubscribe).where(EmailUnsubscribe.contact_id == contact_id)
        .where(EmailUnsubscribe.email == address)
    ).first()
    if row is None:
        row = EmailUnsubscribe(token=secrets.token_urlsafe(32), contact_id=contact_id,
                               phone=contact.phone, email=address, created_at=now)
        uow.add(row)
    return row.token


def _reply_to(ctx, lo_id: int | None) -> Address | None:
    """Replies go to the borrower's LO when the LO has an email address."""
    if lo_id is None:
        return None
    with ctx.db.read() as session:
        lo = session.get(models.LoanOfficer, lo_id)
    if lo is None or not is_email_address(lo.email or ""):
        return None
    user, _, domain = lo.email.rpartition("@")
    try:
        return Address(display_name=lo.name, username=user, domain=domain)
    except (ValueError, IndexError):
        log.warning("Loan officer %s has an unusable email address; replies go to the sender", lo.id)
        return None


class EmailSender:
    """Sends one email job through SMTP, or records it in sandbox mode."""

    def __init__(self, ctx):
        self.ctx = ctx

    def send(self, job) -> SendResult:
        ctx = self.ctx
        try:
            settings = load_settings(ctx)
        except (smtp_email.SmtpConfigError, EmailConfigError) as exc:
            raise ProviderError(smtp_email.PROVIDER, f"email is misconfigured: {exc}") from None
        if not is_email_address(job.to_number):
            raise ProviderError(smtp_email.PROVIDER, f"the borrower's email {job.to_number!r} is not "
                                                     "a single email address; correct it on the contact")

        now = ctx.clock.now()
        token = ctx.db.write(_unsubscribe_token, job.contact_id, job.to_number, now) \
            if job.contact_id is not None else None
        public = ctx.public_url()
        unsubscribe_url = f"{public}{UNSUBSCRIBE_PATH}{token}" if public and token else None
        sender = settings.sender or Address(display_name=ctx.settings.get("brokerage.name") or "",
                                            username="sandbox", domain="example.invalid")
        message = build_message(
            sender=sender, to=job.to_number, subject=job.subject or "(no subject)", body=job.body,
            broker=ctx.settings.get("brokerage.name") or "our office",
            postal_address=ctx.settings.get("email.postal_address"),
            unsubscribe_url=unsubscribe_url, reply_to=_reply_to(ctx, job.extra.get("lo_id")), now=now)
        message_id = message["Message-ID"]

        if settings.smtp is None:
            log.info("Sandbox: would email %s (%d characters, step %s)", mask_email(job.to_number),
                     len(job.body), job.step_id)
            return SendResult(provider=smtp_email.PROVIDER, provider_id=message_id, status="sandbox",
                              sandbox=True,
                              detail=f"sandbox mode: recorded, not sent (no SMTP server set: "
                                     f"MCD_SMTP_URL or smtp.url); would email {job.to_number}: "
                                     f"{job.subject}")
        if unsubscribe_url is None:
            log.warning("Emailing %s without an unsubscribe link: the app has no public URL",
                        mask_email(job.to_number))
        reply = smtp_email.send(settings.smtp, message, sender=sender.addr_spec, recipient=job.to_number)
        log.info("Emailed %s through %s: %s", mask_email(job.to_number), settings.smtp.host, reply)
        return SendResult(provider=smtp_email.PROVIDER, provider_id=message_id, status="accepted",
                          detail=f"accepted by {settings.smtp.host}: {reply}")


# -- unsubscribe link ------------------------------------------------------------------------

def unsubscribe(uow, ctx, token: str, now: datetime) -> tuple[str, str | None]:
    """Record an email opt-out for the token's address. Returns (outcome, address)."""
    row = uow.session.get(EmailUnsubscribe, token)
    if row is None:
        return "unknown", None
    if compliance.email_opted_out(uow.session, row.email) is not None:
        return "already", row.email
    compliance.record(uow.session, phone=row.phone, action="opt_out", channel="email",
                      source="email_link", at=now, text="unsubscribe link", email=row.email)
    row.used_at = now
    uow.add(row)
    contact = uow.session.get(models.Contact, row.contact_id) if row.contact_id else None
    if contact is not None:
        count = sequences.cancel_pending(uow, contact, "unsubscribed from email", now,
                                         channels=("email",))
        add_event(uow, contact.id, "opt_out",
                  f"Unsubscribed {row.email} from email through the link in an email"
                  + (f" ({count} email step{'s' if count != 1 else ''} cancelled)" if count else ""),
                  now)
        uow.emit(ContactChanged(contact.id))
        uow.emit(Notification("opt_out", "Borrower unsubscribed from email",
                              f"{contact.name or row.email} unsubscribed from email.", contact.id))
    log.info("Email opt-out recorded for %s", mask_email(row.email))
    return "recorded", row.email


def _page(title: str, text: str, broker: str, form_action: str | None = None,
          status: int = 200) -> HTMLResponse:
    button = ""
    if form_action:
        button = (f'<form method="post" action="{html.escape(form_action, quote=True)}">'
                  '<button type="submit" style="font-size: 16px; padding: 8px 16px;">'
                  "Unsubscribe</button></form>")
    body = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            f"<title>{html.escape(title)}</title></head>\n"
            "<body style=\"font-family: Arial, sans-serif; max-width: 32em; margin: 3em auto;\">\n"
            f"<h1 style=\"font-size: 22px;\">{html.escape(title)}</h1>\n"
            f"<p>{html.escape(text)}</p>\n{button}\n"
            f"<p style=\"color: #666; font-size: 13px;\">{html.escape(broker)}</p>\n</body></html>\n")
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)


def _routes(ctx) -> list[Route]:
    async def page(request: Request) -> Response:
        token = request.path_params["token"]
        broker = ctx.settings.get("brokerage.name") or "Missed-Call Desk"
        if not _TOKEN.match(token):
            return _page("Link not valid", "This unsubscribe link is not valid.", broker, status=404)

        if request.method == "GET":
            # Link checkers open every URL in an email, so a GET only shows a button and the POST
            # records the opt-out.
            with ctx.db.read() as session:
                row = session.get(EmailUnsubscribe, token)
                done = row is not None and compliance.email_opted_out(session, row.email) is not None
            if row is None:
                return _page("Link not valid", "This unsubscribe link is not valid.", broker, status=404)
            if done:
                return _page("You are unsubscribed", f"{row.email} gets no more emails from us.", broker)
            return _page("Unsubscribe from our emails",
                         f"Press the button to stop automated emails to {row.email}.", broker,
                         form_action=str(request.url.path))

        await request.body()  # RFC 8058 one-click sends List-Unsubscribe=One-Click; any POST counts
        try:
            outcome, address = await ctx.db.write_async(unsubscribe, ctx, token, ctx.clock.now())
        except StorageError as exc:
            log.error("Could not record an email opt-out: %s", exc)
            return _page("Please try again", "We could not record your request just now. "
                         "Please try again in a minute.", broker, status=503)
        if outcome == "unknown":
            return _page("Link not valid", "This unsubscribe link is not valid.", broker, status=404)
        return _page("You are unsubscribed", f"{address} gets no more emails from us.", broker)

    return [Route(UNSUBSCRIBE_PATH + "{token}", page, methods=["GET", "POST"])]


def register() -> None:
    register_channel("email", email_ready, EmailSender)
    register_routes(_routes)

