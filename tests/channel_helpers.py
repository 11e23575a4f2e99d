"""Set-up shared by the email and voicemail-drop tests: an app on a manual clock, a missed
call that plans the sequence, LO recordings, and look-ups of steps and timeline events."""

from __future__ import annotations

from datetime import datetime, timezone

import lameenc
from sqlmodel import select

from desktop_app.core import models, sequences
from desktop_app.core.clock import ManualClock
from tests.conftest import SignedClient, make_app, twilio_env
from tests.helpers import (SALES_LINE, add_team, call_sid, contact_by_phone, dial_params, status_params,
                           voice_params)

CALLER = "+12125550143"
# Monday 10:00 in New York: every step of the day falls inside the allowed hours.
START = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


def mp3_bytes(seconds: float = 1.0) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(16000)
    encoder.set_channels(1)
    encoder.set_quality(7)
    samples = int(16000 * seconds)
    return bytes(encoder.encode(b"\x00\x00" * samples) + encoder.flush())


class ChannelApp:
    """A started app on a manual clock with the Twilio stand-in and a signed client."""

    def __init__(self, data_dir, twilio_api, extra_env: dict | None = None, settings: dict | None = None):
        env = twilio_env(twilio_api)
        env.update(extra_env or {})
        self.clock = ManualClock(START)
        self.desk = make_app(data_dir, env, clock=self.clock)
        self.desk.start()
        self.ctx = self.desk.ctx
        if settings:
            self.ctx.settings.set_many(settings)
        twilio_api.callback_target = f"http://127.0.0.1:{self.ctx.listen_port}/twilio/message-status"
        self.client = SignedClient(self.ctx.listen_port, settle=self.desk.settle)
        self.app_base = f"http://127.0.0.1:{self.ctx.listen_port}"
        add_team(self.ctx)

    def close(self) -> None:
        self.client.close()
        self.desk.stop()

    # -- set-up -----------------------------------------------------------------------------

    def give_recordings(self) -> dict[str, bytes]:
        """An MP3 for every LO, saved under recordings/ in the data folder."""
        folder = self.ctx.data_dir / "recordings"
        folder.mkdir(exist_ok=True)
        audio = {}

        def attach(uow):
            for lo in uow.session.exec(select(models.LoanOfficer)):
                data = mp3_bytes()
                (folder / f"lo-{lo.id}.mp3").write_bytes(data)
                lo.recording_file = f"recordings/lo-{lo.id}.mp3"
                uow.add(lo)
                audio[lo.name] = data

        self.ctx.db.write(attach)
        return audio

    def miss(self, seconds: int = 45, caller: str = CALLER) -> models.Contact:
        """A missed call on the sales line; 45 s is hot, so the sequence includes the drop."""
        sid = call_sid()
        self.client.post("/twilio/voice", voice_params(sid, caller, SALES_LINE))
        self.client.post("/twilio/dial-action", dial_params(sid, caller, SALES_LINE))
        response = self.client.post("/twilio/call-status",
                                    status_params(sid, caller, SALES_LINE, duration=seconds))
        assert response.status_code == 204, response.text
        self.desk.outbox.wait_idle()
        return contact_by_phone(self.ctx, caller)

    def update_contact(self, contact_id: int, **fields) -> None:
        def change(uow):
            contact = uow.session.get(models.Contact, contact_id)
            for key, value in fields.items():
                setattr(contact, key, value)
            uow.add(contact)

        self.ctx.db.write(change)

    def run_after(self, minutes: float) -> int:
        """Move the clock on, run every step due by then, and wait for the sends to finish."""
        self.clock.advance(minutes=minutes)
        count = sequences.run_due(self.ctx)
        assert self.desk.outbox.wait_idle(), "the outbox did not finish"
        return count

    # -- look-ups ---------------------------------------------------------------------------

    def step(self, contact_id: int, name: str) -> models.Step:
        with self.ctx.db.read() as session:
            return session.exec(select(models.Step).where(models.Step.contact_id == contact_id)
                                .where(models.Step.name == name)).one()

    def timeline(self, contact_id: int, kind: str | None = None) -> list[str]:
        with self.ctx.db.read() as session:
            query = select(models.TimelineEvent).where(models.TimelineEvent.contact_id == contact_id)
            if kind:
                query = query.where(models.TimelineEvent.kind == kind)
            return [e.summary for e in session.exec(query.order_by(models.TimelineEvent.id))]

    def inbound_events(self, provider: str) -> list[models.InboundEvent]:
        with self.ctx.db.read() as session:
            return list(session.exec(select(models.InboundEvent)
                                     .where(models.InboundEvent.provider == provider)
                                     .order_by(models.InboundEvent.id)))

    def lo(self, name: str) -> models.LoanOfficer:
        with self.ctx.db.read() as session:
            return session.exec(select(models.LoanOfficer).where(models.LoanOfficer.name == name)).one()

