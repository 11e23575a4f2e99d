"""Builders for realistic Twilio webhook parameters and store look-ups used across tests."""

from __future__ import annotations

import secrets

from sqlmodel import select

from desktop_app.core import directory, models
from tests.standins.twilio_api import ACCOUNT_SID

LO_PHONE = "+16465550111"
SALES_LINE = "+12125550100"
GENERAL_LINE = "+13125550100"


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def voice_params(sid: str, caller: str, dialed: str = SALES_LINE, **extra) -> dict:
    params = {
        "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": sid,
        "CallStatus": "ringing", "Called": dialed, "Caller": caller, "Direction": "inbound",
        "From": caller, "FromCity": "NEW YORK", "FromCountry": "US", "FromState": "NY",
        "FromZip": "10001", "To": dialed, "ToCity": "NEW YORK", "ToCountry": "US", "ToState": "NY",
        "ToZip": "10001",
    }
    params.update(extra)
    return params


def dial_params(sid: str, caller: str, dialed: str = SALES_LINE, status: str = "no-answer") -> dict:
    return voice_params(sid, caller, dialed, CallStatus="in-progress", DialCallStatus=status,
                        DialCallSid=call_sid(), DialCallDuration="0", DialBridged="false")


def status_params(sid: str, caller: str, dialed: str = SALES_LINE, status: str = "completed",
                  duration: int | None = None, sequence: int = 0, **extra) -> dict:
    params = voice_params(sid, caller, dialed, CallStatus=status, SequenceNumber=str(sequence),
                          CallbackSource="call-progress-events",
                          Timestamp="Wed, 02 Dec 2026 15:04:05 +0000")
    if duration is not None:
        params["CallDuration"] = str(duration)
        params["Duration"] = str(max(1, -(-duration // 60)))
    params.update(extra)
    return params


def sms_params(sid: str, sender: str, to: str = SALES_LINE, body: str = "Hi", **extra) -> dict:
    params = {
        "ToCountry": "US", "ToState": "NY", "SmsMessageSid": sid, "NumMedia": "0",
        "ToCity": "NEW YORK", "FromZip": "10001", "SmsSid": sid, "FromState": "NY",
        "SmsStatus": "received", "FromCity": "NEW YORK", "Body": body, "FromCountry": "US",
        "To": to, "ToZip": "10001", "NumSegments": "1", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def message_status_params(sid: str, status: str, to: str, sender: str = SALES_LINE,
                          error_code: str | None = None) -> dict:
    params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": sender, "To": to,
              "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
    if error_code:
        params["ErrorCode"] = error_code
    return params


def add_team(ctx) -> None:
    """Two LOs (one senior) and a routed sales line with a lead source."""

    def build(uow):
        directory.save_lo(uow, directory.LoanOfficerInput("Dana Reyes", phone=LO_PHONE))
        directory.save_lo(uow, directory.LoanOfficerInput("Sam Okafor", phone="+16465550122",
                                                          senior=True))
        directory.save_route(uow, directory.RouteInput(SALES_LINE, lo_name="Dana Reyes",
                                                       lead_source="zillow"))

    ctx.db.write(build)


def contact_by_phone(ctx, phone: str) -> models.Contact | None:
    with ctx.db.read() as session:
        return session.exec(select(models.Contact).where(models.Contact.phone == phone)).first()


def steps_for(ctx, contact_id: int) -> list[models.Step]:
    with ctx.db.read() as session:
        return list(session.exec(select(models.Step).where(models.Step.contact_id == contact_id)
                                 .order_by(models.Step.due_at, models.Step.id)))


def count(ctx, model) -> int:
    with ctx.db.read() as session:
        return len(session.exec(select(model)).all())


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01):
    """Poll a condition on real components (a thread, a server) until it holds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
