"""Delivery receipts for our texts: never downgraded, early ones kept, error codes acted on."""

from __future__ import annotations

from sqlmodel import select

from desktop_app.core import models
from tests.helpers import (GENERAL_LINE, call_sid, contact_by_phone, message_status_params,
                           status_params, steps_for, wait_until)

CALLER = "+12125550143"


def first_text_sent(app, client, twilio_api):
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status="no-answer", duration=12))
    twilio_api.wait_for_messages(1)
    app.outbox.wait_idle()
    return twilio_api.sent()[0]["sid"]


def first_step(app):
    contact = contact_by_phone(app.ctx, CALLER)
    return [s for s in steps_for(app.ctx, contact.id) if s.name == "first_text"][0]


def test_final_status_is_never_downgraded(app, client, twilio_api):
    sid = first_text_sent(app, client, twilio_api)
    for status in ("sent", "delivered", "sent", "queued"):
        assert client.post("/twilio/message-status",
                           message_status_params(sid, status, CALLER, GENERAL_LINE)).status_code == 204
    with app.ctx.db.read() as session:
        message = session.exec(select(models.Message).where(models.Message.provider_id == sid)).one()
    assert message.status == "delivered"
    assert first_step(app).delivery_status == "delivered"


def test_landline_stops_texts_and_raises_the_task(app, client, twilio_api):
    sid = first_text_sent(app, client, twilio_api)
    client.post("/twilio/message-status",
                message_status_params(sid, "undelivered", CALLER, GENERAL_LINE, error_code="30006"))
    step = first_step(app)
    assert step.status == "failed"
    assert "landline" in step.detail
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.sms_capable is False
    sms_steps = [s for s in steps_for(app.ctx, contact.id) if s.channel == "sms" and s.name != "first_text"]
    assert sms_steps and all(s.status == "cancelled" for s in sms_steps)
    with app.ctx.db.read() as session:
        task = session.exec(select(models.Task)).one()
    assert task.priority == "high"
    assert "cannot receive texts" in task.body


def test_error_21610_in_a_receipt_opts_out(app, client, twilio_api):
    sid = first_text_sent(app, client, twilio_api)
    client.post("/twilio/message-status",
                message_status_params(sid, "failed", CALLER, GENERAL_LINE, error_code="21610"))
    assert contact_by_phone(app.ctx, CALLER).opted_out


def test_receipts_that_beat_the_send_are_kept(app, client, twilio_api):
    twilio_api.auto_callbacks = ["sent", "delivered"]
    first_text_sent(app, client, twilio_api)
    wait_until(lambda: len(twilio_api.callback_results) == 2)
    app.settle()
    assert [code for _status, code in twilio_api.callback_results] == [204, 204]
    assert wait_until(lambda: first_step(app).delivery_status == "delivered")


def test_duplicate_receipt_is_processed_once(app, client, twilio_api):
    sid = first_text_sent(app, client, twilio_api)
    params = message_status_params(sid, "delivered", CALLER, GENERAL_LINE)
    for _ in range(3):
        client.post("/twilio/message-status", params)
    with app.ctx.db.read() as session:
        outcomes = [e.outcome for e in session.exec(
            select(models.InboundEvent).where(models.InboundEvent.endpoint == "message-status"))]
    assert outcomes == ["accepted", "duplicate", "duplicate"]
