"""A generated demo brokerage: LOs, routed numbers and months of missed calls with their follow-up.

Used to try the app before going live, for screenshots, and for the board benchmark. The
shape follows the brokerage playbook: calls cluster on Monday mornings, Saturday
afternoons, 8-9 a.m. and after 5 p.m.; past clients and referrals reply about twice as
often as cold inbound callers. Rows go in with bulk inserts, so 100,000 contacts take
seconds. Only fictional 555-01xx numbers are used.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from desktop_app.core import directory, models, phones
from desktop_app.core.routing import Thresholds, classify

FIRST_NAMES = ("James", "Maria", "Robert", "Linda", "Michael", "Patricia", "David", "Jennifer",
               "Daniel", "Elizabeth", "Jose", "Susan", "Kevin", "Jessica", "Brian", "Sarah",
               "Anthony", "Karen", "Jason", "Nancy", "Marcus", "Lisa", "Andre", "Betty",
               "Tyrone", "Sandra", "Wei", "Ashley", "Raj", "Kimberly", "Luis", "Emily", "Omar",
               "Donna", "Chen", "Michelle", "Ahmed", "Carol", "Diego", "Amanda")
LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
              "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
              "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
              "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
              "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Patel")
LOS = (("Dana Reyes", "+16465550111", False), ("Sam Okafor", "+16465550122", True),
       ("Priya Nair", "+16465550133", False), ("Tom Becker", "+16465550144", True))
# (number dialed, LO, lead source, label)
ROUTES = (("+12125550100", "Dana Reyes", "zillow", "Zillow line"),
          ("+12125550101", "Priya Nair", "google_ads", "Google Ads line"),
          ("+12125550102", "Sam Okafor", "client_referral", "Referral line"),
          ("+12125550103", None, "website", "Website line"),
          ("+12125550104", None, "missed_call_inbound", "Main office"))
AREA_CODES = ("212", "646", "718", "917", "312", "773", "303", "602", "213", "415", "305", "808")
REPLIES = ("Yes, call me after 4", "Thanks! What's your rate on a 30-year fixed?",
           "Can you call tomorrow morning?", "I was calling about pre-approval",
           "Sure, I'm free now", "Do you do FHA loans?", "We're under contract, need a lender fast")
FIRST_TEXT = ("Hi {first}, you just called Harbor Point Mortgage. We missed you - reply here or "
              "call back at (212) 555-0100. We're standing by to help with your {purpose} "
              "question. Reply STOP to opt out.")
SOURCE_REPLY = {"missed_call_inbound": 0.20, "google_ads": 0.16, "zillow": 0.19, "website": 0.23,
                "client_referral": 0.40, "past_client": 0.44}


@dataclass
class DemoSummary:
    contacts: int
    calls: int
    steps: int
    messages: int

    def __str__(self) -> str:
        return (f"{self.contacts:,} contacts, {self.calls:,} calls, {self.steps:,} steps, "
                f"{self.messages:,} messages")


def hour_weight(weekday: int, hour: int) -> float:
    """Relative number of missed calls in a local hour, by the playbook's busy times."""
    weight = 0.15 if hour < 7 or hour >= 22 else 1.0
    if weekday < 5:
        if 8 <= hour < 9:
            weight = 4.0
        elif 17 <= hour < 20:
            weight = 3.2
        elif 9 <= hour < 17:
            weight = 1.6
        if weekday == 0 and 8 <= hour < 12:
            weight *= 2.2
    elif weekday == 5:
        if 12 <= hour < 17:
            weight = 3.0
        elif 9 <= hour < 20:
            weight = 1.0
    else:
        weight = 0.8 if 10 <= hour < 18 else weight
    return weight


class DemoError(RuntimeError):
    """The demo cannot be written here (the store already has contacts)."""


def fictional_numbers(rng: random.Random):
    """Endless distinct fictional numbers: 555-0100 to 555-0199 in many area codes."""
    areas = list(AREA_CODES) + ["201", "202", "206", "210", "214", "216", "248", "267", "281",
                                "310", "317", "347", "404", "469", "480", "503", "512", "516",
                                "617", "619", "630", "702", "704", "713", "720", "732", "763",
                                "813", "832", "847", "858", "904", "909", "916", "949", "972"]
    seen: set[str] = set()
    while len(seen) < len(areas) * 100:
        number = f"+1{rng.choice(areas)}5550{rng.randrange(100, 200)}"
        if number not in seen and phones.try_normalize(number):
            seen.add(number)
            yield number
    raise DemoError("ran out of fictional numbers; ask for fewer contacts")


def fill(ctx, contacts: int = 300, now: datetime | None = None, days: int = 45,
         seed: int = 20260302, numbers=None) -> DemoSummary:
    """Write a demo brokerage into an empty store.

    `numbers` is an iterator of caller numbers; by default fictional 555-01xx numbers,
    which no real phone has (about 4,800 of them, enough for any demo).
    """
    with ctx.db.read() as session:
        if session.exec(select(models.Contact.id)).first() is not None:
            raise DemoError("the database already has contacts; use an empty --data-dir for the demo")
    rng = random.Random(seed)
    numbers = numbers or fictional_numbers(rng)
    now = now or ctx.clock.now()
    zone = ZoneInfo(ctx.settings.get("brokerage.time_zone"))
    ctx.settings.set_many({"brokerage.name": "Harbor Point Mortgage"})

    def team(uow):
        for name, phone, senior in LOS:
            email = f"{name.split()[0].lower()}@harborpoint.example"
            directory.save_lo(uow, directory.LoanOfficerInput(name, phone=phone, senior=senior,
                                                              email=email))
        for dialed, lo, source, label in ROUTES:
            directory.save_route(uow, directory.RouteInput(dialed, lo_name=lo, lead_source=source,
                                                           label=label))

    ctx.db.write(team)
    with ctx.db.read() as session:
        lo_ids = {lo.name: lo.id for lo in session.exec(select(models.LoanOfficer))}
    builder = _Builder(rng, now, zone, lo_ids)
    for contact_id in range(1, contacts + 1):
        builder.contact(contact_id, next(numbers), days)

    tables = {"contact": models.Contact, "call": models.Call, "step": models.Step,
              "message": models.Message, "task": models.Task,
              "timeline_event": models.TimelineEvent, "opt_out_entry": models.OptOutEntry}

    def insert(uow):
        for name, model in tables.items():
            batch = builder.rows[name]
            for start in range(0, len(batch), 20000):
                uow.session.execute(sa.insert(model), batch[start:start + 20000])

    ctx.db.write(insert)
    rows = builder.rows
    return DemoSummary(len(rows["contact"]), len(rows["call"]), len(rows["step"]),
                       len(rows["message"]))


class _Builder:
    """Builds the rows of one demo contact at a time; inserted in bulk at the end."""

    def __init__(self, rng: random.Random, now: datetime, zone: ZoneInfo, lo_ids: dict):
        self.rng = rng
        self.now = now
        self.zone = zone
        self.lo_ids = lo_ids
        self.weights = [hour_weight(d, h) for d in range(7) for h in range(24)]
        self.thresholds = Thresholds()
        self.rows: dict[str, list[dict]] = {k: [] for k in (
            "contact", "call", "step", "message", "task", "timeline_event", "opt_out_entry")}
        self.call_id = self.step_id = self.message_id = 0

    def _call_time(self, days: int) -> datetime:
        rng = self.rng
        # Recent days get more calls, so the top of the board looks like a working week.
        day = min(int(rng.expovariate(3 / days)), days - 1)
        local_day = (self.now - timedelta(days=day)).astimezone(self.zone)
        hour = rng.choices(range(24), weights=self.weights[local_day.weekday() * 24:][:24])[0]
        started = local_day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60),
                                    microsecond=0).astimezone(timezone.utc)
        return started if started <= self.now else self.now - timedelta(minutes=rng.randrange(3, 240))

    def _message(self, **fields) -> int:
        self.message_id += 1
        self.rows["message"].append(dict(id=self.message_id, provider="twilio",
                                         provider_id="SM" + secrets.token_hex(16), **fields))
        return self.message_id

    def contact(self, contact_id: int, phone: str, days: int) -> None:
        rng, now = self.rng, self.now
        started = self._call_time(days)
        route = rng.choices(ROUTES, weights=(0.22, 0.2, 0.12, 0.14, 0.32))[0]
        source = "past_client" if rng.random() < 0.06 else route[2]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        named = rng.random() < 0.55
        seconds = rng.choices((rng.randint(0, 3), rng.randint(4, 20), rng.randint(21, 95)),
                              weights=(0.14, 0.58, 0.28))[0]
        intent = classify(seconds, self.thresholds, source)
        lo_name = route[1] or rng.choice([name for name, _phone, _senior in LOS])
        if intent == "hot":
            lo_name = rng.choice([name for name, _phone, senior in LOS if senior])
        purpose = rng.choice(("purchase", "refi", None))
        first_text_at = started + timedelta(seconds=seconds + 2) if intent != "accidental" else None

        # What ends the automation, and when: decided first so the steps agree with it.
        status, halt, halt_at, reply = "open", None, None, None
        roll = rng.random()
        if first_text_at is not None and roll < 0.04:
            halt_at = first_text_at + timedelta(minutes=rng.lognormvariate(2.0, 1.0))
            status, halt, reply = "opted_out", "opted out (keyword)", "STOP"
        elif first_text_at is not None and roll < 0.04 + SOURCE_REPLY.get(source, 0.2):
            halt_at = first_text_at + timedelta(minutes=rng.lognormvariate(2.6, 1.3))
            status, halt, reply = "replied", "the borrower replied", rng.choice(REPLIES)
        elif rng.random() < 0.35:
            halt_at = started + timedelta(minutes=rng.lognormvariate(4.5, 1.0))
            status, halt = "contacted", "marked contacted by the coordinator"
        if halt_at is not None and halt_at > now:
            status, halt, halt_at, reply = "open", None, None, None

        self.call_id += 1
        call_id = self.call_id
        self.rows["call"].append(dict(
            id=call_id, provider="twilio", call_id="CA" + secrets.token_hex(16),
            contact_id=contact_id, caller=phone, caller_raw=phone, dialed=route[0],
            direction="inbound", flow="dial", started_at=started,
            ended_at=started + timedelta(seconds=seconds), seconds=seconds,
            call_status="completed", dial_status="no-answer", outcome="missed", intent=intent,
            lead_source=source, lo_id=self.lo_ids[lo_name], lo_name=lo_name, repeat_caller=False,
            decided_at=started + timedelta(seconds=seconds + 1), updated_at=started))
        events = [(started, "call", f"Missed call to {phones.format_national(route[0])}, "
                                    f"{seconds} s on the line ({intent}); assigned to {lo_name}")]
        greeting = first if named else "there"
        for position, (name, channel, offset) in enumerate(_plan(intent)):
            self.step_id += 1
            due = started + timedelta(minutes=offset)
            step = dict(id=self.step_id, contact_id=contact_id, call_id=call_id, sequence=intent,
                        position=position, name=name, channel=channel, template=name, due_at=due,
                        planned_at=due, immediate=offset == 0, status="scheduled", attempts=0,
                        created_at=started, updated_at=started)
            if halt_at is not None and due > halt_at:
                step.update(status="cancelled", detail=halt)
            elif due <= now and channel == "sms":
                sent = due + timedelta(seconds=seconds + 2 if offset == 0 else 1)
                body = FIRST_TEXT.format(first=greeting, purpose=purpose or "mortgage") \
                    if name == "first_text" else \
                    f"Hi {greeting}, it's {lo_name} from Harbor Point Mortgage. Still happy to help!"
                message_id = self._message(
                    contact_id=contact_id, step_id=self.step_id, direction="out", channel="sms",
                    kind="automated", from_number=route[0], to_number=phone, body=body,
                    status="delivered", created_at=sent, updated_at=sent)
                step.update(status="sent", sent_at=sent, attempts=1, provider="twilio",
                            provider_id=self.rows["message"][-1]["provider_id"],
                            delivery_status="delivered")
                events.append((sent, "text_out", f"Text sent: \u201c{body[:58]}\u2026\u201d"))
                _ = message_id
            elif due <= now and channel == "voicemail":
                step.update(status="skipped", detail="no voicemail-drop consent on file; "
                                                     "ringless voicemail needs consent")
            elif due <= now:
                if named and rng.random() < 0.5:
                    step.update(status="sent", sent_at=due, attempts=1, provider="smtp")
                    events.append((due, "email", "Email sent: Your mortgage question"))
                else:
                    step.update(status="skipped", detail="no email address known for the borrower")
            self.rows["step"].append(step)

        if reply is not None:
            self._message(contact_id=contact_id, direction="in", channel="sms", kind="reply",
                          from_number=phone, to_number=route[0], body=reply, status="received",
                          created_at=halt_at, updated_at=halt_at)
            events.append((halt_at, "text_in", f"Text received: \u201c{reply}\u201d"))
        if status == "opted_out":
            self.rows["opt_out_entry"].append(dict(phone=phone, channel="all", action="opt_out",
                                                   source="keyword", text="STOP", at=halt_at))
        if halt is not None:
            events.append((halt_at, "halt", f"Automation halted: {halt}"))

        task_done = status in ("contacted", "replied") and rng.random() < 0.8
        self.rows["task"].append(dict(
            contact_id=contact_id, call_id=call_id, type="call",
            title=f"Call back {first + ' ' + last if named else phones.format_national(phone)}",
            body=f"Missed call, {seconds} s on the line ({intent}).",
            due_at=started + timedelta(minutes=60), assignee=lo_name, lo_id=self.lo_ids[lo_name],
            priority="low" if intent == "accidental" else "high",
            status="done" if task_done else "open", created_at=started,
            completed_at=halt_at if task_done else None))
        self.rows["contact"].append(dict(
            id=contact_id, phone=phone, first_name=first if named else None,
            last_name=last if named else None,
            email=f"{first.lower()}.{last.lower()}@example.com" if named and rng.random() < 0.5 else None,
            lead_source=source, loan_purpose=purpose, intent=intent, status=status,
            halt_reason=halt, halted_at=halt_at, paused=False, opted_out=status == "opted_out",
            opted_out_at=halt_at if status == "opted_out" else None, do_not_contact=False,
            notes="", lo_id=self.lo_ids[lo_name], lo_name=lo_name, hubspot_sync="",
            last_call_at=started, created_at=started, updated_at=started))
        for at, kind, summary in events:
            self.rows["timeline_event"].append(dict(contact_id=contact_id, at=at, kind=kind,
                                                    summary=summary, call_id=call_id))


def _plan(intent: str) -> list[tuple[str, str, int]]:
    if intent == "accidental":
        return [("email_4h", "email", 240)]
    return [("first_text", "sms", 0), ("voicemail_drop", "voicemail", 60), ("email_4h", "email", 240),
            ("sms_24h", "sms", 1440), ("nurture_3d", "sms", 4320), ("nurture_7d", "email", 10080)]
