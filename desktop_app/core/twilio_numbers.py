"""The Twilio numbers the account owns, and pointing their webhooks at the app's public URL."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from desktop_app.core import phones
from desktop_app.core.providers.base import ProviderError
from desktop_app.core.providers.twilio_sms import error_from_exception, make_client

log = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
STATUS_PATH = "/twilio/call-status"
SMS_PATH = "/twilio/sms"


@dataclass(frozen=True)
class OwnedNumber:
    sid: str
    phone: str  # E.164
    friendly_name: str
    voice_url: str
    status_callback: str
    sms_url: str

    @property
    def display(self) -> str:
        national = phones.format_national(self.phone)
        return f"{national} ({self.friendly_name})" if self.friendly_name and \
            self.friendly_name != self.phone else national


@dataclass(frozen=True)
class Change:
    phone: str
    field: str  # voice_url, status_callback or sms_url
    old: str
    new: str

    def describe(self) -> str:
        label = {"voice_url": "voice URL", "status_callback": "call status callback",
                 "sms_url": "messaging URL"}[self.field]
        return f"{phones.format_national(self.phone)}: {label} {self.old or '(empty)'} -> {self.new}"


class NotConfigured(RuntimeError):
    """No Twilio credentials are set, so the account cannot be read."""


def _client(ctx):
    creds = ctx.twilio_credentials()
    if creds is None:
        raise NotConfigured("Twilio credentials are not set (Account SID and Auth Token)")
    client, http = make_client(creds[0], creds[1], ctx.secrets.api_url("twilio"))
    return client, http


def list_owned(ctx) -> list[OwnedNumber]:
    """List every phone number on the account, sorted by number. Raises ProviderError or NotConfigured."""
    client, http = _client(ctx)
    try:
        records = client.incoming_phone_numbers.list(limit=1000)
    except Exception as exc:
        raise error_from_exception(exc, http.last_headers) from None
    finally:
        http.close()
    numbers = [
        OwnedNumber(sid=r.sid, phone=r.phone_number, friendly_name=r.friendly_name or "",
                    voice_url=r.voice_url or "", status_callback=r.status_callback or "",
                    sms_url=r.sms_url or "")
        for r in records
    ]
    return sorted(numbers, key=lambda n: n.phone)


def wanted_urls(public_url: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {"voice_url": base + VOICE_PATH, "status_callback": base + STATUS_PATH,
            "sms_url": base + SMS_PATH}


def wire(ctx, public_url: str, phones_to_wire: list[str] | None = None) -> list[Change]:
    """Point each number's voice URL, status callback and messaging URL at `public_url`.

    Only fields that differ are updated. `phones_to_wire` limits it to those numbers
    (E.164). By default it wires every routed number the account owns, or every owned
    number when the routing table is empty. Returns what changed.
    """
    if not public_url.startswith("https://"):
        raise ValueError(f"{public_url!r} is not an https URL; Twilio needs a public https address")
    owned = list_owned(ctx)
    if phones_to_wire is None:
        from sqlmodel import select  # noqa: PLC0415

        from desktop_app.core import models  # noqa: PLC0415

        with ctx.db.read() as session:
            routed = {r.dialed for r in session.exec(select(models.Route))}
        chosen = [n for n in owned if n.phone in routed] or owned
    else:
        wanted = set(phones_to_wire)
        chosen = [n for n in owned if n.phone in wanted]
        missing = wanted - {n.phone for n in owned}
        if missing:
            raise ValueError("not numbers on this Twilio account: "
                             + ", ".join(phones.format_national(p) for p in sorted(missing)))
    target = wanted_urls(public_url)
    client, http = _client(ctx)
    changes: list[Change] = []
    try:
        for number in chosen:
            updates = {}
            for field_name, url in target.items():
                current = getattr(number, field_name)
                if current != url:
                    updates[field_name] = url
                    changes.append(Change(number.phone, field_name, current, url))
            if not updates:
                continue
            kwargs = {}
            if "voice_url" in updates:
                kwargs.update(voice_url=updates["voice_url"], voice_method="POST")
            if "status_callback" in updates:
                kwargs.update(status_callback=updates["status_callback"],
                              status_callback_method="POST")
            if "sms_url" in updates:
                kwargs.update(sms_url=updates["sms_url"], sms_method="POST")
            try:
                client.incoming_phone_numbers(number.sid).update(**kwargs)
            except Exception as exc:
                error = error_from_exception(exc, http.last_headers)
                raise ProviderError("twilio", f"updating {phones.format_national(number.phone)} "
                                              f"failed: {error.message}", code=error.code,
                                    http_status=error.http_status) from None
            log.info("Pointed %s at %s (%d field(s))", phones.mask(number.phone), public_url,
                     len(updates))
    finally:
        http.close()
    return changes


def stale_numbers(ctx, public_url: str) -> list[OwnedNumber]:
    """Routed numbers whose webhooks do not point at `public_url` (after a tunnel URL change)."""
    target = wanted_urls(public_url)
    from sqlmodel import select  # noqa: PLC0415

    from desktop_app.core import models  # noqa: PLC0415

    with ctx.db.read() as session:
        routed = {r.dialed for r in session.exec(select(models.Route)) if r.provider == "twilio"}
    return [n for n in list_owned(ctx) if n.phone in routed
            and any(getattr(n, f) != u for f, u in target.items())]
