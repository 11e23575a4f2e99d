"""What every outbound channel provider returns or raises."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_id: str | None
    status: str  # the provider's own word: queued, accepted, sent ...
    sandbox: bool = False
    detail: str = ""


@dataclass
class ProviderError(Exception):
    """A send that failed. `retryable` says whether trying again can help.

    `ambiguous` means the request may have reached the provider (a read timeout or a
    dropped connection after sending), so a retry could deliver the message twice.
    """

    provider: str
    message: str
    code: str | None = None
    http_status: int | None = None
    retryable: bool = False
    ambiguous: bool = False
    retry_after: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        prefix = f"{self.provider} error"
        if self.code:
            prefix += f" {self.code}"
        if self.http_status:
            prefix += f" (HTTP {self.http_status})"
        return f"{prefix}: {self.message}"


class SmsProvider:
    """Sends one text. Implementations raise ProviderError on failure."""

    name = "sms"
    sandbox = False

    def send_sms(self, *, from_number: str, to_number: str, body: str,
                 status_callback: str | None = None) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        pass
