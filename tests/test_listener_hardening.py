"""Hostile input at the listener: oversized and stalled bodies, bad JSON, odd digits, log injection."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time

import httpx
import pytest

from desktop_app.core.logs import MaskingFilter
from tests.conftest import PUBLIC_URL, make_app, twilio_env
from tests.helpers import GENERAL_LINE, call_sid, status_params
from tests.standins.twilio_api import sign


def raw_post(port: int, path: str, body: bytes, headers: dict) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        return http.post(path, content=body, headers=headers)


@pytest.mark.parametrize("query", ["bodySHA256=", "x=bodySHA256=", "bodySHA256=" + "0" * 64])
def test_unsigned_json_is_rejected_not_500(app, query):
    response = raw_post(app.ctx.listen_port, f"/twilio/voice?{query}", b'{"a": 1}',
                        {"Content-Type": "application/json", "X-Twilio-Signature": "x"})
    assert response.status_code in (400, 403)


def test_signed_json_nested_too_deeply_is_400(app):
    body = "[" * 30000 + "]" * 30000
    digest = hashlib.sha256(body.encode()).hexdigest()
    path = f"/twilio/call-status?bodySHA256={digest}"
    signature = sign(PUBLIC_URL + path, {})
    response = raw_post(app.ctx.listen_port, path, body.encode(),
                        {"Content-Type": "application/json", "X-Twilio-Signature": signature})
    assert response.status_code in (400, 413)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "9999999", "-1", "1e3"])
def test_odd_call_duration_is_400(app, client, value):
    params = status_params(call_sid(), "+12125550143", GENERAL_LINE, status="no-answer")
    params["CallDuration"] = value
    response = client.post("/twilio/call-status", params)
    assert response.status_code == 400
    assert "CallDuration" in response.text


def test_unsupported_signature_algorithm_is_403(app, client, caplog):
    params = status_params(call_sid(), "+12125550143", GENERAL_LINE, status="no-answer")
    response = client.post("/twilio/call-status", params,
                           headers={"X-Twilio-Webhooks-Signature-Settings": "algorithm=MD5"})
    assert response.status_code == 403
    assert "unsupported signature algorithm" in response.text


def test_huge_body_is_refused_before_reading(app):
    with socket.create_connection(("127.0.0.1", app.ctx.listen_port), timeout=5) as sock:
        sock.sendall(b"POST /email/unsubscribe/" + b"A" * 40 + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 314572800\r\n\r\n")
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")


def test_stalled_body_times_out_and_delays_nothing(data_dir, twilio_api):
    desk = make_app(data_dir, twilio_env(twilio_api))
    desk.ctx.body_timeout = 3.0
    desk.start()
    try:
        stalled = socket.create_connection(("127.0.0.1", desk.ctx.listen_port), timeout=10)
        stalled.sendall(b"POST /twilio/call-status HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\na")
        from tests.conftest import SignedClient

        client = SignedClient(desk.ctx.listen_port)
        started = time.monotonic()
        response = client.post("/twilio/call-status", status_params(
            call_sid(), "+12125550143", GENERAL_LINE, status="no-answer", duration=12))
        assert response.status_code == 204
        twilio_api.wait_for_messages(1, timeout=2.5)
        assert time.monotonic() - started < 2.5  # processed while the stalled body is still open
        answer = stalled.recv(200)
        assert answer.startswith(b"HTTP/1.1 408")
        stalled.close()
        client.close()
    finally:
        desk.stop()


def test_log_lines_cannot_be_forged():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "event %s",
                               ("a\n2026-12-04 00:00:00,000 ERROR forged\r",), None)
    MaskingFilter().filter(record)
    message = record.getMessage()
    assert "\n" not in message
    assert "\r" not in message
    assert "\\n2026-12-04" in message


def test_ringcentral_sequence_out_of_range_is_400():
    from desktop_app.core.ingest import BadWebhook
    from desktop_app.core.ringcentral import parse_notification
    from tests.standins.ringcentral_api import party, session_event, telephony_session_id
    from datetime import datetime, timezone

    from tests.test_ringcentral import envelope

    body = session_event(telephony_session_id(), 1, datetime(2026, 3, 2, tzinfo=timezone.utc),
                         party("Setup", caller="+12125550143", dialed=GENERAL_LINE))
    body["sequence"] = 10 ** 30
    with pytest.raises(BadWebhook, match="out of range"):
        parse_notification(envelope(body))
