"""The core path on the real listener: Twilio webhooks in, one text out through the twilio client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from desktop_app.core import export, models
from tests.helpers import (GENERAL_LINE, LO_PHONE, SALES_LINE, add_team, call_sid, contact_by_phone,
                           count, dial_params, status_params, steps_for, voice_params)
from tests.standins.twilio_api import ACCOUNT_SID, Failure

CALLER = "+12125550143"


def full_missed_call(client, caller=CALLER, dialed=SALES_LINE, seconds=14, sid=None):
    sid = sid or call_sid()
    voice = client.post("/twilio/voice", voice_params(sid, caller, dialed))
    dial = client.post("/twilio/dial-action", dial_params(sid, caller, dialed))
    final = client.post("/twilio/call-status", status_params(sid, caller, dialed, duration=seconds))
    return sid, voice, dial, final


def test_voice_dials_the_lo_with_timeout_and_action(app, client):
    add_team(app.ctx)
    response = client.post("/twilio/voice", voice_params(call_sid(), CALLER))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert f">{LO_PHONE}</Number>" in response.text
    assert 'timeout="20"' in response.text
    assert 'action="dial-action"' in response.text


def test_voice_without_lo_phone_goes_to_voicemail(app, client):
    response = client.post("/twilio/voice", voice_params(call_sid(), CALLER, GENERAL_LINE))
    assert "<Record" in response.text
    assert "<Dial" not in response.text


def test_full_flow_sends_one_text_from_number_dialed(app, client, twilio_api):
    add_team(app.ctx)
    sid, voice, dial, final = full_missed_call(client, seconds=14)
    assert (voice.status_code, dial.status_code, final.status_code) == (200, 200, 204)
    assert "<Record" in dial.text

    posts = twilio_api.wait_for_messages(1)
    app.outbox.wait_idle()
    form = posts[0].form
    assert posts[0].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert form["From"] == SALES_LINE
    assert form["To"] == CALLER
    assert "you just called Harbor Point Mortgage" in form["Body"]
    assert "Reply STOP to opt out." in form["Body"]
    assert form["StatusCallback"] == "https://desk.example.test/twilio/message-status"

    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.lead_source == "zillow"
    assert contact.intent == "inquiry"
    first = [s for s in steps_for(app.ctx, contact.id) if s.name == "first_text"][0]
    assert first.status == "sent"
    assert first.provider_id == twilio_api.sent()[0]["sid"]


def test_task_is_due_an_hour_after_the_call_for_the_routed_lo(app, client, twilio_api):
    add_team(app.ctx)
    full_missed_call(client, seconds=14)
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
        task = session.exec(select(models.Task)).one()
    assert task.type == "call"
    assert task.priority == "high"
    assert task.assignee == "Dana Reyes"
    assert task.due_at == call.started_at + timedelta(minutes=60)


def test_hot_call_goes_to_the_senior_lo(app, client, twilio_api):
    add_team(app.ctx)
    full_missed_call(client, seconds=45)
    with app.ctx.db.read() as session:
        task = session.exec(select(models.Task)).one()
        call = session.exec(select(models.Call)).one()
    assert call.intent == "hot"
    assert task.assignee == "Sam Okafor"


def test_no_los_means_the_coordinator_gets_the_task(app, client):
    full_missed_call(client, dialed=GENERAL_LINE, seconds=10)
    with app.ctx.db.read() as session:
        task = session.exec(select(models.Task)).one()
    assert task.assignee == "Coordinator"


def test_general_number_rotates_among_los(app, client):
    add_team(app.ctx)
    for caller in ("+13035550101", "+13035550102", "+13035550103"):
        full_missed_call(client, caller=caller, dialed=GENERAL_LINE, seconds=8)
    with app.ctx.db.read() as session:
        assignees = [t.assignee for t in session.exec(select(models.Task).order_by(models.Task.id))]
    assert assignees == ["Dana Reyes", "Sam Okafor", "Dana Reyes"]


def test_forward_only_no_answer_without_duration(app, client, twilio_api):
    sid = call_sid()
    response = client.post("/twilio/call-status",
                           status_params(sid, CALLER, GENERAL_LINE, status="no-answer"))
    assert response.status_code == 204
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
        task = session.exec(select(models.Task)).one()
    assert call.outcome == "missed"
    assert call.seconds == 0
    assert call.intent == "accidental"
    assert task.priority == "low"
    app.outbox.wait_idle()
    assert twilio_api.sent() == []


@pytest.mark.parametrize("status", ["busy", "failed", "canceled", "no-answer"])
def test_forward_only_statuses_are_misses(app, client, status):
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status=status, duration=9))
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    assert call.outcome == "missed"
    assert call.intent == "inquiry"


def test_forward_only_inquiry_texts_once(app, client, twilio_api):
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status="no-answer", duration=9))
    posts = twilio_api.wait_for_messages(1)
    assert posts[0].form["From"] == GENERAL_LINE


def test_repeated_and_out_of_order_callbacks_text_once(app, client, twilio_api):
    add_team(app.ctx)
    sid = call_sid()
    client.post("/twilio/voice", voice_params(sid, CALLER))
    for _ in range(3):
        assert client.post("/twilio/dial-action", dial_params(sid, CALLER)).status_code == 200
    final = status_params(sid, CALLER, duration=14, sequence=3)
    for _ in range(3):
        assert client.post("/twilio/call-status", final).status_code == 204
    late = status_params(sid, CALLER, status="ringing", sequence=1)
    assert client.post("/twilio/call-status", late).status_code == 204
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 1
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    assert call.call_status == "completed"


def test_final_status_before_dial_result_still_texts(app, client, twilio_api):
    add_team(app.ctx)
    sid = call_sid()
    client.post("/twilio/voice", voice_params(sid, CALLER))
    client.post("/twilio/call-status", status_params(sid, CALLER, duration=30))
    assert twilio_api.message_requests() == []
    client.post("/twilio/dial-action", dial_params(sid, CALLER))
    twilio_api.wait_for_messages(1)
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    assert call.seconds == 30
    assert call.intent == "hot"


def screen_params(parent: str, digits: str | None = None) -> dict:
    params = voice_params(call_sid(), SALES_LINE, LO_PHONE, ParentCallSid=parent,
                          Direction="outbound-dial", CallStatus="in-progress")
    if digits is not None:
        params["Digits"] = digits
    return params


def test_lo_is_asked_to_press_1(app, client):
    add_team(app.ctx)
    sid = call_sid()
    voice = client.post("/twilio/voice", voice_params(sid, CALLER))
    assert 'url="screen"' in voice.text
    prompt = client.post("/twilio/screen", screen_params(sid))
    assert "<Gather" in prompt.text
    assert 'action="screen-result"' in prompt.text
    assert "Press 1" in prompt.text
    assert "(212) 555-0143" in prompt.text


def test_lo_voicemail_answering_counts_as_missed(app, client, twilio_api):
    add_team(app.ctx)
    sid = call_sid()
    client.post("/twilio/voice", voice_params(sid, CALLER))
    client.post("/twilio/screen", screen_params(sid))  # the voicemail greeting presses nothing
    client.post("/twilio/dial-action", dial_params(sid, CALLER, status="completed"))
    client.post("/twilio/call-status", status_params(sid, CALLER, duration=40))
    twilio_api.wait_for_messages(1)
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    assert call.outcome == "missed"
    assert "without pressing 1" in call.detail


def test_wrong_key_does_not_connect(app, client):
    add_team(app.ctx)
    sid = call_sid()
    client.post("/twilio/voice", voice_params(sid, CALLER))
    response = client.post("/twilio/screen-result", screen_params(sid, digits="9"))
    assert "<Hangup" in response.text


def test_answered_dial_is_not_a_miss(app, client, twilio_api):
    add_team(app.ctx)
    sid = call_sid()
    client.post("/twilio/voice", voice_params(sid, CALLER))
    accepted = client.post("/twilio/screen-result", screen_params(sid, digits="1"))
    assert "<Hangup" not in accepted.text
    response = client.post("/twilio/dial-action", dial_params(sid, CALLER, status="completed"))
    assert "<Hangup" in response.text
    client.post("/twilio/call-status", status_params(sid, CALLER, duration=300))
    app.outbox.wait_idle()
    assert twilio_api.message_requests() == []
    with app.ctx.db.read() as session:
        assert session.exec(select(models.Call)).one().outcome == "answered"
        assert session.exec(select(models.Task)).all() == []


def test_child_leg_status_is_ignored(app, client, twilio_api):
    params = status_params(call_sid(), "+12125550100", LO_PHONE, status="no-answer",
                           ParentCallSid=call_sid(), Direction="outbound-dial")
    assert client.post("/twilio/call-status", params).status_code == 204
    assert count(app.ctx, models.Call) == 0


def test_accidental_call_gets_no_text(app, client, twilio_api):
    add_team(app.ctx)
    full_missed_call(client, seconds=3)
    app.outbox.wait_idle()
    assert twilio_api.message_requests() == []
    contact = contact_by_phone(app.ctx, CALLER)
    assert [s.name for s in steps_for(app.ctx, contact.id)] == ["email_4h"]


def test_withheld_caller_gets_no_text_or_task(app, client, twilio_api):
    client.post("/twilio/call-status", status_params(call_sid(), "+266696687", GENERAL_LINE,
                                                     status="no-answer", duration=15))
    app.outbox.wait_idle()
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
        assert session.exec(select(models.Task)).all() == []
    assert call.outcome == "missed"
    assert "withheld" in call.detail
    assert twilio_api.message_requests() == []


def test_invalid_caller_number_is_recorded_not_texted(app, client, twilio_api):
    client.post("/twilio/call-status", status_params(call_sid(), "+1555", GENERAL_LINE,
                                                     status="no-answer", duration=15))
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    assert call.caller is None
    assert "not valid" in call.detail
    assert twilio_api.message_requests() == []


def test_second_miss_does_not_restart_the_sequence(app, client, twilio_api):
    add_team(app.ctx)
    full_missed_call(client, seconds=10)
    twilio_api.wait_for_messages(1)
    full_missed_call(client, seconds=40)
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 1
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.intent == "hot"
    names = [s.name for s in steps_for(app.ctx, contact.id)]
    assert names.count("first_text") == 1
    with app.ctx.db.read() as session:
        tasks = session.exec(select(models.Task)).all()
    assert len(tasks) == 1
    assert tasks[0].assignee == "Sam Okafor"


def test_rate_limited_send_is_retried(app, client, twilio_api):
    twilio_api.fail_next(Failure(429, 20429, "Too Many Requests", retry_after="0"))
    full_missed_call(client, dialed=GENERAL_LINE)
    twilio_api.wait_for_messages(2)
    app.outbox.wait_idle()
    assert len(twilio_api.sent()) == 1
    contact = contact_by_phone(app.ctx, CALLER)
    first = steps_for(app.ctx, contact.id)[0]
    assert first.status == "sent"
    assert first.attempts == 2


def test_server_errors_retry_until_the_limit_then_fail(app, client, twilio_api):
    twilio_api.fail_next(*[Failure(503, 20500, "Service Unavailable")] * 3)
    full_missed_call(client, dialed=GENERAL_LINE)
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 3
    first = steps_for(app.ctx, contact_by_phone(app.ctx, CALLER).id)[0]
    assert first.status == "failed"
    assert "20500" in first.detail


def test_client_error_fails_at_once_with_code(app, client, twilio_api):
    twilio_api.fail_next(Failure(400, 21408, "Permission to send an SMS has not been enabled"))
    full_missed_call(client, dialed=GENERAL_LINE)
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 1
    first = steps_for(app.ctx, contact_by_phone(app.ctx, CALLER).id)[0]
    assert first.status == "failed"
    assert first.error_code == "21408"


def test_error_21610_opts_out_and_is_not_retried(app, client, twilio_api):
    twilio_api.fail_next(Failure(400, 21610, "Attempt to send to unsubscribed recipient"))
    full_missed_call(client, dialed=GENERAL_LINE)
    app.outbox.wait_idle()
    assert len(twilio_api.message_requests()) == 1
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.opted_out
    steps = steps_for(app.ctx, contact.id)
    assert all(s.status in ("failed", "cancelled") for s in steps)
    with app.ctx.db.read() as session:
        ledger = session.exec(select(models.OptOutEntry)).all()
    assert [(e.action, e.source) for e in ledger] == [("opt_out", "error_21610")]


def test_lost_answer_is_reconciled_not_resent(app, client, twilio_api):
    twilio_api.fail_next(Failure(create_anyway=True, drop=True))
    full_missed_call(client, dialed=GENERAL_LINE)
    app.outbox.wait_idle()
    assert len(twilio_api.sent()) == 1
    first = steps_for(app.ctx, contact_by_phone(app.ctx, CALLER).id)[0]
    assert first.status == "sent"
    assert first.provider_id == twilio_api.sent()[0]["sid"]


@pytest.mark.parametrize("caller, reason", [
    ("+18005550143", "toll-free"),
    ("+442079460958", "GB numbers are turned off"),
    ("+18095550143", "DO numbers are turned off"),
])
def test_foreign_and_toll_free_callers_get_a_task_not_a_text(app, client, twilio_api, caller, reason):
    client.post("/twilio/call-status", status_params(call_sid(), caller, GENERAL_LINE,
                                                     status="no-answer", duration=12))
    app.outbox.wait_idle()
    assert twilio_api.message_requests() == []
    contact = contact_by_phone(app.ctx, caller)
    first = [s for s in steps_for(app.ctx, contact.id) if s.name == "first_text"][0]
    assert first.status == "skipped"
    assert reason in first.detail
    with app.ctx.db.read() as session:
        assert len(session.exec(select(models.Task)).all()) == 1


def test_export_has_the_documented_keys(app, client, twilio_api):
    add_team(app.ctx)
    full_missed_call(client, seconds=14)
    app.outbox.wait_idle()
    data = export.build(app.ctx)
    assert len(data) == 1
    contact = data[0]
    assert set(contact) == {"phone", "name", "email", "lead_source", "intent", "status",
                            "opted_out", "do_not_contact", "calls", "tasks", "steps"}
    assert set(contact["calls"][0]) == {"provider", "call_id", "dialed", "seconds", "at"}
    assert set(contact["tasks"][0]) == {"type", "due_at", "assignee", "priority", "status"}
    assert set(contact["steps"][0]) == {"channel", "name", "due_at", "status", "sent_at", "detail"}
    assert contact["calls"][0]["at"][-6] in "+-"
    assert {s["status"] for s in contact["steps"]} <= {"scheduled", "sent", "failed", "cancelled",
                                                        "skipped", "needs_review"}
    csv_text = export.to_csv(data)
    assert csv_text.splitlines()[0].startswith("record,phone,name")
