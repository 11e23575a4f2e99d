"""Provider credentials: the OS keyring, with environment variables taking precedence."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

SERVICE = "missed-call-desk"

# Each credential, the environment variable that overrides it, and whether it is a secret
# (secrets are never shown back in full).
CREDENTIALS: dict[str, tuple[str, bool]] = {
    "twilio.account_sid": ("MCD_TWILIO_ACCOUNT_SID", False),
    "twilio.auth_token": ("MCD_TWILIO_AUTH_TOKEN", True),
    "ringcentral.client_id": ("MCD_RINGCENTRAL_CLIENT_ID", False),
    "ringcentral.client_secret": ("MCD_RINGCENTRAL_CLIENT_SECRET", True),
    "ringcentral.jwt": ("MCD_RINGCENTRAL_JWT", True),
    "ringcentral.verification_token": ("MCD_RINGCENTRAL_VERIFICATION_TOKEN", True),
    "hubspot.token": ("MCD_HUBSPOT_TOKEN", True),
    "smtp.url": ("MCD_SMTP_URL", True),
    "email.from": ("MCD_EMAIL_FROM", False),
    "dropcowboy.key": ("MCD_DROPCOWBOY_KEY", True),
    "dropcowboy.secret": ("MCD_DROPCOWBOY_SECRET", True),
    # Signing secrets of Drop Cowboy webhooks (one per webhook, comma separated).
    "dropcowboy.webhook_secret": ("MCD_DROPCOWBOY_WEBHOOK_SECRET", True),
    "slybroadcast.user": ("MCD_SLYBROADCAST_USER", False),
    "slybroadcast.password": ("MCD_SLYBROADCAST_PASSWORD", True),
    "ngrok.authtoken": ("MCD_NGROK_AUTHTOKEN", True),
}

# Service URLs: not secret, but overridable the same way (tests point them at stand-ins).
API_URLS: dict[str, tuple[str, str]] = {
    "twilio": ("MCD_TWILIO_API_URL", "https://api.twilio.com"),
    "ringcentral": ("MCD_RINGCENTRAL_API_URL", "https://platform.ringcentral.com"),
    "hubspot": ("MCD_HUBSPOT_API_URL", "https://api.hubapi.com"),
    # The current Drop Cowboy API (x-key and x-secret headers); the v1 host takes other fields.
    "dropcowboy": ("MCD_DROPCOWBOY_API_URL", "https://api-v2.dropcowboy.com"),
    "slybroadcast": ("MCD_SLYBROADCAST_API_URL", "https://www.mobile-sphere.com/gateway/vmb.php"),
}


class SecretStoreError(RuntimeError):
    """The keyring could not store or read a credential."""


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str
    detail: str


def keyring_status() -> KeyringStatus:
    try:
        import keyring  # noqa: PLC0415
        from keyring.backends import fail, null  # noqa: PLC0415
    except Exception as exc:  # keyring itself or a backend failed to import
        return KeyringStatus(False, "none", f"the keyring library could not load: {exc}")
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return KeyringStatus(
            False, name,
            "No OS keyring is available, so credentials are read from environment variables "
            "only (MCD_TWILIO_AUTH_TOKEN and the others listed in the README).",
        )
    return KeyringStatus(True, name, f"Credentials are stored in the OS keyring ({name}).")


class SecretStore:
    """Reads env first, then the keyring. Writes go to the keyring only."""

    def __init__(self, environ: dict[str, str] | None = None):
        self._environ = environ if environ is not None else os.environ
        self._lock = threading.Lock()
        self._cache: dict[str, str | None] = {}

    def env_name(self, name: str) -> str:
        return CREDENTIALS[name][0]

    def source(self, name: str) -> str:
        """Return where the value comes from: env, keyring or missing."""
        if self._environ.get(self.env_name(name)):
            return "env"
        return "keyring" if self._from_keyring(name) else "missing"

    def get(self, name: str) -> str | None:
        if name not in CREDENTIALS:
            raise KeyError(name)
        value = self._environ.get(self.env_name(name))
        if value:
            return value
        return self._from_keyring(name)

    def _from_keyring(self, name: str) -> str | None:
        with self._lock:
            if name in self._cache:
                return self._cache[name]
        value = None
        if keyring_status().available:
            import keyring  # noqa: PLC0415

            try:
                value = keyring.get_password(SERVICE, name)
            except Exception as exc:
                log.warning("Could not read %s from the keyring: %s", name, type(exc).__name__)
        with self._lock:
            self._cache[name] = value
        return value

    def set(self, name: str, value: str | None) -> None:
        if name not in CREDENTIALS:
            raise KeyError(name)
        status = keyring_status()
        if not status.available:
            raise SecretStoreError(status.detail)
        import keyring  # noqa: PLC0415

        try:
            if value:
                keyring.set_password(SERVICE, name, value)
            else:
                try:
                    keyring.delete_password(SERVICE, name)
                except keyring.errors.PasswordDeleteError:
                    pass
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"storing {name} in the keyring failed: {exc}") from exc
        with self._lock:
            self._cache[name] = value or None
        log.info("Stored credential %s in the keyring", name)

    def in_keyring(self, name: str) -> bool:
        """Return whether the keyring has a value, even one an environment variable overrides."""
        return bool(self._from_keyring(name))

    def describe(self, name: str) -> str:
        """Say where a credential comes from without showing a secret value.

        Non-secret values (an account SID, a user name) are shown in full; an SMTP URL is
        shown with its password replaced by ***.
        """
        env_name, secret = CREDENTIALS[name]
        source = self.source(name)
        if source == "missing":
            return f"Not set. It can also come from the environment variable {env_name}."
        value = self.get(name) or ""
        if name == "smtp.url":
            shown = f" ({_without_password(value)})"
        elif not secret:
            shown = f" ({value})"
        else:
            shown = ""
        if source == "env":
            stored = " A value in the OS keyring is ignored while it is set." \
                if self.in_keyring(name) else ""
            return f"Set by the environment variable {env_name}{shown}, which wins over the keyring.{stored}"
        return f"Stored in the OS keyring{shown}."

    def api_url(self, service: str) -> str:
        env, default = API_URLS[service]
        return (self._environ.get(env) or default).rstrip("/")

    def redact(self, text: str) -> str:
        """Replace any known secret value that appears in text (for error messages and logs)."""
        for name, (_env, secret) in CREDENTIALS.items():
            if not secret:
                continue
            value = self.get(name)
            if value and len(value) >= 4 and value in text:
                text = text.replace(value, "***")
        return text


def _without_password(url: str) -> str:
    """smtp://user:***@host:587 for smtp://user:password@host:587."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
