"""Bursts and a locked database: nothing lost, nothing doubled, failures answered 5xx."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.clock import ManualClock
from tests.conftest import SignedClient, make_app, twilio_env
from tests.helpers import GENERAL_LINE, call_sid, status_params

TWO_TEXTS = {"inquiry": [
    {"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0},
    {"name": "sms_24h", "channel": "sms", "template": "sms_24h", "offset_minutes": 1440},
], "hot": [], "accidental": []}


def caller(i: int) -> str:
    return f"+1{['212', '312', '303', '602', '646'][i % 5]}5550{100 + i // 5:03d}"  # all awake at 15:00 UTC


def test_fifty_webhooks_while_twenty_steps_come_due(data_dir, twilio_api, caplog):
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=timezone.utc))
    app = make_app(data_dir, twilio_env(twilio_api), clock=clock)
    app.start()
    try:
        app.ctx.settings.set("sequence.steps", TWO_TEXTS)
        client = SignedClient(app.ctx.listen_port, settle=app.settle)
        for i in range(20):
            client.post("/twilio/call-status", status_params(call_sid(), caller(i), GENERAL_LINE,
                                                             status="no-answer", duration=10))
        app.outbox.wait_idle()
        assert len(twilio_api.sent()) == 20
        clock.advance(hours=24)

        def post(i):
            local = SignedClient(app.ctx.listen_port)
            try:
                return local.post("/twilio/call-status", status_params(
                    call_sid(), caller(100 + i), GENERAL_LINE, status="no-answer", duration=12)).status_code
            finally:
                local.close()

        ticker = threading.Thread(target=app.tick)
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(post, i) for i in range(50)]
            ticker.start()
            codes = [f.result() for f in futures]
        ticker.join()
        app.settle()
        app.outbox.wait_idle()
        client.close()
    finally:
        app.stop()
    assert codes == [204] * 50
    sent_to = [m["to"] for m in twilio_api.sent()]
    assert len(sent_to) == 20 + 20 + 50
    assert len(set(zip(sent_to, [m["body"] for m in twilio_api.sent()]))) == 90
    assert "database is locked" not in caplog.text


def test_locked_database_answers_503_and_retry_succeeds(data_dir, twilio_api):
    app = make_app(data_dir, twilio_env(twilio_api), busy_timeout_ms=100)
    app.start()
    client = SignedClient(app.ctx.listen_port, settle=app.settle)
    params = status_params(call_sid(), "+12125550143", GENERAL_LINE, status="no-answer", duration=12)
    blocker = sqlite3.connect(app.ctx.db.path, timeout=0)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        response = client.post("/twilio/call-status", params)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
    finally:
        blocker.rollback()
        blocker.close()
    try:
        retry = client.post("/twilio/call-status", params)
        assert retry.status_code == 204
        app.outbox.wait_idle()
        assert len(twilio_api.sent()) == 1
        with app.ctx.db.read() as session:
            calls = session.exec(select(models.Call)).all()
        assert len(calls) == 1
    finally:
        client.close()
        app.stop()


def test_one_sender_is_paced(data_dir, twilio_api):
    app = make_app(data_dir, twilio_env(twilio_api), send_interval=0.3)
    app.start()
    client = SignedClient(app.ctx.listen_port, settle=app.settle)
    try:
        for i in range(3):
            client.post("/twilio/call-status", status_params(call_sid(), caller(i), GENERAL_LINE,
                                                             status="no-answer", duration=12))
        app.outbox.wait_idle()
    finally:
        client.close()
        app.stop()
    times = [r.received for r in twilio_api.message_requests()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 3
    assert all(gap >= 0.29 for gap in gaps), gaps
    assert timedelta(seconds=sum(gaps)) < timedelta(seconds=5)
