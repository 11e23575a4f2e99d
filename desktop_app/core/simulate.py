"""A realistic, correctly signed missed call sent through the real listener, as Twilio would."""

from __future__ import annotations

import email.utils
import logging
import random
import secrets as pysecrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from desktop_app.core import phones

log = logging.getLogger(__name__)

SANDBOX_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_DIALED = "+12125550100"


class SimulationError(RuntimeError):
    """The test call could not be delivered to the listener."""


@dataclass
class SimulationResult:
    call_sid: str
    caller: str
    dialed: str
    seconds: int
    steps: list[tuple[str, int]] = field(default_factory=list)  # (endpoint, HTTP status)

    @property
    def ok(self) -> bool:
        return all(200 <= status < 300 for _, status in self.steps)


def random_caller() -> str:
    """Return a fictional 555-01xx number (valid to phonenumbers, never a real subscriber)."""
    area = random.choice(["212", "312", "303", "602", "213", "808", "646", "415"])
    return f"+1{area}5550{random.randint(100, 199)}"


def new_sid(prefix: str) -> str:
    return prefix + pysecrets.token_hex(16)


def _sign(validator: RequestValidator, url: str, params: dict) -> str:
    return validator.compute_signature(url, params)


def send_test_call(*, port: int, signing_key: str, caller: str | None = None,
                   dialed: str | None = None, seconds: int = 12, account_sid: str | None = None,
                   base_url: str | None = None, host: str = "127.0.0.1",
                   timeout: float = 10.0) -> SimulationResult:
    """Send /twilio/voice, then /twilio/dial-action if the TwiML dialed, then the final
    /twilio/call-status, each signed the way Twilio signs them.

    `base_url` is the URL the app checks signatures against. By default it comes from the
    app's /health (its public URL), else it is the loopback URL itself.
    Raises phones.InvalidPhoneNumber for an impossible caller or dialed number.
    """
    caller_e164 = phones.normalize(caller) if caller else random_caller()
    dialed_e164 = phones.normalize(dialed) if dialed else DEFAULT_DIALED
    if seconds < 0:
        raise ValueError("seconds on the line cannot be negative")
    account = account_sid or SANDBOX_ACCOUNT_SID
    validator = RequestValidator(signing_key)
    call_sid = new_sid("CA")
    local = f"http://{host}:{port}"
    result = SimulationResult(call_sid, caller_e164, dialed_e164, seconds)

    # trust_env=False: a proxy set in the environment (or, on Windows, in the system
    # settings) would otherwise receive these loopback requests and refuse them.
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        if base_url is None:
            try:
                health = client.get(f"{local}/health")
            except httpx.HTTPError as exc:
                raise SimulationError(
                    f"no app is listening on {local} ({exc}). Start it first, or pass --port."
                ) from None
            public = health.json().get("public_url") if health.status_code == 200 else None
            base_url = public or local
        base_url = base_url.rstrip("/")

        common = {
            "AccountSid": account, "ApiVersion": "2010-04-01", "CallSid": call_sid,
            "Called": dialed_e164, "Caller": caller_e164, "Direction": "inbound",
            "From": caller_e164, "To": dialed_e164, "FromCountry": "US", "ToCountry": "US",
        }

        def post(path: str, params: dict) -> httpx.Response:
            url = base_url + path
            body = urlencode(params)
            headers = {"X-Twilio-Signature": _sign(validator, url, params),
                       "Content-Type": "application/x-www-form-urlencoded",
                       "User-Agent": "TwilioProxy/1.1 (missed-call-desk test call)",
                       "I-Twilio-Idempotency-Token": pysecrets.token_hex(16)}
            try:
                response = client.post(local + path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise SimulationError(f"sending {path} to {local} failed: {exc}") from None
            result.steps.append((path, response.status_code))
            return response

        voice = post("/twilio/voice", {**common, "CallStatus": "ringing"})
        if voice.status_code >= 300:
            raise SimulationError(f"/twilio/voice returned HTTP {voice.status_code}: {voice.text.strip()}")
        if "<Dial" in voice.text:
            post("/twilio/dial-action", {
                **common, "CallStatus": "in-progress", "DialCallStatus": "no-answer",
                "DialCallSid": new_sid("CA"), "DialCallDuration": "0", "DialBridged": "false",
            })
        post("/twilio/call-status", {
            **common, "CallStatus": "completed", "CallDuration": str(seconds),
            "Duration": str(max(1, -(-seconds // 60))), "SequenceNumber": "0",
            "CallbackSource": "call-progress-events",
            "Timestamp": email.utils.formatdate(time.time(), usegmt=False),
        })
    return result
