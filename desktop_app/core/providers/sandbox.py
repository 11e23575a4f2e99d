"""Sandbox providers: record what would be sent, send nothing."""

from __future__ import annotations

import logging
import uuid

from desktop_app.core.phones import mask
from desktop_app.core.providers.base import SendResult, SmsProvider

log = logging.getLogger(__name__)


class SandboxSms(SmsProvider):
    """Stands in for a provider that has no credentials."""

    sandbox = True

    def __init__(self, provider: str, reason: str):
        self.name = provider
        self.reason = reason

    def send_sms(self, *, from_number: str, to_number: str, body: str,
                 status_callback: str | None = None) -> SendResult:
        log.info("Sandbox: would text %s from %s (%d characters)",
                 mask(to_number), mask(from_number), len(body))
        return SendResult(
            provider=self.name,
            provider_id=f"sandbox-{uuid.uuid4().hex}",
            status="sandbox",
            sandbox=True,
            detail=f"sandbox mode: recorded, not sent ({self.reason})",
        )
