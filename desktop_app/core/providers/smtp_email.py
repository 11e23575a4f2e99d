"""SMTP client for the email channel: parse the server URL, send one message, check a connection."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email import policy
from urllib.parse import parse_qs, unquote, urlsplit

from desktop_app.core.providers.base import ProviderError

log = logging.getLogger(__name__)

PROVIDER = "smtp"
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
DEFAULT_TIMEOUT = 20.0
_PLAIN_WORDS = ("none", "off", "no", "false")


class SmtpConfigError(ValueError):
    """An SMTP URL that cannot be used; the message names the part and the fix."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # starttls, tls (implicit, smtps://) or none (plain, local relays only)
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        """Host, port and security for messages; never the password."""
        mode = {"starttls": "STARTTLS", "tls": "TLS", "none": "no encryption"}[self.security]
        return f"{self.host}:{self.port} ({mode})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Read smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (TLS).

    Query parameters: tls=none turns encryption off on smtp:// (local relays without a
    login), cafile=PATH trusts extra certificates, timeout=SECONDS bounds each step.
    """
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise SmtpConfigError(f"invalid SMTP URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpConfigError(
            f"the SMTP URL must start with smtp:// (STARTTLS, usually port 587) or smtps:// "
            f"(TLS, usually port 465), not {scheme + '://' if scheme else 'nothing'}")
    if not parts.hostname:
        raise SmtpConfigError("the SMTP URL has no host name, as in smtp://user:password@smtp.example.com:587")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise SmtpConfigError(f"{parts.hostname!r} is not a valid host name") from None

    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"tls", "cafile", "timeout"})
    if unknown:
        raise SmtpConfigError(f"unknown SMTP URL parameter {', '.join(unknown)}; "
                              "use tls=none, cafile=PATH or timeout=SECONDS")

    security = "tls" if scheme == "smtps" else "starttls"
    tls_value = (query.get("tls") or [""])[-1].strip().lower()
    if tls_value:
        if tls_value not in _PLAIN_WORDS:
            raise SmtpConfigError(f"tls={tls_value!r} is not supported; only tls=none (no encryption) is")
        if scheme == "smtps":
            raise SmtpConfigError("tls=none contradicts smtps://; use smtp://host:25?tls=none for a plain relay")
        security = "none"

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and password is None:
        raise SmtpConfigError(f"the SMTP URL names the user {username!r} but no password "
                              "(smtp://user:password@host:587; write @ in a user name as %40)")
    if security == "none" and username:
        raise SmtpConfigError("tls=none would send the password unencrypted; use smtp:// "
                              "(STARTTLS) or smtps:// (TLS) with a login")

    cafile = (query.get("cafile") or [""])[-1] or None
    if cafile and not os.path.isfile(cafile):
        raise SmtpConfigError(f"cafile {cafile!r} is not a file")

    timeout = DEFAULT_TIMEOUT
    if query.get("timeout"):
        raw = query["timeout"][-1]
        try:
            timeout = float(raw)
        except ValueError:
            raise SmtpConfigError(f"timeout={raw!r} is not a number of seconds") from None
        if not 0.1 <= timeout <= 300:
            raise SmtpConfigError(f"timeout={raw} is outside 0.1 to 300 seconds")

    return SmtpConfig(host=parts.hostname, port=port or DEFAULT_PORTS[scheme], security=security,
                      username=username, password=password, cafile=cafile, timeout=timeout)


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.cafile:
        context.load_verify_locations(cafile=config.cafile)
    return context


def _server_text(raw) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return " ".join(str(raw).split())


def _ehlo_name() -> str:
    # smtplib would use socket.getfqdn(), which can stall for seconds on reverse DNS.
    name = socket.gethostname() or "localhost"
    return name if name.isascii() else "localhost"


class _TrackedSMTP(smtplib.SMTP):
    """smtplib.SMTP that records in its session when the TCP connection is up."""

    def __init__(self, session: "_Session", **kwargs):
        self._session = session
        super().__init__(**kwargs)

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        self._session.stage = "greeting"
        return sock


class _TrackedSMTPSSL(smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL that records in its session when TCP and then TLS are up."""

    def __init__(self, session: "_Session", **kwargs):
        self._session = session
        super().__init__(**kwargs)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._session.stage = "tls"
        try:
            sock = self.context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        self._session.stage = "greeting"
        return sock


class _Session:
    """One SMTP connection that records the stage it reached, so errors can name it."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self.stage = "connect"
        self.client: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        config = self.config
        context = _tls_context(config) if config.security != "none" else None
        self.stage = "connect"
        # The constructors connect, read the greeting and raise SMTPConnectError unless it is 220.
        if config.security == "tls":
            client = _TrackedSMTPSSL(self, host=config.host, port=config.port,
                                     local_hostname=_ehlo_name(), timeout=config.timeout,
                                     context=context)
        else:
            client = _TrackedSMTP(self, host=config.host, port=config.port,
                                  local_hostname=_ehlo_name(), timeout=config.timeout)
        self.client = client
        client.ehlo()
        if config.security == "starttls":
            self.stage = "tls"
            if not client.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer STARTTLS; use smtps:// if it expects TLS at once, "
                    "or tls=none for a plain local relay")
            client.starttls(context=context)
            client.ehlo()
        if config.username:
            self.stage = "auth"
            client.login(config.username, config.password or "")
        self.stage = "ready"
        return client

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()


def send(config: SmtpConfig, message: EmailMessage, *, sender: str, recipient: str) -> str:
    """Send one message to one recipient; return the server's reply to the message data.

    Raises ProviderError: retryable for 4xx replies, timeouts and refused connections,
    final for 5xx replies, a rejected login and TLS certificate failures. A failure while
    the message data was on the wire is marked ambiguous (it may have been accepted).
    """
    session = _Session(config)
    try:
        client = session.open()
        utf8 = not (sender.isascii() and recipient.isascii())
        mail_options: list[str] = []
        if utf8:
            if not client.has_extn("smtputf8"):
                raise ProviderError(PROVIDER, f"{config.host} does not accept international email "
                                              f"addresses (no SMTPUTF8); cannot send to {recipient}")
            mail_options = ["SMTPUTF8", "BODY=8BITMIME"]
        data = message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)

        session.stage = "sender"
        code, reply = client.mail(sender, mail_options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        session.stage = "recipient"
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        session.stage = "data"
        code, reply = client.data(data)
        session.stage = "sent"
        return f"{code} {_server_text(reply)}"
    except ProviderError:
        raise
    except Exception as exc:
        raise provider_error(exc, config, session.stage, recipient) from None
    finally:
        session.close()


def provider_error(exc: BaseException, config: SmtpConfig, stage: str, recipient: str = "") -> ProviderError:
    """Turn an smtplib, socket or ssl error into a ProviderError that names the server's reply."""
    host = config.host
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        address, (code, reply) = next(iter(exc.recipients.items()))
        return _reply_error(code, reply, f"{host} rejected the recipient {address}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _reply_error(exc.smtp_code, exc.smtp_error, f"{host} rejected the sender {exc.sender}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _reply_error(exc.smtp_code, exc.smtp_error,
                            f"{host} rejected the login of {config.username!r}; check the user "
                            "name and password in the SMTP URL")
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_error(exc.smtp_code, exc.smtp_error, f"{host} refused the message")

    if isinstance(exc, smtplib.SMTPConnectError):
        return _reply_error(exc.smtp_code, exc.smtp_error, f"{host} refused the session")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_error(exc.smtp_code, exc.smtp_error, f"{host} answered during {stage}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ProviderError(PROVIDER, f"{host}: {exc}")
    if isinstance(exc, smtplib.SMTPException) and stage == "auth":
        # smtplib raises a bare SMTPException when no AUTH method matches.
        return ProviderError(PROVIDER, f"{host} offers no login method this app supports ({exc})")

    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProviderError(PROVIDER, f"the TLS certificate of {host} failed verification: "
                                       f"{exc.verify_message}; fix the server certificate or "
                                       "add cafile=PATH to the SMTP URL")
    if isinstance(exc, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(exc):
            return ProviderError(PROVIDER, f"{host}:{config.port} did not speak TLS; if it expects "
                                           "STARTTLS use smtp:// on port 587")
        return ProviderError(PROVIDER, f"TLS with {host}:{config.port} failed: {exc}", retryable=True)

    if isinstance(exc, socket.gaierror):
        return ProviderError(PROVIDER, f"cannot resolve the SMTP host {host!r}: {exc.strerror}",
                             retryable=True)

    ambiguous = stage in ("data", "sent")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        hint = ""
        if stage == "greeting" and config.security == "starttls":
            hint = " (a server that expects TLS at once, usually on port 465, needs smtps://)"
        return ProviderError(PROVIDER, f"{host}:{config.port} timed out after {config.timeout:g} s "
                                       f"during {stage}{hint}", retryable=True, ambiguous=ambiguous)
    if isinstance(exc, ConnectionRefusedError):
        return ProviderError(PROVIDER, f"{host}:{config.port} refused the connection; check the "
                                       "host and port (587 for STARTTLS, 465 for TLS)", retryable=True)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
        return ProviderError(PROVIDER, f"the connection to {host}:{config.port} failed during "
                                       f"{stage}: {exc}", retryable=True, ambiguous=ambiguous)
    return ProviderError(PROVIDER, f"unexpected error talking to {host} during {stage}: {exc!r}")


def _reply_error(code, reply, summary: str) -> ProviderError:
    text = _server_text(reply)
    retryable = 400 <= int(code or 0) < 500
    return ProviderError(PROVIDER, f"{summary}: {code} {text}", code=str(code), retryable=retryable)


@dataclass(frozen=True)
class ConnectionCheck:
    """Outcome of check_connection: `stage` is where it stopped (config, dns, connect, tls,
    auth) or "ok"."""

    ok: bool
    stage: str
    message: str


_STAGE_NAMES = {"connect": "connect", "greeting": "connect", "tls": "tls", "auth": "auth"}


def check_connection(config: SmtpConfig, resolve=socket.getaddrinfo) -> ConnectionCheck:
    """Connect, start TLS and log in without sending anything, and report which stage failed.

    Blocking; the settings window runs it off the GUI thread. `resolve` is the DNS lookup
    (socket.getaddrinfo), replaceable so tests need no name server.
    """
    try:
        resolve(config.host, config.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return ConnectionCheck(False, "dns", f"DNS: cannot resolve {config.host!r} ({exc.strerror}); "
                                             "check the host name in the SMTP URL")
    session = _Session(config)
    try:
        client = session.open()
        client.noop()
    except Exception as exc:
        stage = _STAGE_NAMES.get(session.stage, "connect")
        if isinstance(exc, ssl.SSLError):
            stage = "tls"
        error = provider_error(exc, config, session.stage)
        label = {"connect": "Connection", "tls": "TLS", "auth": "Login"}[stage]
        return ConnectionCheck(False, stage, f"{label}: {error.message}")
    finally:
        session.close()
    login = f" and logged in as {config.username}" if config.username else ""
    return ConnectionCheck(True, "ok", f"Connected to {config.describe()}{login}.")
