"""Opt-out, opt-in and replies by inbound text, through the real listener."""

from __future__ import annotations

import pytest
from sqlmodel import select

from desktop_app.core import models
from tests.helpers import (GENERAL_LINE, call_sid, contact_by_phone, message_sid, sms_params,
                           status_params, steps_for)

CALLER = "+12125550143"


def miss(client, caller=CALLER, seconds=12):
    return client.post("/twilio/call-status", status_params(call_sid(), caller, GENERAL_LINE,
                                                            status="no-answer", duration=seconds))


def text_in(client, body, sender=CALLER, **extra):
    return client.post("/twilio/sms", sms_params(message_sid(), sender, GENERAL_LINE, body=body,
                                                 **extra))


OPT_OUT_VARIANTS = ["STOP", "stop", "Stop.", "  STOP  ", "STOP!", "stop\n", "Stopall", "STOP ALL",
                    "UNSUBSCRIBE", "Unsubscribe.", "cancel", "END", "quit", "Revoke", "optout",
                    "OPT OUT", "opt-out", "Opt Out!", "\uff33\uff34\uff2f\uff30", "stop \U0001F6D1"]


@pytest.mark.parametrize("body", OPT_OUT_VARIANTS)
def test_opt_out_word_blocks_later_texts(app, client, twilio_api, body):
    miss(client)
    twilio_api.wait_for_messages(1)
    app.outbox.wait_idle()
    assert text_in(client, body).status_code == 200
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.opted_out
    assert contact.status == "opted_out"
    pending = [s for s in steps_for(app.ctx, contact.id) if s.status in ("scheduled", "queued")]
    assert pending == []
    miss(client, seconds=30)
    app.outbox.wait_idle()
    # Twilio's own opt-out handling confirms keyword opt-outs, so nothing more goes out.
    assert len(twilio_api.message_requests()) == 1


def test_opt_out_type_is_honoured(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    text_in(client, "Arrêtez", OptOutType="STOP")
    assert contact_by_phone(app.ctx, CALLER).opted_out
    with app.ctx.db.read() as session:
        entry = session.exec(select(models.OptOutEntry)).one()
    assert entry.source == "optout_type"


def test_start_resubscribes(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    text_in(client, "STOP")
    text_in(client, "Start")
    contact = contact_by_phone(app.ctx, CALLER)
    assert not contact.opted_out
    assert contact.consent_sms is True
    with app.ctx.db.read() as session:
        actions = [e.action for e in session.exec(select(models.OptOutEntry).order_by(models.OptOutEntry.id))]
    assert actions == ["opt_out", "opt_in"]


def test_sentence_with_stop_opts_out_flags_and_confirms_once(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    app.outbox.wait_idle()
    text_in(client, "please stop texting me")
    text_in(client, "I said stop texting me!")
    app.outbox.wait_idle()
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.opted_out
    with app.ctx.db.read() as session:
        inbound = session.exec(select(models.Message).where(models.Message.direction == "in")).all()
    assert all(m.flagged for m in inbound)
    confirmations = [r for r in twilio_api.message_requests() if "unsubscribed" in r.form["Body"]]
    assert len(confirmations) == 1


def test_negated_stop_is_flagged_not_opted_out(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    text_in(client, "don't stop calling me, I want the rate")
    contact = contact_by_phone(app.ctx, CALLER)
    assert not contact.opted_out
    assert contact.status == "replied"
    with app.ctx.db.read() as session:
        message = session.exec(select(models.Message).where(models.Message.direction == "in")).one()
    assert message.flagged


def test_reply_halts_sequence_and_raises_task(app, client, twilio_api):
    miss(client, seconds=3)  # accidental: low-priority task
    text_in(client, "Hi, can you call me after 5?")
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.status == "replied"
    assert "replied" in contact.halt_reason
    assert all(s.status == "cancelled" for s in steps_for(app.ctx, contact.id))
    with app.ctx.db.read() as session:
        task = session.exec(select(models.Task)).one()
    assert task.priority == "high"


def test_opt_out_outlives_contact_deletion(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    text_in(client, "STOP")
    contact = contact_by_phone(app.ctx, CALLER)

    def delete(uow):
        from desktop_app.core import contacts
        contacts.delete_contact(uow, contact.id)

    app.ctx.db.write(delete)
    assert contact_by_phone(app.ctx, CALLER) is None
    miss(client, seconds=30)
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 1
    new_contact = contact_by_phone(app.ctx, CALLER)
    assert new_contact.opted_out
    assert steps_for(app.ctx, new_contact.id) == []


def test_help_gets_the_help_text(app, client, twilio_api):
    miss(client)
    twilio_api.wait_for_messages(1)
    text_in(client, "HELP")
    posts = twilio_api.wait_for_messages(2)
    assert "Reply STOP to opt out" in posts[1].form["Body"]


def test_duplicate_inbound_text_is_processed_once(app, client, twilio_api):
    sid = message_sid()
    params = sms_params(sid, CALLER, GENERAL_LINE, body="hello")
    for _ in range(3):
        assert client.post("/twilio/sms", params).status_code == 200
    with app.ctx.db.read() as session:
        assert len(session.exec(select(models.Message)).all()) == 1
