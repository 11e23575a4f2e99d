"""The follow-up sequence driven by a hand-moved clock: plans, restarts, quiet hours, DST, caps, halts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from desktop_app.core import contacts, models
from desktop_app.core.clock import ManualClock
from desktop_app.core.quiet_hours import QuietHours, add_offset
from tests.conftest import SignedClient, make_app, twilio_env
from tests.helpers import (GENERAL_LINE, call_sid, contact_by_phone, message_sid, sms_params,
                           status_params, steps_for)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
CALLER = "+12125550143"
TWO_TEXTS = {"inquiry": [
    {"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0},
    {"name": "sms_24h", "channel": "sms", "template": "sms_24h", "offset_minutes": 1440},
], "hot": [], "accidental": []}


class Desk:
    """A running app on a hand-moved clock, with a signed client; restartable."""

    def __init__(self, data_dir, twilio_api, start: datetime):
        self.data_dir = data_dir
        self.twilio_api = twilio_api
        self.clock = ManualClock(start)
        self.app = None
        self.client = None
        self.start()

    def start(self):
        self.app = make_app(self.data_dir, twilio_env(self.twilio_api), clock=self.clock)
        self.app.start()
        self.app.outbox.wait_idle()
        self.client = SignedClient(self.app.ctx.listen_port, settle=self.app.settle)
        return self

    def stop(self):
        self.client.close()
        self.app.stop()

    @property
    def ctx(self):
        return self.app.ctx

    def miss(self, caller=CALLER, seconds=12, dialed=GENERAL_LINE):
        response = self.client.post("/twilio/call-status", status_params(
            call_sid(), caller, dialed, status="no-answer", duration=seconds))
        assert response.status_code == 204
        self.app.outbox.wait_idle()

    def advance(self, **delta):
        self.clock.advance(**delta)
        self.app.tick()
        self.app.outbox.wait_idle()

    def texts_to(self, number=CALLER) -> list[str]:
        return [m["body"] for m in self.twilio_api.sent() if m["to"] == number]

    def steps(self, caller=CALLER) -> dict[str, models.Step]:
        contact = contact_by_phone(self.ctx, caller)
        return {s.name: s for s in steps_for(self.ctx, contact.id)}


@pytest.fixture
def desk(data_dir, twilio_api):
    # Tuesday 3 March 2026, 10:00 in New York.
    d = Desk(data_dir, twilio_api, datetime(2026, 3, 3, 15, 0, tzinfo=UTC))
    yield d
    d.stop()


def test_plan_follows_the_default_sequence(desk):
    desk.miss()
    steps = desk.steps()
    call_time = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    assert list(steps) == ["first_text", "voicemail_drop", "email_4h", "sms_24h", "nurture_3d",
                           "nurture_7d"]
    assert steps["first_text"].status == "sent"
    assert steps["voicemail_drop"].due_at == call_time + timedelta(hours=1)
    assert steps["email_4h"].due_at == call_time + timedelta(hours=4)
    assert steps["sms_24h"].due_at == call_time + timedelta(hours=24)
    assert steps["nurture_3d"].due_at == call_time + timedelta(days=3)
    # Whole days keep the local hour: New York moves to daylight time on 8 March.
    seventh = steps["nurture_7d"].due_at.astimezone(NY)
    assert (seventh.day, seventh.hour) == (10, 10)
    assert all(s.status == "scheduled" for n, s in steps.items() if n != "first_text")


def test_channels_without_provider_are_skipped_with_reason(desk):
    desk.miss()
    contact = contact_by_phone(desk.ctx, CALLER)
    desk.ctx.db.write(contacts.set_consent, contact.id, "voicemail", True, "signed form",
                      desk.clock.now())
    desk.ctx.db.write(contacts.update_details, contact.id, desk.clock.now(),
                      email="borrower@example.test")
    desk.advance(hours=4)
    steps = desk.steps()
    for name in ("voicemail_drop", "email_4h"):
        assert steps[name].status in ("skipped", "sent"), name
        assert steps[name].detail, name


def test_voicemail_drop_needs_consent(desk):
    desk.miss()
    desk.advance(hours=1)
    step = desk.steps()["voicemail_drop"]
    assert step.status == "skipped"
    assert "consent" in step.detail


def test_email_without_address_is_skipped(desk):
    desk.miss()
    desk.advance(hours=4)
    step = desk.steps()["email_4h"]
    assert step.status == "skipped"
    assert "no email address" in step.detail


def test_day_after_text_goes_out_once(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    for _ in range(8):
        desk.advance(hours=4)
    assert len(desk.texts_to()) == 2
    assert "Still happy to help" in desk.texts_to()[1]


def test_restart_within_catch_up_runs_once(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    desk.stop()
    desk.clock.advance(hours=24, minutes=30)
    desk.start()
    assert len(desk.texts_to()) == 2
    assert desk.steps()["sms_24h"].status == "sent"
    desk.stop()
    desk.start()
    assert len(desk.texts_to()) == 2


def test_restart_after_catch_up_skips_with_reason(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    desk.stop()
    desk.clock.advance(hours=27)
    desk.start()
    step = desk.steps()["sms_24h"]
    assert step.status == "skipped"
    assert "180 min late" in step.detail
    assert "catch-up window is 120 min" in step.detail
    assert len(desk.texts_to()) == 1


def test_restart_in_quiet_hours_skips(desk):
    steps = {"inquiry": [
        {"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0},
        {"name": "sms_24h", "channel": "sms", "template": "sms_24h", "offset_minutes": 630},
    ], "hot": [], "accidental": []}
    desk.ctx.settings.set("sequence.steps", steps)
    desk.miss()  # 10:00 in New York, so the step is due at 20:30 local
    step = desk.steps()["sms_24h"]
    assert step.due_at.astimezone(NY).hour == 20
    desk.stop()
    desk.clock.set(step.due_at + timedelta(minutes=40))  # 21:10: late, but within catch-up
    desk.start()
    skipped = desk.steps()["sms_24h"]
    assert skipped.status == "skipped"
    assert "quiet hours" in skipped.detail
    assert len(desk.texts_to()) == 1


def test_step_moved_out_of_quiet_hours_runs_after_restart(desk):
    steps = {"inquiry": [
        {"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0},
        {"name": "sms_24h", "channel": "sms", "template": "sms_24h", "offset_minutes": 660},
    ], "hot": [], "accidental": []}
    desk.ctx.settings.set("sequence.steps", steps)
    desk.miss()  # due 21:00 local, which is quiet, so it moves to 08:00 the next day
    step = desk.steps()["sms_24h"]
    assert step.due_at.astimezone(NY).hour == 8
    desk.stop()
    desk.clock.set(step.due_at + timedelta(minutes=30))
    desk.start()
    assert desk.steps()["sms_24h"].status == "sent"
    assert len(desk.texts_to()) == 2


def test_step_in_flight_at_crash_needs_review(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    step = desk.steps()["sms_24h"]

    def mark_sending(uow):
        row = uow.session.get(models.Step, step.id)
        row.status = "sending"
        uow.add(row)
        uow.add(models.Message(contact_id=row.contact_id, step_id=row.id, direction="out",
                               channel="sms", provider="twilio", from_number=GENERAL_LINE,
                               to_number=CALLER, body="x", status="sending",
                               created_at=desk.clock.now(), updated_at=desk.clock.now()))

    desk.ctx.db.write(mark_sending)  # what a kill -9 mid-request leaves behind
    desk.stop()
    desk.clock.advance(hours=25)
    desk.start()
    reviewed = desk.steps()["sms_24h"]
    assert reviewed.status == "needs_review"
    assert "check the provider's log" in reviewed.detail
    assert len(desk.texts_to()) == 1


def test_startup_creates_no_duplicate_jobs_and_keeps_due_times(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    before = {s.id: s.due_at for s in desk.steps().values()}
    desk.stop()
    desk.start()
    desk.stop()
    desk.start()
    after = {s.id: s.due_at for s in desk.steps().values()}
    assert after == before
    assert len(steps_for(desk.ctx, contact_by_phone(desk.ctx, CALLER).id)) == 2


ZONES = [
    ("+12125550143", "America/New_York"),
    ("+13125550143", "America/Chicago"),
    ("+13035550143", "America/Denver"),
    ("+16025550143", "America/Phoenix"),
    ("+12135550143", "America/Los_Angeles"),
    ("+18085550143", "Pacific/Honolulu"),
]


@pytest.mark.parametrize("caller, zone_name", ZONES)
def test_quiet_hours_move_first_text_to_8am_local(data_dir, twilio_api, caller, zone_name):
    zone = ZoneInfo(zone_name)
    call_local = datetime(2026, 7, 14, 22, 30, tzinfo=zone)
    d = Desk(data_dir, twilio_api, call_local.astimezone(UTC))
    try:
        d.ctx.settings.set("quiet_hours.first_reply_immediate", False)
        d.miss(caller=caller)
        first = d.steps(caller)["first_text"]
        local_due = first.due_at.astimezone(zone)
        assert first.status == "scheduled"
        assert (local_due.date(), local_due.hour, local_due.minute) == (datetime(2026, 7, 15).date(), 8, 0)
        assert d.texts_to(caller) == []
        d.clock.set(first.due_at)
        d.app.tick()
        d.app.outbox.wait_idle()
        assert len(d.texts_to(caller)) == 1
    finally:
        d.stop()


@pytest.mark.parametrize("caller, zone_name", ZONES)
def test_first_reply_may_go_out_in_quiet_hours(data_dir, twilio_api, caller, zone_name):
    call_local = datetime(2026, 7, 14, 22, 30, tzinfo=ZoneInfo(zone_name))
    d = Desk(data_dir, twilio_api, call_local.astimezone(UTC))
    try:
        d.miss(caller=caller)
        assert len(d.texts_to(caller)) == 1
        later = d.steps(caller)["voicemail_drop"]
        assert later.due_at.astimezone(ZoneInfo(zone_name)).hour == 8
    finally:
        d.stop()


def test_state_window_narrows_quiet_hours():
    quiet = QuietHours(state_windows=(("FL", datetime.strptime("09:00", "%H:%M").time(),
                                       datetime.strptime("20:00", "%H:%M").time()),))
    eight_thirty_miami = datetime(2026, 7, 14, 8, 30, tzinfo=NY)
    assert not quiet.allowed(eight_thirty_miami, "+13055550143")
    assert quiet.allowed(eight_thirty_miami, "+12125550143")
    moved = quiet.next_allowed(eight_thirty_miami, "+13055550143")
    assert moved.astimezone(NY).hour == 9


@pytest.mark.parametrize("call_local, expected_local", [
    (datetime(2026, 3, 7, 10, 0), datetime(2026, 3, 8, 10, 0)),   # spring forward in LA
    (datetime(2026, 10, 31, 10, 0), datetime(2026, 11, 1, 10, 0)),  # fall back in LA
])
def test_dst_day_neither_skips_nor_doubles(data_dir, twilio_api, call_local, expected_local):
    caller = "+12135550143"
    d = Desk(data_dir, twilio_api, call_local.replace(tzinfo=LA).astimezone(UTC))
    try:
        d.ctx.settings.set("sequence.steps", TWO_TEXTS)
        d.miss(caller=caller)
        due = d.steps(caller)["sms_24h"].due_at.astimezone(LA)
        assert due.replace(tzinfo=None) == expected_local
        for _ in range(6 * 48):  # every 10 minutes for two days, across the change
            d.advance(minutes=10)
        assert len(d.texts_to(caller)) == 2
        assert d.steps(caller)["sms_24h"].status == "sent"
    finally:
        d.stop()


def test_nonexistent_local_time_moves_forward():
    start = datetime(2026, 3, 7, 2, 30, tzinfo=LA)
    due = add_offset(start, 1440, LA).astimezone(LA)
    assert (due.month, due.day, due.hour, due.minute) == (3, 8, 3, 30)


def test_repeated_local_time_maps_to_one_instant():
    start = datetime(2026, 10, 31, 1, 30, tzinfo=LA)
    due = add_offset(start, 1440, LA)
    assert due == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # the first 01:30, still PDT


def test_caps_defer_extra_texts(desk):
    steps = [{"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0}]
    steps += [{"name": f"extra_{m}", "channel": "sms", "template": "sms_24h", "offset_minutes": m}
              for m in (20, 40, 60, 80)]
    desk.ctx.settings.set("sequence.steps", {"inquiry": steps, "hot": [], "accidental": []})
    desk.miss()
    desk.advance(minutes=20)
    assert len(desk.texts_to()) == 1
    extra = desk.steps()["extra_20"]
    assert extra.status == "scheduled"
    assert "per hour" in extra.detail
    for _ in range(12):
        desk.advance(minutes=20)  # up to four hours after the call
    assert len(desk.texts_to()) == 3  # the 24-hour cap of three
    capped = [s for s in desk.steps().values() if s.status == "scheduled"]
    assert capped and all("24 hours" in s.detail for s in capped)
    sent_times = sorted(m.created_at for m in _sent_messages(desk))
    assert all(b - a >= timedelta(hours=1) for a, b in zip(sent_times, sent_times[1:]))


def _sent_messages(desk):
    with desk.ctx.db.read() as session:
        return session.exec(select(models.Message).where(models.Message.direction == "out")).all()


def test_reply_halts_every_pending_step(desk):
    desk.miss()
    desk.client.post("/twilio/sms", sms_params(message_sid(), CALLER, GENERAL_LINE, body="Thanks!"))
    steps = desk.steps()
    pending = [s for s in steps.values() if s.name != "first_text"]
    assert all(s.status == "cancelled" for s in pending)
    assert all(s.detail == "the borrower replied" for s in pending)
    desk.advance(days=8)
    assert len(desk.texts_to()) == 1


def test_answered_call_back_halts(desk):
    desk.miss()
    sid = call_sid()
    desk.client.post("/twilio/call-status", status_params(sid, CALLER, GENERAL_LINE,
                                                          status="completed", duration=240))
    contact = contact_by_phone(desk.ctx, CALLER)
    assert contact.status == "contacted"
    assert all(s.status == "cancelled" for n, s in desk.steps().items() if n != "first_text")


def test_do_not_contact_flag_halts(desk):
    desk.miss()
    contact = contact_by_phone(desk.ctx, CALLER)
    desk.ctx.db.write(contacts.set_do_not_contact, contact.id, True, desk.clock.now(), "asked by phone")
    assert all(s.status == "cancelled" for n, s in desk.steps().items() if n != "first_text")
    desk.miss(seconds=30)
    assert len(desk.texts_to()) == 1


def test_pause_halts_and_resume_replans_from_now(desk):
    desk.ctx.settings.set("sequence.steps", TWO_TEXTS)
    desk.miss()
    contact = contact_by_phone(desk.ctx, CALLER)
    desk.ctx.db.write(contacts.pause, contact.id, desk.clock.now())
    assert desk.steps()["sms_24h"].status == "cancelled"
    desk.advance(hours=30)
    assert len(desk.texts_to()) == 1
    desk.ctx.db.write(contacts.resume, desk.ctx, contact.id, desk.clock.now())
    names = [(s.name, s.status) for s in steps_for(desk.ctx, contact.id)]
    assert names.count(("first_text", "sent")) == 1
    assert ("first_text", "skipped") in names
    desk.advance(hours=24)
    assert len(desk.texts_to()) == 2


def test_opted_out_contact_cannot_be_resumed(desk):
    desk.miss()
    desk.client.post("/twilio/sms", sms_params(message_sid(), CALLER, GENERAL_LINE, body="STOP"))
    contact = contact_by_phone(desk.ctx, CALLER)
    with pytest.raises(contacts.ContactError, match="opted out"):
        desk.ctx.db.write(contacts.resume, desk.ctx, contact.id, desk.clock.now())


def test_export_shows_status_and_reason(desk):
    from desktop_app.core import export

    desk.miss()
    desk.advance(hours=1)
    data = export.build(desk.ctx)
    steps = {s["name"]: s for s in data[0]["steps"]}
    assert steps["first_text"]["status"] == "sent"
    assert steps["first_text"]["sent_at"] is not None
    assert steps["voicemail_drop"]["status"] == "skipped"
    assert "consent" in steps["voicemail_drop"]["detail"]
    assert steps["sms_24h"]["status"] == "scheduled"


def test_after_hours_call_gets_the_after_hours_text(data_dir, twilio_api):
    # Saturday 7 March 2026, 11:00 in New York: the default hours are Monday to Friday.
    d = Desk(data_dir, twilio_api, datetime(2026, 3, 7, 16, 0, tzinfo=UTC))
    try:
        d.miss()
        [text] = d.texts_to()
        assert "Our office is closed right now and opens Monday at 8:30 AM" in text
    finally:
        d.stop()


def test_office_hours_call_gets_the_first_text(desk):
    desk.miss()  # Tuesday 10:00 in New York
    [text] = desk.texts_to()
    assert "you just called Harbor Point Mortgage" in text
