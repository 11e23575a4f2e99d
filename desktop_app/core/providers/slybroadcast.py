"""Slybroadcast's voicemail gateway: a form POST per drop, and the disposition it posts back.

Wire format (vmb.php gateway): form fields c_uid, c_password, c_phone, c_callerID, c_date,
c_url with c_audio, c_title, c_dispo_url and mobile_only. The reply is text: "OK" and then
"session_id=..." lines, or "ERROR" and the reason. Each call's result is posted to
c_dispo_url as the form field `var` = "session_id|phone|status|reason|delivery time|carrier",
and the receiver must respond "OK".

NOTE: the field name `var` and the "OK" acknowledgement match Slybroadcast's docs and public
receivers; the order of the parts inside `var` could not be checked against a sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from desktop_app.core.providers.base import ProviderError

log = logging.getLogger(__name__)

PROVIDER = "slybroadcast"

# Failure texts (lower case parts) that a later attempt can get past.
_TRANSIENT_WORDS = ("busy", "timeout", "timed out", "temporar", "network", "try again", "no answer",
                    "congestion")
# Failure texts that end the drop, with plain words.
_FINAL_WORDS = (
    (("full",), "the borrower's voicemail box is full"),
    (("no voicemail", "not set up", "not setup", "no mailbox", "not provisioned", "not activated"),
     "the borrower has no voicemail box set up"),
    (("landline", "not a mobile", "not mobile", "non-mobile", "non mobile"),
     "the number is not a mobile phone, so Slybroadcast skipped it"),
    (("invalid", "disconnected", "not in service"), "the number is invalid or not in service"),
    (("dnc", "do not call", "do-not-call"), "the number is on a do-not-call list"),
)


@dataclass(frozen=True)
class Disposition:
    session_id: str
    phone: str
    status: str  # OK (left in the mailbox) or the gateway's failure word
    reason: str
    delivered_at: str
    carrier: str

    @property
    def delivered(self) -> bool:
        return self.status.strip().upper() == "OK"


def parse_disposition(var: str) -> Disposition:
    """Split the `var` field; raise ValueError naming what is missing."""
    parts = [part.strip() for part in (var or "").split("|")]
    if len(parts) < 3 or not parts[0] or not parts[2]:
        raise ValueError(f"var {var[:80]!r} is not session_id|phone|status|reason|time|carrier")
    parts += [""] * (6 - len(parts))
    return Disposition(*parts[:6])


def describe_failure(status: str, reason: str) -> tuple[str, bool]:
    """(plain words, whether a later attempt can succeed) for a failed disposition."""
    text = f"{status} {reason}".lower()
    for words, plain in _FINAL_WORDS:
        if any(word in text for word in words):
            return plain, False
    if any(word in text for word in _TRANSIENT_WORDS):
        return f"Slybroadcast could not reach the voicemail box ({reason or status}); it may work later", True
    return f"Slybroadcast reported: {reason or status}", False


def parse_reply(text: str) -> tuple[bool, str]:
    """(True, session id) for an OK reply, (False, reason) for ERROR or anything else."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return False, "empty reply"
    head = lines[0].upper()
    if head == "OK":
        for line in lines[1:]:
            key, _, value = line.partition("=")
            if key.strip().lower().replace(" ", "_") == "session_id" and value.strip():
                return True, value.strip()
        return False, "OK without a session_id line"
    if head.startswith("ERROR"):
        reason = " ".join([lines[0][5:].strip(" :")] + lines[1:]).strip()
        return False, reason or "no reason given"
    return False, f"unexpected reply {lines[0][:80]!r}"


def national(e164: str) -> str:
    """Return the 10-digit form the gateway expects for US and Canadian numbers."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


class SlybroadcastClient:
    def __init__(self, url: str, user: str, password: str, timeout: float = 20.0):
        self.url = url
        self.user = user
        self._password = password
        self.timeout = timeout

    def send(self, *, phone: str, caller_id: str, audio_url: str, dispo_url: str | None,
             title: str) -> str:
        """Start a one-number campaign that plays audio_url; return its session id."""
        form = {
            "c_uid": self.user, "c_password": self._password,
            "c_phone": national(phone), "c_callerID": national(caller_id),
            "c_url": audio_url, "c_audio": "mp3", "c_date": "now", "c_title": title,
            # Ringless voicemail is for mobiles; on a landline the phone would ring.
            "mobile_only": "1",
        }
        if dispo_url:
            form["c_dispo_url"] = dispo_url
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(self.url, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ProviderError(PROVIDER, f"could not reach Slybroadcast at {self.url}: {exc}",
                                retryable=True) from None
        except httpx.HTTPError as exc:
            # The campaign may exist already, and the gateway has no idempotency key.
            raise ProviderError(PROVIDER, f"no response from Slybroadcast ({type(exc).__name__}: {exc}); "
                                          "the drop may or may not have been sent",
                                retryable=True, ambiguous=True) from None
        if response.status_code != 200:
            retryable = response.status_code == 429 or response.status_code >= 500
            raise ProviderError(PROVIDER, f"Slybroadcast returned HTTP {response.status_code}: "
                                          f"{response.text.strip()[:200]}",
                                http_status=response.status_code, retryable=retryable,
                                ambiguous=response.status_code == 500)
        ok, value = parse_reply(response.text)
        if ok:
            return value
        transient = any(word in value.lower() for word in ("try again", "temporar", "busy"))
        raise ProviderError(PROVIDER, f"Slybroadcast rejected the drop: {value}", retryable=transient)

    def remaining_messages(self) -> str:
        """Ask the gateway for the account's message balance; this also checks the login.

        Returns the balance as the gateway wrote it. Raises ProviderError with the gateway's
        reason for a rejected login.
        """
        # NOTE: the remain_message field and its "OK" plus balance reply follow Slybroadcast's
        # documentation as we read it; no recorded reply from the live gateway was available.
        form = {"c_uid": self.user, "c_password": self._password, "remain_message": "1"}
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise ProviderError(PROVIDER, f"could not reach Slybroadcast at {self.url}: {exc}",
                                retryable=True) from None
        if response.status_code != 200:
            raise ProviderError(PROVIDER, f"Slybroadcast returned HTTP {response.status_code}: "
                                          f"{response.text.strip()[:200]}",
                                http_status=response.status_code)
        lines = [line.strip() for line in response.text.strip().splitlines() if line.strip()]
        if lines and lines[0].upper() == "OK":
            return " ".join(lines[1:]) or "unknown"
        if lines and lines[0].upper().startswith("ERROR"):
            reason = " ".join([lines[0][5:].strip(" :")] + lines[1:]).strip()
            raise ProviderError(PROVIDER, f"Slybroadcast rejected the login: {reason or 'no reason given'}")
        first = lines[0][:80] if lines else ""
        raise ProviderError(PROVIDER, f"unexpected reply from Slybroadcast: {first!r}")
