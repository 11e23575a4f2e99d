"""The services a handler needs (store, settings, clock, providers), bundled in one object."""

from __future__ import annotations

import logging
import os
import secrets as pysecrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from desktop_app.core.clock import SystemClock
from desktop_app.core.db import Database
from desktop_app.core.events import EventBus, ServiceState
from desktop_app.core.providers.base import SmsProvider
from desktop_app.core.providers.sandbox import SandboxSms
from desktop_app.core.secrets import SecretStore
from desktop_app.core.settings import Settings
from desktop_app.core.templates import TemplateStore

log = logging.getLogger(__name__)

SANDBOX_KEY_FILE = "sandbox-signing.key"


def sandbox_signing_key(data_dir: Path) -> str:
    """Return the key that signs and checks Twilio-style webhooks while no auth token is set.

    It lives in the data folder (mode 0600), so `simulate` can sign test calls for a
    running app. It protects only the sandbox and is not a provider credential.
    """
    path = Path(data_dir) / SANDBOX_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = pysecrets.token_hex(20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


@dataclass
class Context:
    data_dir: Path
    db: Database
    settings: Settings
    templates: TemplateStore
    secrets: SecretStore
    bus: EventBus
    clock: object = field(default_factory=SystemClock)
    environ: dict = field(default_factory=lambda: dict(os.environ))
    # Set by the app once the listener and the tunnel are up.
    listen_port: int | None = None
    tunnel_url: str | None = None
    # Filled by the app: hands an outbound job to the sending queue.
    outbox: object | None = None
    # Filled by the app: schedules a wake-up of the dispatcher (callable(datetime)).
    wake_at: Callable | None = None
    # Filled by the app: processes stored webhook events after their response is sent.
    processor: object | None = None

    def __post_init__(self) -> None:
        from desktop_app.core.ingest import InFlight  # noqa: PLC0415

        self.inflight = InFlight()
        self._providers: dict[str, SmsProvider] = {}
        self._provider_lock = threading.Lock()

    # -- public URL -----------------------------------------------------------------------

    def public_url(self) -> str | None:
        """Return the https base URL providers call (MCD_PUBLIC_URL, else the tunnel), or None."""
        configured = self.environ.get("MCD_PUBLIC_URL")
        if configured:
            return configured.rstrip("/")
        if self.tunnel_url:
            return self.tunnel_url.rstrip("/")
        return None

    # -- Twilio ---------------------------------------------------------------------------

    def twilio_credentials(self) -> tuple[str, str] | None:
        sid = self.secrets.get("twilio.account_sid")
        token = self.secrets.get("twilio.auth_token")
        if sid and token:
            return sid, token
        return None

    def twilio_signing_key(self) -> str:
        creds = self.twilio_credentials()
        if creds:
            return creds[1]
        return sandbox_signing_key(self.data_dir)

    def sandbox(self, provider: str = "twilio") -> bool:
        return self.sms_provider(provider).sandbox

    def sms_provider(self, provider: str) -> SmsProvider:
        with self._provider_lock:
            existing = self._providers.get(provider)
            if existing is not None:
                return existing
            created = self._create_sms_provider(provider)
            self._providers[provider] = created
            return created

    def _create_sms_provider(self, provider: str) -> SmsProvider:
        if provider == "twilio":
            creds = self.twilio_credentials()
            if creds is None:
                self.bus.publish(ServiceState("twilio", "sandbox",
                                              "no Twilio credentials: texts are recorded, not sent"))
                return SandboxSms("twilio", "no Twilio credentials")
            from desktop_app.core.providers.twilio_sms import TwilioSms  # noqa: PLC0415

            self.bus.publish(ServiceState("twilio", "ready", ""))
            return TwilioSms(creds[0], creds[1], self.secrets.api_url("twilio"))
        factory = _EXTRA_SMS_PROVIDERS.get(provider)
        if factory is not None:
            made = factory(self)
            if made is not None:
                return made
        return SandboxSms(provider, f"no {provider} credentials")

    def channel_ready(self, channel: str) -> tuple[bool, str]:
        """Return whether a channel can take a send now (sandbox counts), and why not."""
        if channel == "sms":
            return True, ""
        factory = _CHANNEL_CHECKS.get(channel)
        if factory is None:
            return False, f"no {_CHANNEL_WORDS.get(channel, channel)} provider is set up yet"
        return factory(self)

    def step_skip_reason(self, session, contact, step) -> str | None:
        """Why a registered channel cannot serve this step (for example no LO recording)."""
        check = _STEP_CHECKS.get(step.channel)
        return check(self, session, contact, step) if check is not None else None

    def channel_sender(self, channel: str):
        """Return the sender for a channel other than SMS (object with send(job) -> SendResult)."""
        factory = _CHANNEL_SENDERS.get(channel)
        return factory(self) if factory is not None else None

    def reset_providers(self) -> None:
        """Drop cached clients so the next send picks up changed credentials."""
        with self._provider_lock:
            old = list(self._providers.values())
            self._providers.clear()
        for provider in old:
            provider.close()


_CHANNEL_WORDS = {"voicemail": "voicemail-drop", "email": "email"}
# Channels other than SMS register a readiness check here: check(context) -> (ready, reason).
_CHANNEL_CHECKS: dict[str, Callable[[Context], tuple[bool, str]]] = {}

# Channels other than SMS register their sender here: factory(context) -> sender.
_CHANNEL_SENDERS: dict[str, Callable[[Context], object]] = {}

# Channels other than SMS may register a per-step check here:
# check(context, session, contact, step) -> reason to skip the step, or None.
_STEP_CHECKS: dict[str, Callable[[Context, object, object, object], str | None]] = {}

# Other SMS providers register a factory here: factory(context) -> SmsProvider | None.
_EXTRA_SMS_PROVIDERS: dict[str, Callable[[Context], SmsProvider | None]] = {}


def register_sms_provider(name: str, factory: Callable[[Context], SmsProvider | None]) -> None:
    _EXTRA_SMS_PROVIDERS[name] = factory


def register_channel(channel: str, check: Callable[[Context], tuple[bool, str]],
                     sender: Callable[[Context], object],
                     step_check: Callable[[Context, object, object, object], str | None] | None = None
                     ) -> None:
    """Make a channel other than SMS sendable.

    `check(context)` returns whether the channel is ready (sandbox counts as ready) and why
    not. `sender(context)` returns an object with send(job).

    `step_check(context, session, contact, step)`, when given, runs with the sequence gates
    before every send and returns a reason to skip that one step, or None. The sender may
    also have after_sent(uow, job, result, now), called in the transaction that records a
    successful send.
    """
    _CHANNEL_CHECKS[channel] = check
    _CHANNEL_SENDERS[channel] = sender
    if step_check is not None:
        _STEP_CHECKS[channel] = step_check


# Called after each committed missed-call decision: hook(context, contact_id, call_id).
# The first text is queued before the hooks run, but a hook runs in the database writer
# thread, so it must only queue work for a thread of its own and return.
_MISS_HOOKS: list[Callable[[Context, int, int], None]] = []


def register_miss_hook(hook: Callable[[Context, int, int], None]) -> None:
    if hook not in _MISS_HOOKS:
        _MISS_HOOKS.append(hook)


def run_miss_hooks(context: Context, contact_id: int, call_id: int) -> None:
    for hook in list(_MISS_HOOKS):
        try:
            hook(context, contact_id, call_id)
        except Exception:
            log.exception("Missed-call hook %r failed for contact %s", hook, contact_id)


# Background services started with the app: factory(context) -> object with start() and
# stop(), or None when the service has nothing to do (e.g. no credentials).
_SERVICES: list[Callable[[Context], object | None]] = []


def register_service(factory: Callable[[Context], object | None]) -> None:
    if factory not in _SERVICES:
        _SERVICES.append(factory)


def service_factories() -> list[Callable[[Context], object | None]]:
    return list(_SERVICES)
