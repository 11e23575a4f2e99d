"""Stored webhooks are processed even when the app stops or fails between storing and acting."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from sqlmodel import select

from desktop_app.core import ingest, models
from desktop_app.core.clock import ManualClock
from tests.conftest import make_app, twilio_env
from tests.helpers import GENERAL_LINE, call_sid, status_params


def test_event_stored_before_a_crash_is_processed_at_start(data_dir, twilio_api):
    params = status_params(call_sid(), "+12125550143", GENERAL_LINE, status="no-answer", duration=12)
    app = make_app(data_dir, twilio_env(twilio_api))
    now = datetime.now(timezone.utc)
    app.ctx.db.write(ingest._store_raw, "twilio", "call-status", urlencode(params),
                     "application/x-www-form-urlencoded", f"twilio:status:{params['CallSid']}:no-answer", now)
    app.ctx.db.close()  # the process "died" before processing

    app = make_app(data_dir, twilio_env(twilio_api))
    app.start()
    try:
        app.settle()
        app.outbox.wait_idle()
        with app.ctx.db.read() as session:
            event = session.exec(select(models.InboundEvent)).one()
            call = session.exec(select(models.Call)).one()
        assert event.outcome == "accepted"
        assert call.outcome == "missed"
        assert len(twilio_api.sent()) == 1
    finally:
        app.stop()


def test_failed_processing_is_retried_with_backoff(data_dir, twilio_api):
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=timezone.utc))
    app = make_app(data_dir, twilio_env(twilio_api), clock=clock)
    app.start()
    attempts = []
    original = ingest.ENDPOINTS[("twilio", "call-status")]

    def flaky(uow, ctx, parsed, duplicate):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("simulated bug on the first try")
        return original.apply(uow, ctx, parsed, duplicate)

    ingest.ENDPOINTS[("twilio", "call-status")] = ingest.Endpoint(
        original.provider, original.name, original.parse, original.key, flaky, original.decode,
        original.deferred, original.ack)
    try:
        from tests.conftest import SignedClient

        client = SignedClient(app.ctx.listen_port, settle=app.settle)
        response = client.post("/twilio/call-status", status_params(
            call_sid(), "+12125550143", GENERAL_LINE, status="no-answer", duration=12))
        client.close()
        assert response.status_code == 204
        with app.ctx.db.read() as session:
            event = session.exec(select(models.InboundEvent)).one()
        assert event.outcome == "failed"
        assert "simulated bug" in event.detail
        clock.advance(seconds=30)
        app.tick()
        assert len(attempts) == 1  # not yet: the first retry waits a minute
        clock.advance(minutes=1)
        app.tick()
        app.settle()
        app.outbox.wait_idle()
        with app.ctx.db.read() as session:
            event = session.exec(select(models.InboundEvent)).one()
        assert event.outcome == "accepted"
        assert event.attempts == 2
        assert len(twilio_api.sent()) == 1
    finally:
        ingest.ENDPOINTS[("twilio", "call-status")] = original
        app.stop()


def test_retries_stop_after_the_limit(data_dir, twilio_api):
    clock = ManualClock(datetime(2026, 3, 3, 15, 0, tzinfo=timezone.utc))
    app = make_app(data_dir, twilio_env(twilio_api), clock=clock)
    app.start()
    original = ingest.ENDPOINTS[("twilio", "call-status")]

    def broken(uow, ctx, parsed, duplicate):
        raise RuntimeError("always broken")

    ingest.ENDPOINTS[("twilio", "call-status")] = ingest.Endpoint(
        original.provider, original.name, original.parse, original.key, broken, original.decode,
        original.deferred, original.ack)
    try:
        from tests.conftest import SignedClient

        client = SignedClient(app.ctx.listen_port, settle=app.settle)
        client.post("/twilio/call-status", status_params(
            call_sid(), "+12125550143", GENERAL_LINE, status="no-answer", duration=12))
        client.close()
        for _ in range(10):
            clock.advance(minutes=20)
            app.tick()
            app.settle()
        with app.ctx.db.read() as session:
            event = session.exec(select(models.InboundEvent)).one()
        assert event.outcome == "failed"
        assert event.attempts == ingest.MAX_ATTEMPTS
        assert ingest.next_retry(app.ctx) is None
    finally:
        ingest.ENDPOINTS[("twilio", "call-status")] = original
        app.stop()


def test_alarm_keeps_one_job_at_the_earliest_time():
    import threading
    from datetime import timedelta

    from desktop_app.core.clock import SystemClock
    from desktop_app.core.scheduler import Alarm
    from tests.helpers import wait_until

    fired = threading.Event()
    alarm = Alarm(fired.set, SystemClock())
    alarm.start()
    try:
        now = datetime.now(timezone.utc)
        for seconds in (30, 10, 20, 10):
            alarm.wake_at(now + timedelta(seconds=seconds))
        assert len(alarm.jobs()) == 2  # 30 s, then the earlier 10 s; 20 s and 10 s again add none
        assert alarm.next_wake == now + timedelta(seconds=10)
        alarm.wake_at(now + timedelta(milliseconds=50))
        assert fired.wait(5)
        assert alarm.next_wake is None
        wait_until(lambda: len(alarm.jobs()) == 2)  # the fired job is gone
    finally:
        alarm.stop()
