"""Realistic generated history for the Numbers window: calls, texts, tasks, replies, opt-outs.

The shape follows the brokerage playbook: missed calls cluster on Monday mornings, Saturday
afternoons, 8-9 a.m. and after 5 p.m.; past clients and referrals reply about twice as
often as cold inbound callers. Rows are inserted in bulk, so 100,000 contacts take seconds.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from desktop_app.core import models
from desktop_app.core.demo import hour_weight

# (lead source, share of callers, chance a texted caller replies)
SOURCES = (
    ("missed_call_inbound", 0.34, 0.20),
    ("google_ads", 0.20, 0.16),
    ("zillow", 0.18, 0.19),
    ("website", 0.10, 0.23),
    ("client_referral", 0.11, 0.40),
    ("past_client", 0.07, 0.44),
)
REPLIES = ("Yes, call me after 4", "Thanks! What's your rate on a 30-year fixed?",
           "Can you call tomorrow morning?", "I was calling about pre-approval",
           "Sure, I'm free now", "Do you do FHA loans?")


def _local_call_time(rng: random.Random, day_start: datetime, zone: ZoneInfo,
                     weights: list[float]) -> datetime:
    local_day = day_start.astimezone(zone)
    hour = rng.choices(range(24), weights=weights[local_day.weekday() * 24:
                                                  local_day.weekday() * 24 + 24])[0]
    local = local_day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return local.astimezone(timezone.utc)


def fill(db, contacts: int, now: datetime, time_zone: str = "America/New_York",
         days: int = 120, seed: int = 20260302) -> dict[str, int]:
    """Insert `contacts` callers with their calls and follow-up history; return row counts."""
    rng = random.Random(seed)
    zone = ZoneInfo(time_zone)
    weights = [hour_weight(day, hour) for day in range(7) for hour in range(24)]
    day_weights = [sum(weights[(now - timedelta(days=d)).astimezone(zone).weekday() * 24:][:24])
                   for d in range(days)]
    source_names = [s[0] for s in SOURCES]
    source_shares = [s[1] for s in SOURCES]
    reply_chance = {s[0]: s[2] for s in SOURCES}

    rows: dict[str, list[dict]] = {name: [] for name in
                                   ("contact", "call", "step", "message", "task", "opt_out")}
    call_id = step_id = 0
    for contact_id in range(1, contacts + 1):
        source = rng.choices(source_names, weights=source_shares)[0]
        day = rng.choices(range(days), weights=day_weights)[0]
        local_midnight = (now - timedelta(days=day)).astimezone(zone).replace(
            hour=0, minute=0, second=0, microsecond=0)
        started = _local_call_time(rng, local_midnight, zone, weights)
        if started > now:
            started = now - timedelta(minutes=rng.randrange(5, 600))
        phone = f"+1{rng.choice(('212', '312', '602', '646', '415', '305'))}555{contact_id % 10000:04d}"
        rows["contact"].append(dict(
            id=contact_id, phone=f"{phone}{contact_id // 10000}" if contacts > 9999 else phone,
            lead_source=source, status="open", created_at=started, updated_at=started))

        calls = [started]
        if rng.random() < 0.1:
            calls.append(started + timedelta(hours=rng.uniform(2, 72)))
        texted_at = None
        for number, call_start in enumerate(calls):
            if call_start > now:
                break
            call_id += 1
            seconds = rng.choices((rng.randint(0, 3), rng.randint(4, 20), rng.randint(21, 90)),
                                  weights=(0.15, 0.6, 0.25))[0]
            intent = "hot"
            if seconds <= 3:
                intent = "accidental"
            elif seconds <= 20:
                intent = "inquiry"
            rows["call"].append(dict(
                id=call_id, provider="twilio", call_id=f"CA{call_id:032x}", contact_id=contact_id,
                caller=phone, caller_raw=phone, dialed="+12125550100", direction="inbound",
                flow="dial", started_at=call_start, seconds=seconds, outcome="missed",
                intent=intent, lead_source=source, repeat_caller=number > 0,
                updated_at=call_start))
            if intent == "accidental" or number > 0:
                continue
            step_id += 1
            sent = call_start + timedelta(seconds=seconds + 20 + rng.lognormvariate(1.0, 0.6))
            failed = rng.random() < 0.03
            rows["step"].append(dict(
                id=step_id, contact_id=contact_id, call_id=call_id, sequence=intent, position=0,
                name="first_text", channel="sms", due_at=call_start, immediate=True,
                status="failed" if failed else "sent", sent_at=None if failed else sent,
                delivery_status="failed" if failed else "delivered", attempts=1,
                created_at=call_start, updated_at=sent))
            if not failed:
                texted_at = sent

        task_done = rng.random() < 0.6
        done_at = started + timedelta(minutes=rng.lognormvariate(4.2, 1.1))
        rows["task"].append(dict(
            contact_id=contact_id, call_id=None, type="call", title="Call back", due_at=started,
            status="done" if task_done and done_at < now else "open", created_at=started,
            completed_at=done_at if task_done and done_at < now else None))

        if texted_at is None:
            continue
        if rng.random() < 0.045:
            at = texted_at + timedelta(minutes=rng.lognormvariate(2.5, 1.2))
            if at < now:
                rows["message"].append(dict(contact_id=contact_id, direction="in", channel="sms",
                                            kind="reply", body="STOP", status="received",
                                            created_at=at, updated_at=at))
                rows["opt_out"].append(dict(phone=rows["contact"][-1]["phone"], channel="all",
                                            action="opt_out", source="keyword", text="STOP", at=at))
            continue
        if rng.random() < reply_chance[source]:
            at = texted_at + timedelta(minutes=rng.lognormvariate(2.8, 1.4))
            if at < now:
                rows["message"].append(dict(contact_id=contact_id, direction="in", channel="sms",
                                            kind="reply", body=rng.choice(REPLIES),
                                            status="received", created_at=at, updated_at=at))

    tables = {"contact": models.Contact, "call": models.Call, "step": models.Step,
              "message": models.Message, "task": models.Task, "opt_out": models.OptOutEntry}

    def insert(uow):
        for name, model in tables.items():
            batch = rows[name]
            for offset in range(0, len(batch), 20000):
                uow.session.execute(sa.insert(model), batch[offset:offset + 20000])

    db.write(insert)
    return {name: len(batch) for name, batch in rows.items()}
