"""The settings window's rules: which credentials each provider has, checks, and storing a change set."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from desktop_app.core import phones
from desktop_app.core.sequence_form import FormError
from desktop_app.core.settings import REGISTRY, SettingError

log = logging.getLogger(__name__)

# Credentials per provider section, in the order the window lists them.
PROVIDER_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "twilio": ("twilio.account_sid", "twilio.auth_token"),
    "ringcentral": ("ringcentral.client_id", "ringcentral.client_secret", "ringcentral.jwt",
                    "ringcentral.verification_token"),
    "hubspot": ("hubspot.token",),
    "smtp": ("smtp.url", "email.from"),
    "dropcowboy": ("dropcowboy.key", "dropcowboy.secret", "dropcowboy.webhook_secret"),
    "slybroadcast": ("slybroadcast.user", "slybroadcast.password"),
    "ngrok": ("ngrok.authtoken",),
}
# Settings the window edits.
KEYS = ("brokerage.name", "brokerage.callback_number", "brokerage.time_zone",
        "brokerage.business_hours", "hubspot.lead_status", "email.rate_snapshot",
        "email.postal_address")
HUBSPOT_LEAD_STATUSES = ("NEW_MISSED_CALL", "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                         "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")


def check_values(values: Mapping[str, Any]) -> FormError | None:
    """Validate each value with its setting's rules; the callback number must be a real number."""
    for key, value in values.items():
        try:
            REGISTRY[key].validate(value)
        except SettingError as exc:
            return FormError(key, str(exc))
    callback = (values.get("brokerage.callback_number") or "").strip()
    if callback:
        try:
            phones.normalize(callback)
        except phones.InvalidPhoneNumber as exc:
            return FormError("brokerage.callback_number",
                             f"brokerage.callback_number: {callback!r} is not a valid phone number "
                             f"({exc.reason})")
    hours = values.get("brokerage.business_hours") or {}
    for day, span in hours.items():
        if span:
            start, end = span.split("-")
            if start >= end:
                return FormError("brokerage.business_hours",
                                 f"brokerage.business_hours.{day}: the office must open before it "
                                 f"closes ({span})")
    return None


def store(ctx, values: Mapping[str, Any], credentials: Mapping[str, str | None]) -> list[str]:
    """Store settings, then credentials (None removes one), then drop cached provider clients.

    Touches the database and the OS keyring: run it off the GUI thread. Returns the names of
    the credentials that changed. Raises SettingError or secrets.SecretStoreError.
    """
    if values:
        normalized = dict(values)
        callback = (normalized.get("brokerage.callback_number") or "").strip()
        if callback:
            normalized["brokerage.callback_number"] = phones.normalize(callback)
        ctx.settings.set_many(normalized)
    changed = []
    for name, value in credentials.items():
        ctx.secrets.set(name, value.strip() if value else None)
        changed.append(name)
    if any(name.startswith("ringcentral.") for name in changed):
        from desktop_app.core import ringcentral  # noqa: PLC0415

        ringcentral.credentials_changed(ctx)  # also resets the providers
    elif changed:
        ctx.reset_providers()
    if changed:
        log.info("Credentials changed: %s", ", ".join(changed))
    return changed
