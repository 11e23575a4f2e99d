"""Voicemail drops through the Drop Cowboy and Slybroadcast stand-ins, from a planned step."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from desktop_app.core import drops, models
from desktop_app.core.messaging import SendHandler
from desktop_app.core.outbox import SendJob
from desktop_app.core.providers.base import SendResult
from tests.channel_helpers import CALLER, ChannelApp
from tests.conftest import PUBLIC_URL
from tests.helpers import SALES_LINE
from tests.standins import dropcowboy_api, slybroadcast_api
from tests.standins.dropcowboy_api import DropCowboyStandIn, Failure, Outcome
from tests.standins.slybroadcast_api import SlybroadcastStandIn


@pytest.fixture
def dropcowboy():
    with DropCowboyStandIn() as standin:
        yield standin


@pytest.fixture
def slybroadcast():
    with SlybroadcastStandIn() as standin:
        yield standin


def dropcowboy_env(standin: DropCowboyStandIn) -> dict:
    return {"MCD_DROPCOWBOY_API_URL": standin.url, "MCD_DROPCOWBOY_KEY": dropcowboy_api.KEY,
            "MCD_DROPCOWBOY_SECRET": dropcowboy_api.SECRET,
            "MCD_DROPCOWBOY_WEBHOOK_SECRET": dropcowboy_api.WEBHOOK_SECRET}


def slybroadcast_env(standin: SlybroadcastStandIn) -> dict:
    return {"MCD_SLYBROADCAST_API_URL": standin.gateway_url,
            "MCD_SLYBROADCAST_USER": slybroadcast_api.USER,
            "MCD_SLYBROADCAST_PASSWORD": slybroadcast_api.PASSWORD}


def open_app(data_dir, twilio_api, standins, env: dict, settings: dict | None = None) -> ChannelApp:
    desk = ChannelApp(data_dir, twilio_api, env, settings)
    for standin in standins:
        standin.public_base = PUBLIC_URL
        standin.app_base = desk.app_base
        standin.clock = lambda: desk.ctx.clock.now().timestamp()
    return desk


@pytest.fixture
def dc_app(data_dir, twilio_api, dropcowboy):
    desk = open_app(data_dir, twilio_api, [dropcowboy], dropcowboy_env(dropcowboy))
    yield desk
    desk.close()


@pytest.fixture
def sly_app(data_dir, twilio_api, slybroadcast):
    desk = open_app(data_dir, twilio_api, [slybroadcast], slybroadcast_env(slybroadcast))
    yield desk
    desk.close()


def consenting_hot_caller(desk: ChannelApp) -> models.Contact:
    desk.give_recordings()
    contact = desk.miss(seconds=45)
    desk.update_contact(contact.id, consent_voicemail=True, consent_voicemail_source="web form")
    return contact


def drops_for(desk: ChannelApp, step_id: int) -> list[drops.VoicemailDrop]:
    with desk.ctx.db.read() as session:
        return list(session.exec(select(drops.VoicemailDrop).where(drops.VoicemailDrop.step_id == step_id)
                                 .order_by(drops.VoicemailDrop.id)))


# -- Drop Cowboy -----------------------------------------------------------------------------

def test_dropcowboy_drop_from_planned_step(dc_app, dropcowboy):
    audio = dc_app.give_recordings()
    contact = consenting_hot_caller(dc_app)
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "scheduled"
    assert step.due_at == step.created_at + timedelta(minutes=60)

    dc_app.run_after(61)
    sent = dropcowboy.wait_for_sends(1)
    deliveries = dropcowboy.wait_for_deliveries(1)

    imports = [r for r in dropcowboy.requests if r.path == "/media/public/media"]
    assert len(imports) == 1
    import_body = json.loads(imports[0].body)
    lo = dc_app.lo(contact.lo_name)
    assert import_body["url"] == f"{PUBLIC_URL}/media/{lo.recording_token}.mp3"
    assert import_body["type"] == "rvm"
    assert list(dropcowboy.media.values()) == [audio[contact.lo_name]]

    request = dropcowboy.rvm_requests()[0]
    assert request.headers["x-key"] == dropcowboy_api.KEY
    assert request.headers["x-secret"] == dropcowboy_api.SECRET
    assert len(request.headers["idempotency-key"]) >= 32
    body = sent[0]
    assert body["to"] == CALLER
    assert body["media_id"] in dropcowboy.media
    assert "audio_url" not in body
    assert body["callback_url"].startswith(f"{PUBLIC_URL}/drops/dropcowboy/{step.id}/")
    assert body["foreign_id"].startswith(f"mcd-{step.id}-")

    assert deliveries[0].kind == "callback"
    assert deliveries[0].status == 200
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "sent"
    assert step.provider == "dropcowboy"
    assert step.delivery_status == "delivered"
    assert any(s.startswith("Voicemail drop delivered") for s in dc_app.timeline(contact.id, "voicemail"))


def test_dropcowboy_recording_imported_once(dc_app, dropcowboy):
    consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    second = dc_app.miss(seconds=45, caller="+12125550144")
    dc_app.update_contact(second.id, consent_voicemail=True)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(2)
    imports = [r for r in dropcowboy.requests if r.path == "/media/public/media"]
    assert len(imports) == 1
    assert len({body["media_id"] for body in dropcowboy.sends}) == 1


def test_dropcowboy_audio_url_mode(data_dir, twilio_api, dropcowboy):
    desk = open_app(data_dir, twilio_api, [dropcowboy], dropcowboy_env(dropcowboy),
                    settings={"drops.dropcowboy_audio": "audio_url"})
    try:
        dropcowboy.audio_url_allowed = True
        contact = consenting_hot_caller(desk)
        desk.run_after(61)
        body = dropcowboy.wait_for_sends(1)[0]
        dropcowboy.wait_for_deliveries(1)
        lo = desk.lo(contact.lo_name)
        assert body["audio_url"] == f"{PUBLIC_URL}/media/{lo.recording_token}.mp3"
        assert "media_id" not in body
        assert desk.step(contact.id, "voicemail_drop").delivery_status == "delivered"
    finally:
        desk.close()


def test_dropcowboy_preferred_when_both_set(data_dir, twilio_api, dropcowboy, slybroadcast):
    env = {**dropcowboy_env(dropcowboy), **slybroadcast_env(slybroadcast)}
    desk = open_app(data_dir, twilio_api, [dropcowboy, slybroadcast], env)
    try:
        contact = consenting_hot_caller(desk)
        desk.run_after(61)
        dropcowboy.wait_for_sends(1)
        assert slybroadcast.requests == []
        assert desk.step(contact.id, "voicemail_drop").provider == "dropcowboy"
    finally:
        desk.close()


def test_no_mailbox_ends_step_without_retry(dc_app, dropcowboy):
    dropcowboy.outcomes.append(Outcome("failure", 4001, "No Voicemail Box"))
    contact = consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)

    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "failed"
    assert step.error_code == "4001"
    assert step.delivery_status == "failed"
    assert "the borrower has no voicemail box set up" in step.detail
    assert "Voicemail drop failed: the borrower has no voicemail box set up" in \
        dc_app.timeline(contact.id, "voicemail")

    dc_app.run_after(40)  # past the retry delay of a transient failure
    assert len(dropcowboy.rvm_requests()) == 1
    assert dc_app.step(contact.id, "email_4h").status == "scheduled"
    assert dc_app.step(contact.id, "sms_24h").status == "scheduled"


@pytest.mark.parametrize("code, words", [
    (4002, "the borrower's voicemail box is full"),
    (6011, "Drop Cowboy has no consent on file for this number"),
])
def test_final_reason_codes_in_plain_words(dc_app, dropcowboy, code, words):
    dropcowboy.outcomes.append(Outcome("failure", code, "raw provider text"))
    contact = consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "failed"
    assert words in step.detail
    assert f"(Drop Cowboy {code})" in step.detail
    dc_app.run_after(40)
    assert len(dropcowboy.rvm_requests()) == 1


def test_failed_drop_leaves_later_steps_running(dc_app, dropcowboy, twilio_api):
    dropcowboy.outcomes.append(Outcome("failure", 4002, "VoiceMail Full"))
    contact = consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    texts_before = len(twilio_api.message_requests())
    dc_app.run_after(24 * 60)
    assert len(twilio_api.message_requests()) == texts_before + 1
    assert dc_app.step(contact.id, "sms_24h").status == "sent"


@pytest.fixture
def dc_url_app(data_dir, twilio_api, dropcowboy):
    """Drop Cowboy fetching the recording by audio_url, so the first request is the drop."""
    dropcowboy.audio_url_allowed = True
    desk = open_app(data_dir, twilio_api, [dropcowboy], dropcowboy_env(dropcowboy),
                    settings={"drops.dropcowboy_audio": "audio_url"})
    yield desk
    desk.close()


def test_transient_http_error_retries_same_key(dc_url_app, dropcowboy):
    dropcowboy.failures.append(Failure(503, "Service Unavailable", "try again shortly"))
    contact = consenting_hot_caller(dc_url_app)
    dc_url_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    rvm = dropcowboy.rvm_requests()
    assert len(rvm) == 2
    assert rvm[0].headers["idempotency-key"] == rvm[1].headers["idempotency-key"]
    assert len(dropcowboy.sends) == 1
    step = dc_url_app.step(contact.id, "voicemail_drop")
    assert step.status == "sent"
    assert step.delivery_status == "delivered"


def test_lost_answer_retry_drops_once(dc_url_app, dropcowboy):
    dropcowboy.failures.append(Failure(502, "Bad Gateway", "upstream reset", accept_anyway=True))
    contact = consenting_hot_caller(dc_url_app)
    dc_url_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    rvm = dropcowboy.rvm_requests()
    assert len(rvm) == 2
    assert rvm[0].body == rvm[1].body
    assert rvm[0].headers["idempotency-key"] == rvm[1].headers["idempotency-key"]
    assert len(dropcowboy.sends) == 1
    assert len(dropcowboy.deliveries) == 1
    step = dc_url_app.step(contact.id, "voicemail_drop")
    assert step.status == "sent"
    assert step.delivery_status == "delivered"


def test_transient_result_tries_again_later(dc_app, dropcowboy):
    dropcowboy.outcomes.append(Outcome("failure", 4013, "Frequency limit"))
    contact = consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_deliveries(1)
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "scheduled"
    assert step.due_at == dc_app.clock.now() + drops.RETRY_DELAY
    assert "trying again" in step.detail

    dc_app.run_after(31)
    dropcowboy.wait_for_deliveries(2)
    rvm = dropcowboy.rvm_requests()
    assert len(rvm) == 2
    assert rvm[0].headers["idempotency-key"] != rvm[1].headers["idempotency-key"]
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "sent"
    assert step.delivery_status == "delivered"
    assert len(drops_for(dc_app, step.id)) == 2


def test_wrong_secret_reported_on_callback(data_dir, twilio_api, dropcowboy):
    env = {**dropcowboy_env(dropcowboy), "MCD_DROPCOWBOY_SECRET": "not-the-secret"}
    desk = open_app(data_dir, twilio_api, [dropcowboy], env, settings={"drops.dropcowboy_audio": "audio_url"})
    try:
        contact = consenting_hot_caller(desk)
        desk.run_after(61)
        dropcowboy.wait_for_deliveries(1)
        step = desk.step(contact.id, "voicemail_drop")
        assert step.status == "failed"
        assert "rejected the key or secret" in step.detail
    finally:
        desk.close()


def test_callback_with_wrong_token_rejected(dc_app, dropcowboy):
    contact = consenting_hot_caller(dc_app)
    step = dc_app.step(contact.id, "voicemail_drop")
    before = len(dc_app.inbound_events("dropcowboy"))
    response = httpx.post(f"{dc_app.app_base}/drops/dropcowboy/{step.id}/{'0' * 40}",
                          json={"foreign_id": f"mcd-{step.id}-x", "status": "failure", "reason_code": 4001})
    assert response.status_code == 403
    assert len(dc_app.inbound_events("dropcowboy")) == before


# -- signed webhooks -------------------------------------------------------------------------

@pytest.fixture
def webhook_app(dc_app, dropcowboy):
    """A queued drop whose result comes only by signed webhook (no callback)."""
    dropcowboy.send_callbacks = False
    contact = consenting_hot_caller(dc_app)
    dc_app.run_after(61)
    dropcowboy.wait_for_sends(1)
    dropcowboy.webhook_url = f"{PUBLIC_URL}/dropcowboy/webhook"
    return dc_app, contact


def test_webhook_updates_step(webhook_app, dropcowboy):
    desk, contact = webhook_app
    delivery = dropcowboy.post_webhook(dropcowboy.status_event(CALLER, Outcome("failure", 4002, "VoiceMail Full")))
    assert delivery.status == 200
    step = desk.step(contact.id, "voicemail_drop")
    assert step.status == "failed"
    assert "voicemail box is full" in step.detail


def test_webhook_bad_signature_rejected(webhook_app, dropcowboy):
    desk, contact = webhook_app
    before = len(desk.inbound_events("dropcowboy"))
    event = dropcowboy.status_event(CALLER, Outcome("failure", 4002, "VoiceMail Full"))
    delivery = dropcowboy.post_webhook(event, secret="someone-elses-secret")
    assert delivery.status == 403
    assert len(desk.inbound_events("dropcowboy")) == before
    step = desk.step(contact.id, "voicemail_drop")
    assert step.status == "sent"
    assert step.delivery_status == "queued"


def test_webhook_stale_timestamp_rejected(webhook_app, dropcowboy):
    desk, contact = webhook_app
    before = len(desk.inbound_events("dropcowboy"))
    stale = int(desk.clock.now().timestamp()) - 301
    event = dropcowboy.status_event(CALLER, Outcome("success", 0, ""))
    delivery = dropcowboy.post_webhook(event, timestamp=stale)
    assert delivery.status == 403
    assert "X-Timestamp" in delivery.text
    assert len(desk.inbound_events("dropcowboy")) == before
    assert desk.step(contact.id, "voicemail_drop").delivery_status == "queued"


def test_webhook_duplicate_event_processed_once(webhook_app, dropcowboy):
    desk, contact = webhook_app
    event = dropcowboy.status_event(CALLER, Outcome("failure", 4002, "VoiceMail Full"))
    first = dropcowboy.post_webhook(event)
    again = dropcowboy.post_webhook(event)
    assert (first.status, again.status) == (200, 200)
    outcomes = [e.outcome for e in desk.inbound_events("dropcowboy") if e.endpoint == "webhook"]
    assert outcomes == ["accepted", "duplicate"]
    failures = [s for s in desk.timeline(contact.id, "voicemail") if s.startswith("Voicemail drop failed")]
    assert len(failures) == 1


def test_webhook_without_signing_secret_is_refused(data_dir, twilio_api, dropcowboy):
    env = dropcowboy_env(dropcowboy)
    del env["MCD_DROPCOWBOY_WEBHOOK_SECRET"]
    desk = open_app(data_dir, twilio_api, [dropcowboy], env)
    try:
        dropcowboy.webhook_url = f"{PUBLIC_URL}/dropcowboy/webhook"
        delivery = dropcowboy.post_webhook(dropcowboy.status_event(CALLER, Outcome()))
        assert delivery.status == 503
        assert "MCD_DROPCOWBOY_WEBHOOK_SECRET" in delivery.text
    finally:
        desk.close()


# -- Slybroadcast ----------------------------------------------------------------------------

def test_slybroadcast_drop_from_planned_step(sly_app, slybroadcast):
    contact = consenting_hot_caller(sly_app)
    step = sly_app.step(contact.id, "voicemail_drop")
    sly_app.run_after(61)
    form = slybroadcast.wait_for_campaigns(1)[0]
    deliveries = slybroadcast.wait_for_deliveries(1)

    lo = sly_app.lo(contact.lo_name)
    assert form["c_uid"] == slybroadcast_api.USER
    assert form["c_phone"] == "2125550143"
    assert form["c_callerID"] == SALES_LINE[2:]
    assert form["c_url"] == f"{PUBLIC_URL}/media/{lo.recording_token}.mp3"
    assert form["c_audio"] == "mp3"
    assert form["c_date"] == "now"
    assert form["mobile_only"] == "1"
    assert form["c_dispo_url"].startswith(f"{PUBLIC_URL}/drops/slybroadcast/{step.id}/")

    assert (deliveries[0].status, deliveries[0].text) == (200, "OK")
    step = sly_app.step(contact.id, "voicemail_drop")
    assert step.provider == "slybroadcast"
    assert step.provider_id.isdigit()
    assert step.status == "sent"
    assert step.delivery_status == "delivered"


def test_slybroadcast_mailbox_full_disposition(sly_app, slybroadcast):
    slybroadcast.outcomes.append(slybroadcast_api.Outcome("FAILURE", "Mailbox Full"))
    contact = consenting_hot_caller(sly_app)
    sly_app.run_after(61)
    slybroadcast.wait_for_deliveries(1)
    step = sly_app.step(contact.id, "voicemail_drop")
    assert step.status == "failed"
    assert "voicemail box is full" in step.detail
    sly_app.run_after(40)
    assert len(slybroadcast.campaigns) == 1


def test_slybroadcast_error_reply_fails_step(data_dir, twilio_api, slybroadcast):
    env = {**slybroadcast_env(slybroadcast), "MCD_SLYBROADCAST_PASSWORD": "wrong"}
    desk = open_app(data_dir, twilio_api, [slybroadcast], env)
    try:
        contact = consenting_hot_caller(desk)
        desk.run_after(61)
        step = desk.step(contact.id, "voicemail_drop")
        assert step.status == "failed"
        assert "Slybroadcast rejected the drop: Invalid login" in step.detail
        assert len(slybroadcast.requests) == 1
        assert any("Voicemail failed" in s for s in desk.timeline(contact.id, "voicemail"))
    finally:
        desk.close()


def test_slybroadcast_server_error_retries(sly_app, slybroadcast):
    slybroadcast.http_failures.append(503)
    contact = consenting_hot_caller(sly_app)
    sly_app.run_after(61)
    slybroadcast.wait_for_deliveries(1)
    assert len(slybroadcast.requests) == 2
    assert sly_app.step(contact.id, "voicemail_drop").delivery_status == "delivered"


# -- gates, sandbox and the recording --------------------------------------------------------

def test_no_consent_skips_drop(dc_app, dropcowboy):
    dc_app.give_recordings()
    contact = dc_app.miss(seconds=45)
    dc_app.run_after(61)
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "skipped"
    assert "no voicemail-drop consent" in step.detail
    assert dropcowboy.requests == []


def test_no_recording_skips_drop(dc_app, dropcowboy):
    contact = dc_app.miss(seconds=45)
    dc_app.update_contact(contact.id, consent_voicemail=True)
    dc_app.run_after(61)
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "skipped"
    assert f"{contact.lo_name} has no voicemail recording" in step.detail
    assert dropcowboy.requests == []


def test_sandbox_drop_sends_nothing(data_dir, twilio_api):
    desk = ChannelApp(data_dir, twilio_api)
    try:
        contact = consenting_hot_caller(desk)
        desk.run_after(61)
        step = desk.step(contact.id, "voicemail_drop")
        assert step.status == "sent"
        assert step.detail.startswith("sandbox mode: recorded, not sent")
        assert f"would drop {contact.lo_name}'s recording" in step.detail
    finally:
        desk.close()


def test_media_url_serves_recording(dc_app):
    audio = dc_app.give_recordings()
    lo = dc_app.lo("Dana Reyes")
    response = httpx.get(f"{dc_app.app_base}/media/{lo.recording_token}.mp3")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content == audio["Dana Reyes"]
    assert httpx.head(f"{dc_app.app_base}/media/{lo.recording_token}.mp3").status_code == 200


def test_media_url_unguessable(dc_app):
    dc_app.give_recordings()
    tokens = [dc_app.lo(name).recording_token for name in ("Dana Reyes", "Sam Okafor")]
    assert all(len(token) >= 32 for token in tokens)  # 192 random bits (token_urlsafe(24))
    assert tokens[0] != tokens[1]
    token = tokens[0]
    altered = token[:-1] + ("B" if token.endswith("A") else "A")
    for path in (f"/media/{altered}.mp3", f"/media/{token}.wav", f"/media/{token}", "/media/",
                 "/media", "/media/recordings", f"/media/..%2F{token}.mp3", "/media/lo-1.mp3",
                 "/recordings/lo-1.mp3"):
        assert httpx.get(dc_app.app_base + path).status_code == 404, path


def test_result_before_send_recorded_is_kept(dc_app):
    """A result that arrives before the send's own response is applied once the send is recorded."""
    contact = consenting_hot_caller(dc_app)
    step = dc_app.step(contact.id, "voicemail_drop")
    ctx = dc_app.ctx
    now = ctx.clock.now()

    def in_flight(uow):
        row = uow.session.get(models.Step, step.id)
        row.status = "sending"
        uow.add(row)
        uow.add(drops.VoicemailDrop(step_id=step.id, contact_id=contact.id, provider="dropcowboy",
                                    phone=CALLER, foreign_id="mcd-early", provider_id="msg-early",
                                    status="queued", created_at=now, updated_at=now))

    ctx.db.write(in_flight)

    def early_result(uow):
        drop = drops.find_drop(uow.session, provider="dropcowboy", foreign_id="mcd-early")
        return drops.record_result(uow, ctx, drop, delivered=False, code="4002",
                                   words="the borrower's voicemail box is full", retry=False, now=now)

    assert "applied once the send is recorded" in ctx.db.write(early_result)
    job = SendJob(step_id=step.id, contact_id=contact.id, provider="twilio", channel="voicemail",
                  from_number=SALES_LINE, to_number=CALLER, body="", extra={"drop_foreign_id": "mcd-early"})
    SendHandler(ctx).succeeded(job, SendResult("dropcowboy", "msg-early", "queued"))
    step = dc_app.step(contact.id, "voicemail_drop")
    assert step.status == "failed"
    assert step.error_code == "4002"
