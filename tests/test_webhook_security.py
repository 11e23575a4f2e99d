"""Signature checks and malformed requests on the real listener."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import select

from desktop_app.core import models
from tests.conftest import PUBLIC_URL, SignedClient, make_app, twilio_env
from tests.helpers import GENERAL_LINE, call_sid, count, sms_params, status_params, voice_params
from tests.standins.twilio_api import sign

CALLER = "+12125550143"


def test_wrong_token_is_403_and_nothing_stored(app, client, caplog):
    params = status_params(call_sid(), CALLER, GENERAL_LINE, status="no-answer", duration=9)
    response = client.post("/twilio/call-status", params, token="not-the-auth-token")
    assert response.status_code == 403
    assert "invalid X-Twilio-Signature" in response.text
    assert count(app.ctx, models.InboundEvent) == 0
    assert count(app.ctx, models.Call) == 0
    rejected = [r for r in caplog.records if "Rejected" in r.getMessage()]
    assert len(rejected) == 1


def test_signature_for_another_url_is_403(app, client):
    params = voice_params(call_sid(), CALLER)
    response = client.post("/twilio/voice", params,
                           signed_url="https://attacker.example.test/twilio/voice")
    assert response.status_code == 403


def test_signature_with_default_port_is_accepted(app, client):
    params = voice_params(call_sid(), CALLER)
    response = client.post("/twilio/voice", params,
                           signed_url="https://desk.example.test:443/twilio/voice")
    assert response.status_code == 200


def test_missing_signature_is_403(app):
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        response = http.post("/twilio/sms", content=urlencode(sms_params("SM" + "a" * 32, CALLER)),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403
    assert "missing X-Twilio-Signature" in response.text


def test_tampered_body_is_403(app, client):
    params = sms_params("SM" + "b" * 32, CALLER, body="Hi")
    signature = sign(PUBLIC_URL + "/twilio/sms", params)
    params["Body"] = "STOP"
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        response = http.post("/twilio/sms", content=urlencode(params),
                             headers={"X-Twilio-Signature": signature,
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403


def test_repeated_parameter_values_are_all_signed(app, client):
    sid = "SM" + "c" * 32
    params = list(sms_params(sid, CALLER, body="Photo of my pay stub").items())
    params += [("NumMedia", "2"), ("MediaUrl0", "https://api.twilio.com/media/1"),
               ("MediaUrl0", "https://api.twilio.com/media/2")]
    params = [(k, v) for k, v in params if not (k == "NumMedia" and v == "0")]
    response = client.post("/twilio/sms", params)
    assert response.status_code == 200


def test_url_rebuilt_from_forwarded_headers(data_dir, twilio_api):
    env = twilio_env(twilio_api)
    del env["MCD_PUBLIC_URL"]
    desk = make_app(data_dir, env)
    desk.start()
    try:
        client = SignedClient(desk.ctx.listen_port, public_url="https://abc123.ngrok.app",
                              settle=desk.settle)
        params = voice_params(call_sid(), CALLER)
        ok = client.post("/twilio/voice", params,
                         headers={"Host": "abc123.ngrok.app", "X-Forwarded-Proto": "https"})
        wrong_host = client.post("/twilio/voice", params,
                                 headers={"Host": "other.ngrok.app", "X-Forwarded-Proto": "https"})
        client.close()
    finally:
        desk.stop()
    assert ok.status_code == 200
    assert wrong_host.status_code == 403


@pytest.mark.parametrize("path, params, reason", [
    ("/twilio/call-status", {"CallStatus": "completed", "From": CALLER, "To": GENERAL_LINE},
     "missing required parameter: CallSid"),
    ("/twilio/call-status", {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": GENERAL_LINE},
     "missing required parameter: CallStatus"),
    ("/twilio/call-status", {"CallSid": "CA" + "1" * 32, "CallStatus": "exploded",
                             "From": CALLER, "To": GENERAL_LINE}, "CallStatus 'exploded'"),
    ("/twilio/call-status", {"CallSid": "CA" + "1" * 32, "CallStatus": "completed",
                             "CallDuration": "ten", "From": CALLER, "To": GENERAL_LINE},
     "CallDuration 'ten' is not a whole number"),
    ("/twilio/dial-action", {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": GENERAL_LINE},
     "missing required parameter: DialCallStatus"),
    ("/twilio/voice", {"CallSid": "CA" + "1" * 32, "From": CALLER},
     "missing required parameter: To"),
    ("/twilio/sms", {"MessageSid": "SM" + "1" * 32, "Body": "hi", "To": GENERAL_LINE},
     "missing required parameter: From"),
    ("/twilio/message-status", {"MessageSid": "SM" + "1" * 32}, "MessageStatus"),
    ("/twilio/voice", {"CallSid": "CA 1; DROP TABLE", "From": CALLER, "To": GENERAL_LINE},
     "is not a valid identifier"),
])
def test_malformed_request_is_400_with_reason(app, client, path, params, reason):
    response = client.post(path, params)
    assert response.status_code == 400
    assert reason in response.text
    with app.ctx.db.read() as session:
        events = session.exec(select(models.InboundEvent)).all()
    assert [e.outcome for e in events] == ["rejected"]
    assert count(app.ctx, models.Call) == 0


def test_wrong_content_type_is_415(app):
    url = PUBLIC_URL + "/twilio/sms"
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        response = http.post("/twilio/sms", content=b"<xml/>",
                             headers={"X-Twilio-Signature": sign(url, {}),
                                      "Content-Type": "application/xml"})
    assert response.status_code == 415


def test_body_that_is_not_utf8_is_400(app):
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        response = http.post("/twilio/sms", content=b"Body=\xff\xfe",
                             headers={"X-Twilio-Signature": "x",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "UTF-8" in response.text


def test_oversized_body_is_413(app):
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        response = http.post("/twilio/sms", content=b"Body=" + b"a" * 70000,
                             headers={"X-Twilio-Signature": "x",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_raw_event_is_stored_before_the_answer(app, client):
    params = status_params(call_sid(), CALLER, GENERAL_LINE, status="no-answer", duration=9)
    response = client.post("/twilio/call-status", params)
    assert response.status_code == 204
    with app.ctx.db.read() as session:
        event = session.exec(select(models.InboundEvent)).one()
    assert event.outcome == "accepted"
    assert event.endpoint == "call-status"
    assert f"CallSid={params['CallSid']}" in event.body


def test_listener_binds_loopback_only(app):
    from desktop_app.core.server import Listener, ListenerError

    assert app.listener._socket.getsockname()[0] == "127.0.0.1"
    with pytest.raises(ListenerError, match="only binds to the loopback"):
        Listener(app=None, host="0.0.0.0", port=0)


def test_second_listener_on_same_port_fails_clearly(app):
    from desktop_app.core.server import Listener, ListenerError

    with pytest.raises(ListenerError, match="Another copy of the app may be running"):
        Listener(app=None, port=app.ctx.listen_port).start()


def test_health_reports_sandbox_and_version(app):
    with httpx.Client(base_url=f"http://127.0.0.1:{app.ctx.listen_port}") as http:
        data = http.get("/health").json()
    assert data["status"] == "ok"
    assert data["sandbox"] is False
    assert data["public_url"] == PUBLIC_URL


def test_phone_numbers_are_masked_in_log_file(app, client, tmp_path):
    from desktop_app.core import logs

    log_file = logs.setup("INFO", tmp_path / "logs", stderr=False)
    try:
        client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                         status="no-answer", duration=9))
        client.post("/twilio/sms", sms_params("SM" + "d" * 32, "+13125550177", body="hello"))
        app.outbox.wait_idle()
    finally:
        logs.setup("INFO", None, stderr=False)
    text = log_file.read_text()
    assert "+1***0143" in text
    assert "+1***0177" in text
    assert "2125550143" not in text
    assert "3125550177" not in text
    assert "(212) 555-0143" not in text
