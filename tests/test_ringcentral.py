"""RingCentral on the real listener and a RingCentral stand-in: webhook, decisions, SMS, subscription."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.providers.base import ProviderError
from desktop_app.core.providers.ringcentral_sms import RingCentralClient, RingCentralSms
from desktop_app.core.ringcentral import (Party, RingCentralSessionEvent, SessionEvent,
                                          credentials_changed, evaluate, runtime_for)
from desktop_app.core.ringcentral_subscription import ensure_subscription, load_state
from tests.conftest import PUBLIC_URL, make_app
from tests.helpers import GENERAL_LINE, SALES_LINE, add_team, contact_by_phone, count, steps_for, wait_until
from tests.standins.ringcentral_api import (CLIENT_ID, CLIENT_SECRET, JWT, VERIFICATION_TOKEN, Failure,
                                            RingCentralStandIn, party, session_event,
                                            telephony_session_id)

CALLER = "+12125550143"
T0 = datetime(2026, 3, 2, 15, 4, 5, 120000, tzinfo=timezone.utc)
WEBHOOK = "/ringcentral/webhook"


@pytest.fixture
def ringcentral_api():
    with RingCentralStandIn(sms_numbers=(SALES_LINE, GENERAL_LINE)) as standin:
        yield standin


def ringcentral_env(standin: RingCentralStandIn, **extra) -> dict:
    env = {
        "MCD_RINGCENTRAL_CLIENT_ID": CLIENT_ID,
        "MCD_RINGCENTRAL_CLIENT_SECRET": CLIENT_SECRET,
        "MCD_RINGCENTRAL_JWT": JWT,
        "MCD_RINGCENTRAL_API_URL": standin.url,
        "MCD_RINGCENTRAL_VERIFICATION_TOKEN": VERIFICATION_TOKEN,
        "MCD_PUBLIC_URL": PUBLIC_URL,
        "MCD_BROKERAGE_NAME": "Harbor Point Mortgage",
    }
    env.update(extra)
    return env


def start_app(data_dir, standin: RingCentralStandIn, env: dict, *, manage: bool = False):
    desk = make_app(data_dir, env)
    desk.ctx.settings.set("ringcentral.manage_subscription", manage)
    standin.delivery_target = lambda: f"http://127.0.0.1:{desk.ctx.listen_port}{WEBHOOK}"
    desk.start()
    return desk


@pytest.fixture
def rc_app(data_dir, ringcentral_api):
    desk = start_app(data_dir, ringcentral_api, ringcentral_env(ringcentral_api))
    add_team(desk.ctx)
    yield desk
    desk.stop()


def missed_call_events(session: str, seconds: float = 14.6, caller: str = CALLER,
                       dialed: str = SALES_LINE) -> list[dict]:
    """Setup, ringing, then two Disconnected events flagged missed (RingCentral repeats them)."""
    return [
        session_event(session, 1, T0, party("Setup", caller=caller, dialed=dialed)),
        session_event(session, 2, T0 + timedelta(seconds=1),
                      party("Proceeding", caller=caller, dialed=dialed)),
        session_event(session, 3, T0 + timedelta(seconds=seconds - 0.3),
                      party("Disconnected", caller=caller, dialed=dialed, missed=True)),
        session_event(session, 4, T0 + timedelta(seconds=seconds),
                      party("Disconnected", caller=caller, dialed=dialed, missed=True)),
    ]


def deliver_all(standin: RingCentralStandIn, bodies: list[dict]) -> list[httpx.Response]:
    return [standin.deliver(body) for body in bodies]


def calls_of(ctx) -> list[models.Call]:
    with ctx.db.read() as session:
        return list(session.exec(select(models.Call).order_by(models.Call.id)))


def events_of(ctx) -> list[models.InboundEvent]:
    with ctx.db.read() as session:
        return list(session.exec(select(models.InboundEvent).order_by(models.InboundEvent.id)))


# -- the endpoint -------------------------------------------------------------------------------

def test_validation_token_echoed_quickly(rc_app):
    token = "8f1e0b7a-3c2d-4e5f-9a0b-1c2d3e4f5a6b"
    with httpx.Client(base_url=f"http://127.0.0.1:{rc_app.ctx.listen_port}") as http:
        started = time.perf_counter()
        response = http.post(WEBHOOK, content=b"", headers={"Validation-Token": token})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers["Validation-Token"] == token
    assert len(response.content) < 1024
    assert elapsed < 1.0
    assert count(rc_app.ctx, models.InboundEvent) == 0


def test_validation_token_with_control_characters_is_400(rc_app):
    with httpx.Client(base_url=f"http://127.0.0.1:{rc_app.ctx.listen_port}") as http:
        response = http.post(WEBHOOK, content=b"", headers={"Validation-Token": "a b"})
    assert response.status_code == 400
    assert "Validation-Token" in response.text


@pytest.mark.parametrize("token", ["not-the-token", None])
def test_bad_verification_token_is_403(rc_app, ringcentral_api, caplog, token):
    body = missed_call_events(telephony_session_id())[2]
    response = ringcentral_api.deliver(body, verification_token=token)
    assert response.status_code == 403
    assert "Verification-Token" in response.text
    assert count(rc_app.ctx, models.InboundEvent) == 0
    assert count(rc_app.ctx, RingCentralSessionEvent) == 0
    assert count(rc_app.ctx, models.Call) == 0
    rejected = [r for r in caplog.records if "Rejected" in r.getMessage()]
    assert len(rejected) == 1


def test_no_configured_verification_token_rejects_events(data_dir, ringcentral_api):
    env = ringcentral_env(ringcentral_api)
    del env["MCD_RINGCENTRAL_VERIFICATION_TOKEN"]
    desk = start_app(data_dir, ringcentral_api, env)
    try:
        response = ringcentral_api.deliver(missed_call_events(telephony_session_id())[0])
        assert response.status_code == 403
        assert "MCD_RINGCENTRAL_VERIFICATION_TOKEN" in response.text
    finally:
        desk.stop()


def post_raw(app, content: str) -> httpx.Response:
    headers = {"Content-Type": "application/json; charset=UTF-8",
               "Verification-Token": VERIFICATION_TOKEN}
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        return http.post(WEBHOOK, content=content, headers=headers)


def envelope(body) -> str:
    return json.dumps({"uuid": "837270960869181944", "subscriptionId": "5c37f936",
                       "event": "/restapi/v1.0/account/400144452008/extension/400144455008"
                                "/telephony/sessions",
                       "timestamp": "2026-03-02T15:04:05.181Z", "body": body})


def test_malformed_json_is_400_and_kept(rc_app):
    response = post_raw(rc_app, '{"event": "/restapi/v1.0/account/~/extension/~/telephony/sessions",')
    assert response.status_code == 400
    assert "invalid JSON body" in response.text
    stored = events_of(rc_app.ctx)
    assert len(stored) == 1
    assert stored[0].outcome == "rejected"
    assert stored[0].http_status == 400
    assert stored[0].body.startswith('{"event"')


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b.pop("telephonySessionId"), "missing required field: body.telephonySessionId"),
    (lambda b: b.pop("sequence"), "missing required field: body.sequence"),
    (lambda b: b.update(eventTime="yesterday"), "body.eventTime 'yesterday' is not an ISO 8601 time"),
    (lambda b: b.pop("parties"), "missing required field: body.parties"),
    (lambda b: b["parties"][0].pop("status"), "body.parties[0].status is missing"),
    (lambda b: b["parties"][0].update(missedCall="yes"), "body.parties[0].missedCall 'yes'"),
])
def test_missing_field_is_400_with_reason(rc_app, mutate, reason):
    body = missed_call_events(telephony_session_id())[2]
    mutate(body)
    response = post_raw(rc_app, envelope(body))
    assert response.status_code == 400
    assert reason in response.text
    stored = events_of(rc_app.ctx)
    assert [e.outcome for e in stored] == ["rejected"]
    assert reason in stored[0].detail
    assert count(rc_app.ctx, models.Call) == 0


def test_other_event_types_are_accepted_and_ignored(rc_app, ringcentral_api):
    response = ringcentral_api.deliver({"expiresIn": 3500},
                                       event="/restapi/v1.0/subscription/~?threshold=3600&interval=600")
    assert response.status_code == 200
    assert count(rc_app.ctx, models.Call) == 0
    assert events_of(rc_app.ctx)[0].outcome == "accepted"


# -- missed, answered, transferred ------------------------------------------------------------

def test_missed_call_out_of_order_is_one_call_one_text(rc_app, ringcentral_api):
    session = telephony_session_id()
    setup, ringing, missed, missed_again = missed_call_events(session, seconds=14.2)
    responses = deliver_all(ringcentral_api, [missed, missed, missed_again, setup, ringing])
    assert [r.status_code for r in responses] == [200] * 5

    ringcentral_api.wait_for_messages(1)
    rc_app.outbox.wait_idle()
    requests = ringcentral_api.sms_requests()
    assert len(requests) == 1
    sent = requests[0].body
    assert requests[0].path == "/restapi/v1.0/account/~/extension/~/sms"
    assert requests[0].authorization.startswith("Bearer standin-at-")
    assert sent["from"] == {"phoneNumber": SALES_LINE}
    assert sent["to"] == [{"phoneNumber": CALLER}]
    assert "you just called Harbor Point Mortgage" in sent["text"]

    assert count(rc_app.ctx, models.Contact) == 1
    assert count(rc_app.ctx, models.Task) == 1
    [call] = calls_of(rc_app.ctx)
    assert (call.provider, call.call_id, call.outcome) == ("ringcentral", session, "missed")
    assert call.dialed == SALES_LINE
    assert call.seconds == 14
    assert call.intent == "inquiry"
    assert count(rc_app.ctx, RingCentralSessionEvent) == 4

    contact = contact_by_phone(rc_app.ctx, CALLER)
    assert contact.lead_source == "zillow"
    first = [s for s in steps_for(rc_app.ctx, contact.id) if s.name == "first_text"][0]
    assert first.status == "sent"
    assert first.provider == "ringcentral"
    assert first.provider_id == str(ringcentral_api.messages[0]["id"])


def test_seconds_come_from_event_times(rc_app, ringcentral_api):
    session = telephony_session_id()
    # Decided at the first Disconnected event, 44.9 s after the first event.
    deliver_all(ringcentral_api, missed_call_events(session, seconds=45.2))
    [call] = calls_of(rc_app.ctx)
    assert call.seconds == 45
    assert call.intent == "hot"
    assert call.lo_name == "Sam Okafor"  # hot calls go to the senior LO


def test_lone_missed_event_is_decided_after_the_wait(rc_app, ringcentral_api):
    rc_app.ctx.settings.set("ringcentral.event_wait_seconds", 0.05)
    session = telephony_session_id()
    missed = missed_call_events(session)[2]
    assert ringcentral_api.deliver(missed).status_code == 200
    assert calls_of(rc_app.ctx)[0].outcome in ("pending", "missed")
    call = wait_until(lambda: next((c for c in calls_of(rc_app.ctx) if c.outcome == "missed"), None))
    assert call.seconds == 0
    assert "earlier events never arrived" in call.detail


def test_no_text_before_the_earlier_events_or_the_wait(rc_app, ringcentral_api):
    session = telephony_session_id()
    missed = missed_call_events(session)[2]
    ringcentral_api.deliver(missed)
    rc_app.outbox.wait_idle()
    assert calls_of(rc_app.ctx)[0].outcome == "pending"
    assert ringcentral_api.sms_requests() == []


@pytest.mark.parametrize("code, reason", [
    ("Disconnected", "BlindTransfer"),
    ("Disconnected", "CallRedirected"),
    ("Disconnected", "CallerInputRedirect"),
    ("Gone", "AttendedTransfer"),
])
def test_transfer_is_not_a_miss(rc_app, ringcentral_api, code, reason):
    session = telephony_session_id()
    ringing = session_event(session, 1, T0, party("Proceeding", caller=CALLER, dialed=SALES_LINE))
    # RingCentral can flag the party the call left as missed; the transfer still wins.
    final = session_event(session, 2, T0 + timedelta(seconds=12),
                         party(code, caller=CALLER, dialed=SALES_LINE, reason=reason, missed=True,
                               peer="s-a0dd888305b18z18c590772c3z13204cb0000"))
    deliver_all(ringcentral_api, [final, ringing])
    rc_app.outbox.wait_idle()
    [call] = calls_of(rc_app.ctx)
    assert call.outcome == "ignored"
    assert reason in call.detail
    assert count(rc_app.ctx, models.Contact) == 0
    assert count(rc_app.ctx, models.Task) == 0
    assert ringcentral_api.sms_requests() == []


def test_answered_call_halts_the_sequence(rc_app, ringcentral_api):
    deliver_all(ringcentral_api, missed_call_events(telephony_session_id()))
    ringcentral_api.wait_for_messages(1)
    rc_app.outbox.wait_idle()
    contact = contact_by_phone(rc_app.ctx, CALLER)
    assert any(s.status == "scheduled" for s in steps_for(rc_app.ctx, contact.id))

    callback = telephony_session_id()
    deliver_all(ringcentral_api, [
        session_event(callback, 1, T0 + timedelta(hours=2),
                      party("Proceeding", caller=CALLER, dialed=SALES_LINE)),
        session_event(callback, 2, T0 + timedelta(hours=2, seconds=6),
                      party("Answered", caller=CALLER, dialed=SALES_LINE)),
    ])
    steps = steps_for(rc_app.ctx, contact.id)
    assert [s for s in steps if s.status == "scheduled"] == []
    assert any(s.status == "cancelled" for s in steps)
    assert contact_by_phone(rc_app.ctx, CALLER).status == "contacted"
    answered = [c for c in calls_of(rc_app.ctx) if c.call_id == callback][0]
    assert answered.outcome == "answered"

    # The hang-up at the end of the conversation changes nothing.
    ringcentral_api.deliver(session_event(callback, 3, T0 + timedelta(hours=2, minutes=5),
                                          party("Disconnected", caller=CALLER, dialed=SALES_LINE)))
    assert [c for c in calls_of(rc_app.ctx) if c.call_id == callback][0].outcome == "answered"
    assert len(ringcentral_api.sms_requests()) == 1


def test_pickup_by_a_colleague_is_answered(rc_app, ringcentral_api):
    session = telephony_session_id()
    deliver_all(ringcentral_api, [
        session_event(session, 1, T0, party("Proceeding", caller=CALLER, dialed=SALES_LINE)),
        session_event(session, 2, T0 + timedelta(seconds=8),
                      party("Disconnected", caller=CALLER, dialed=SALES_LINE, reason="Pickup",
                            missed=True)),
    ])
    assert calls_of(rc_app.ctx)[0].outcome == "answered"
    assert count(rc_app.ctx, models.Task) == 0


def test_internal_and_outbound_calls_are_not_recorded(rc_app, ringcentral_api):
    internal = telephony_session_id()
    outbound = telephony_session_id()
    deliver_all(ringcentral_api, [
        session_event(internal, 1, T0, party("Disconnected", caller="101", dialed="102",
                                             missed=True, internal=True)),
        session_event(outbound, 1, T0, party("Disconnected", caller=SALES_LINE, dialed=CALLER,
                                             direction="Outbound")),
    ])
    assert count(rc_app.ctx, models.Call) == 0
    assert [e.outcome for e in events_of(rc_app.ctx)] == ["accepted", "accepted"]


def _event(sequence: int, seconds: float, code: str, *, missed: bool = False,
           reason: str | None = None, direction: str = "Inbound") -> SessionEvent:
    return SessionEvent("s-1", "1", sequence, T0 + timedelta(seconds=seconds),
                        (Party("p-1", direction, code, reason, missed, CALLER, SALES_LINE, False),))


def test_evaluate_prefers_answer_over_transfer_and_miss():
    events = [_event(3, 30, "Disconnected", reason="BlindTransfer", missed=True),
              _event(1, 0, "Proceeding"), _event(2, 5, "Answered")]
    verdict = evaluate(events)
    assert verdict.kind == "answered"
    assert verdict.seconds == 30
    assert verdict.has_earlier_events


def test_evaluate_voicemail_then_disconnect_is_missed():
    verdict = evaluate([_event(1, 0, "Proceeding"), _event(2, 20, "VoiceMail"),
                        _event(3, 52, "Disconnected", missed=True)])
    assert verdict.kind == "missed"
    assert verdict.seconds == 52


def test_evaluate_disconnect_without_flag_is_ended():
    verdict = evaluate([_event(2, 9, "Disconnected")])
    assert verdict.kind == "ended"
    assert not verdict.has_earlier_events


def test_evaluate_outbound_only_is_none():
    assert evaluate([_event(1, 0, "Answered", direction="Outbound")]) is None


# -- sending through RingCentral ---------------------------------------------------------------

def test_rate_limited_send_is_retried(rc_app, ringcentral_api):
    ringcentral_api.fail_next(Failure(path="/sms", status=429, code="CMN-301",
                                      message="Request rate exceeded", retry_after="1"))
    deliver_all(ringcentral_api, missed_call_events(telephony_session_id()))
    ringcentral_api.wait_for_messages(1)
    rc_app.outbox.wait_idle()
    assert len(ringcentral_api.sms_requests()) == 2
    assert len(ringcentral_api.messages) == 1
    contact = contact_by_phone(rc_app.ctx, CALLER)
    first = [s for s in steps_for(rc_app.ctx, contact.id) if s.name == "first_text"][0]
    assert first.status == "sent"
    assert first.attempts == 2


def test_number_not_owned_fails_at_once(rc_app, ringcentral_api):
    other_line = "+17185550100"
    deliver_all(ringcentral_api, missed_call_events(telephony_session_id(), dialed=other_line))
    ringcentral_api.wait_for("POST", r"/sms$", 1)
    rc_app.outbox.wait_idle()
    assert len(ringcentral_api.sms_requests()) == 1
    contact = contact_by_phone(rc_app.ctx, CALLER)
    first = [s for s in steps_for(rc_app.ctx, contact.id) if s.name == "first_text"][0]
    assert first.status == "failed"
    assert first.error_code == "MSG-245"
    assert "does not belong to the signed-in RingCentral user" in first.detail
    assert other_line in first.detail


def test_without_credentials_texts_are_sandboxed(data_dir, ringcentral_api):
    env = {"MCD_RINGCENTRAL_VERIFICATION_TOKEN": VERIFICATION_TOKEN, "MCD_PUBLIC_URL": PUBLIC_URL,
           "MCD_BROKERAGE_NAME": "Harbor Point Mortgage"}
    desk = start_app(data_dir, ringcentral_api, env)
    try:
        deliver_all(ringcentral_api, missed_call_events(telephony_session_id()))
        desk.outbox.wait_idle()
        contact = contact_by_phone(desk.ctx, CALLER)
        first = [s for s in steps_for(desk.ctx, contact.id) if s.name == "first_text"][0]
        assert first.status == "sent"
        assert "sandbox mode" in first.detail
        assert ringcentral_api.requests == []
        assert ensure_subscription(desk.ctx).startswith("RingCentral runs in sandbox mode")
    finally:
        desk.stop()


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sms(ringcentral_api):
    clock = FakeMonotonic()
    client = RingCentralClient(CLIENT_ID, CLIENT_SECRET, JWT, ringcentral_api.url, monotonic=clock)
    provider = RingCentralSms(client)
    provider.clock = clock
    yield provider
    provider.close()


def send(provider: RingCentralSms, body: str = "Hi"):
    return provider.send_sms(from_number=SALES_LINE, to_number=CALLER, body=body)


def grant_types(standin: RingCentralStandIn) -> list[tuple[str, bool]]:
    short = {"urn:ietf:params:oauth:grant-type:jwt-bearer": "jwt", "refresh_token": "refresh"}
    return [(short[g.grant_type], g.ok) for g in standin.grants]


def test_token_is_cached_then_refreshed_before_expiry(sms, ringcentral_api):
    first = send(sms)
    send(sms)
    assert grant_types(ringcentral_api) == [("jwt", True)]
    sms.clock.now += 3600 - 30  # inside the minute before the hour-long token expires
    third = send(sms)
    assert grant_types(ringcentral_api) == [("jwt", True), ("refresh", True)]
    assert (first.provider, first.status) == ("ringcentral", "queued")
    assert third.provider_id == str(ringcentral_api.messages[2]["id"])
    token_form = ringcentral_api.calls_to("POST", r"/restapi/oauth/token$")[0]
    assert token_form.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert token_form.body["assertion"] == JWT
    assert token_form.authorization.startswith("Basic ")


def test_refused_refresh_falls_back_to_jwt(sms, ringcentral_api):
    send(sms)
    ringcentral_api.revoke_refresh_tokens()
    sms.clock.now += 3600
    send(sms)
    assert grant_types(ringcentral_api) == [("jwt", True), ("refresh", False), ("jwt", True)]


def test_401_triggers_one_reauth(sms, ringcentral_api):
    send(sms)
    ringcentral_api.expire_access_tokens()
    result = send(sms)
    assert result.provider_id == str(ringcentral_api.messages[-1]["id"])
    assert len(ringcentral_api.sms_requests()) == 3  # the 401 and its one retry
    assert grant_types(ringcentral_api) == [("jwt", True), ("refresh", True)]


def test_rate_limit_is_retryable_with_retry_after(sms, ringcentral_api):
    ringcentral_api.fail_next(Failure(path="/sms", status=429, code="CMN-301",
                                      message="Request rate exceeded", retry_after="7"))
    with pytest.raises(ProviderError) as caught:
        send(sms)
    assert caught.value.retryable
    assert caught.value.retry_after == 7.0
    assert caught.value.code == "CMN-301"


def test_server_error_is_retryable(sms, ringcentral_api):
    ringcentral_api.fail_next(Failure(path="/sms", status=503))
    with pytest.raises(ProviderError) as caught:
        send(sms)
    assert caught.value.retryable
    assert caught.value.http_status == 503


def test_client_error_carries_code_and_message(sms, ringcentral_api):
    with pytest.raises(ProviderError) as caught:
        sms.send_sms(from_number=SALES_LINE, to_number=CALLER, body="")
    assert not caught.value.retryable
    assert caught.value.code == "CMN-101"
    assert "Parameter [text] value is invalid." in str(caught.value)


def test_wrong_jwt_fails_with_the_fix(ringcentral_api):
    client = RingCentralClient(CLIENT_ID, CLIENT_SECRET, "not-a-jwt", ringcentral_api.url)
    with pytest.raises(ProviderError) as caught:
        RingCentralSms(client).send_sms(from_number=SALES_LINE, to_number=CALLER, body="Hi")
    client.close()
    assert not caught.value.retryable
    assert caught.value.code == "OAU-213"
    assert "MCD_RINGCENTRAL_JWT" in str(caught.value)


def test_find_recent_finds_a_sent_text(sms, ringcentral_api):
    since = datetime.now(timezone.utc) - timedelta(minutes=2)
    sent = send(sms, "We missed you")
    found = sms.find_recent(from_number=SALES_LINE, to_number=CALLER, body="We missed you",
                            since=since)
    assert found == sent.provider_id
    assert sms.find_recent(from_number=SALES_LINE, to_number=CALLER, body="Other",
                           since=since) is None


# -- the subscription --------------------------------------------------------------------------

def test_subscription_created_with_handshake(rc_app, ringcentral_api):
    message = ensure_subscription(rc_app.ctx)
    assert message.startswith("Created RingCentral subscription")
    [sub] = ringcentral_api.subscriptions.values()
    assert sub.address == PUBLIC_URL + WEBHOOK
    assert sub.verification_token == VERIFICATION_TOKEN
    assert sub.event_filters == ["/restapi/v1.0/account/400144452008/extension/400144455008"
                                 "/telephony/sessions"]
    create = ringcentral_api.calls_to("POST", r"/subscription$")[0].body
    assert create["deliveryMode"]["transportType"] == "WebHook"
    assert create["expiresIn"] == 7 * 24 * 3600
    [shake] = ringcentral_api.handshakes
    assert shake.status == 200
    assert shake.echoed == shake.sent
    assert shake.body_bytes < 1024
    assert shake.seconds < 1.0
    state = load_state(rc_app.ctx)
    assert (state.id, state.status) == (sub.id, "Active")

    assert "is active until" in ensure_subscription(rc_app.ctx)
    assert len(ringcentral_api.subscriptions) == 1


def test_subscription_renewed_before_expiry(rc_app, ringcentral_api):
    ensure_subscription(rc_app.ctx)
    sub_id = load_state(rc_app.ctx).id
    ringcentral_api.set_expires_in(sub_id, 3600)
    message = ensure_subscription(rc_app.ctx)
    assert message.startswith(f"Renewed RingCentral subscription {sub_id}")
    assert len(ringcentral_api.calls_to("POST", rf"/subscription/{sub_id}/renew$")) == 1
    expires = datetime.fromisoformat(load_state(rc_app.ctx).expires_at)
    assert expires - rc_app.ctx.clock.now() > timedelta(days=6)


def test_blacklisted_subscription_is_recreated(rc_app, ringcentral_api):
    ensure_subscription(rc_app.ctx)
    old = load_state(rc_app.ctx).id
    ringcentral_api.blacklist(old)
    message = ensure_subscription(rc_app.ctx)
    new = load_state(rc_app.ctx).id
    assert new != old
    assert f"{old} was Blacklisted" in message
    assert "Read timed out" in message
    assert len(ringcentral_api.calls_to("DELETE", rf"/subscription/{old}$")) == 1
    assert list(ringcentral_api.subscriptions) == [new]
    assert ringcentral_api.subscriptions[new].status == "Active"


def test_vanished_subscription_is_recreated(rc_app, ringcentral_api):
    ensure_subscription(rc_app.ctx)
    old = load_state(rc_app.ctx).id
    ringcentral_api.delete_subscription(old)
    message = ensure_subscription(rc_app.ctx)
    assert "no longer exists" in message
    assert load_state(rc_app.ctx).id in ringcentral_api.subscriptions


def test_new_public_url_replaces_subscription(rc_app, ringcentral_api):
    ensure_subscription(rc_app.ctx)
    rc_app.ctx.environ["MCD_PUBLIC_URL"] = "https://new-tunnel.example.test"
    message = ensure_subscription(rc_app.ctx)
    assert "public URL changed" in message
    [sub] = ringcentral_api.subscriptions.values()
    assert sub.address == "https://new-tunnel.example.test" + WEBHOOK


def test_subscription_waits_for_a_public_url(data_dir, ringcentral_api):
    env = ringcentral_env(ringcentral_api)
    del env["MCD_PUBLIC_URL"]
    desk = start_app(data_dir, ringcentral_api, env)
    try:
        assert "No public URL yet" in ensure_subscription(desk.ctx)
        assert ringcentral_api.subscriptions == {}
    finally:
        desk.stop()


def test_missing_verification_token_without_keyring_is_an_error(data_dir, ringcentral_api):
    env = ringcentral_env(ringcentral_api)
    del env["MCD_RINGCENTRAL_VERIFICATION_TOKEN"]
    desk = start_app(data_dir, ringcentral_api, env)
    try:
        with pytest.raises(ProviderError) as caught:
            ensure_subscription(desk.ctx)
        assert "MCD_RINGCENTRAL_VERIFICATION_TOKEN" in str(caught.value)
    finally:
        desk.stop()


def test_keeper_creates_subscription_at_start(data_dir, ringcentral_api):
    desk = start_app(data_dir, ringcentral_api, ringcentral_env(ringcentral_api), manage=True)
    try:
        ringcentral_api.wait_for("POST", r"/subscription$", 1)
        state = wait_until(lambda: load_state(desk.ctx))
        assert state.id in ringcentral_api.subscriptions
        keeper = runtime_for(desk.ctx).keeper
        wait_until(lambda: keeper.last_result)
        assert keeper.last_result.startswith("Created RingCentral subscription")
    finally:
        desk.stop()
    assert not keeper._thread


def test_keeper_starts_when_credentials_arrive(data_dir, ringcentral_api):
    env = {"MCD_RINGCENTRAL_VERIFICATION_TOKEN": VERIFICATION_TOKEN, "MCD_PUBLIC_URL": PUBLIC_URL}
    desk = start_app(data_dir, ringcentral_api, env, manage=True)
    try:
        keeper = runtime_for(desk.ctx).keeper
        assert keeper._thread is None
        desk.ctx.environ.update(ringcentral_env(ringcentral_api))
        credentials_changed(desk.ctx)
        ringcentral_api.wait_for("POST", r"/subscription$", 1)
        wait_until(lambda: load_state(desk.ctx))
        assert len(ringcentral_api.subscriptions) == 1
    finally:
        desk.stop()
