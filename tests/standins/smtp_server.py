"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives.

Modes: plain, STARTTLS (required before MAIL) and implicit TLS, each with or without a
login. Recipients can be refused with a permanent (550) or temporary (450) reply.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "desk@harborpoint.example"
PASSWORD = "standin-smtp-password"


def make_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway self-signed certificate for host (and localhost); returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp stand-in")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "smtp-standin.pem"
    key_path = folder / "smtp-standin.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


class _BoundController(Controller):
    """aiosmtpd's Controller on a port the OS picked (its own code needs a fixed port)."""

    def __init__(self, handler, sock: socket.socket, **kwargs):
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpStandIn:
    """mode: plain, starttls or tls. With login=True the server requires USER and PASSWORD."""

    def __init__(self, folder: Path, mode: str = "starttls", login: bool = True):
        if mode not in ("plain", "starttls", "tls"):
            raise ValueError(f"mode {mode!r} is not plain, starttls or tls")
        self.mode = mode
        self.login = login
        self.received: list[Received] = []
        self.login_attempts: list[tuple[str, bool]] = []
        # recipient (lower case) -> [code, text, times left]; refused while times left > 0
        self.refuse: dict[str, list] = {}
        self.rcpt_replies: list[tuple[str, int]] = []  # (recipient, code) for every RCPT
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.cert_path: Path | None = None
        self._controller: _BoundController | None = None
        self._folder = folder

    @property
    def port(self) -> int:
        return self._controller.port

    def url(self, user: str | None = USER, password: str | None = PASSWORD) -> str:
        """The MCD_SMTP_URL that reaches this server, trusting its certificate."""
        from urllib.parse import quote

        auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        if self.mode == "tls":
            return f"smtps://{auth}127.0.0.1:{self.port}?cafile={self.cert_path}&timeout=5"
        if self.mode == "starttls":
            return f"smtp://{auth}127.0.0.1:{self.port}?cafile={self.cert_path}&timeout=5"
        return f"smtp://{auth}127.0.0.1:{self.port}?tls=none&timeout=5"

    def start(self) -> "SmtpStandIn":
        tls_context = None
        if self.mode != "plain":
            self.cert_path, key_path = make_certificate(self._folder)
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(self.cert_path, key_path)
        kwargs: dict = {}
        if self.mode == "starttls":
            kwargs.update(tls_context=tls_context, require_starttls=True)
        elif self.mode == "tls":
            kwargs.update(ssl_context=tls_context)
        if self.login:
            # aiosmtpd counts only STARTTLS as TLS, so with implicit TLS it must not insist
            # on TLS before AUTH, and it warns when a login is then also required.
            implicit = self.mode == "tls"
            kwargs.update(authenticator=self._authenticate, auth_required=not implicit,
                          auth_require_tls=not implicit)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._controller = _BoundController(self, sock, server_hostname="mail.standin.test", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- aiosmtpd hooks ---------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        with self._lock:
            self.login_attempts.append((login, ok))
        # handled=False makes aiosmtpd send the failure reply itself (535).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            refused = self.refuse.get(address.lower())
            code, text = (refused[0], refused[1]) if refused and refused[2] > 0 else (250, "2.1.5 OK")
            if refused and refused[2] > 0:
                refused[2] -= 1
            self.rcpt_replies.append((address, code))
        if code == 250:
            envelope.rcpt_tos.append(address)
        return f"{code} {text}"

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        record = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content
                                                                           or envelope.content),
                          tls=session.ssl is not None or self.mode == "tls", login=login)
        with self._lock:
            self.received.append(record)
            self._arrived.notify_all()
        return "250 2.0.0 Ok: queued as STANDIN1"

    # -- inspection -------------------------------------------------------------------------

    def refuse_recipient(self, address: str, code: int, text: str, times: int = 1_000_000) -> None:
        with self._lock:
            self.refuse[address.lower()] = [code, text, times]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} email(s), got {len(self.received)}")
                self._arrived.wait(remaining)
            return list(self.received)
