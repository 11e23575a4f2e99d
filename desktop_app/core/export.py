"""Export every contact with its calls, tasks and steps, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.sequences import EXPORT_STATUS

CSV_COLUMNS = [
    "record", "phone", "name", "email", "lead_source", "intent", "status", "opted_out",
    "do_not_contact", "provider", "call_id", "dialed", "seconds", "at", "type", "due_at",
    "assignee", "priority", "channel", "step", "sent_at", "detail",
]


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


def build(ctx) -> list[dict]:
    """The export as plain data: a list of contacts, oldest first."""
    zone = ZoneInfo(ctx.settings.get("brokerage.time_zone"))
    result = []
    with ctx.db.read() as session:
        contacts = session.exec(select(models.Contact).order_by(models.Contact.id)).all()
        calls_by, tasks_by, steps_by = {}, {}, {}
        for call in session.exec(select(models.Call).order_by(models.Call.started_at, models.Call.id)):
            calls_by.setdefault(call.contact_id, []).append(call)
        for task in session.exec(select(models.Task).order_by(models.Task.due_at, models.Task.id)):
            tasks_by.setdefault(task.contact_id, []).append(task)
        for step in session.exec(select(models.Step).order_by(models.Step.due_at, models.Step.id)):
            steps_by.setdefault(step.contact_id, []).append(step)
        for contact in contacts:
            steps = []
            for step in steps_by.get(contact.id, []):
                detail = step.detail
                if step.status in EXPORT_STATUS:
                    detail = f"{step.status}" + (f": {detail}" if detail else "")
                steps.append({
                    "channel": step.channel, "name": step.name, "due_at": _iso(step.due_at, zone),
                    "status": EXPORT_STATUS.get(step.status, step.status),
                    "sent_at": _iso(step.sent_at, zone), "detail": detail,
                })
            result.append({
                "phone": contact.phone,
                "name": contact.name,
                "email": contact.email,
                "lead_source": contact.lead_source,
                "intent": contact.intent,
                "status": contact.status,
                "opted_out": contact.opted_out,
                "do_not_contact": contact.do_not_contact,
                "calls": [{"provider": c.provider, "call_id": c.call_id, "dialed": c.dialed,
                           "seconds": c.seconds, "at": _iso(c.started_at, zone)}
                          for c in calls_by.get(contact.id, [])],
                "tasks": [{"type": t.type, "due_at": _iso(t.due_at, zone), "assignee": t.assignee,
                           "priority": t.priority, "status": t.status}
                          for t in tasks_by.get(contact.id, [])],
                "steps": steps,
            })
    return result


def to_json(data: list[dict]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_csv(data: list[dict]) -> str:
    """One row per contact, call, task and step; `record` says which, `phone` links them."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for contact in data:
        base = {"phone": contact["phone"]}
        writer.writerow({**base, "record": "contact", "name": contact["name"],
                         "email": contact["email"], "lead_source": contact["lead_source"],
                         "intent": contact["intent"], "status": contact["status"],
                         "opted_out": contact["opted_out"], "do_not_contact": contact["do_not_contact"]})
        for call in contact["calls"]:
            writer.writerow({**base, "record": "call", **call})
        for task in contact["tasks"]:
            writer.writerow({**base, "record": "task", **task})
        for step in contact["steps"]:
            writer.writerow({**base, "record": "step", "channel": step["channel"], "step": step["name"],
                             "due_at": step["due_at"], "status": step["status"],
                             "sent_at": step["sent_at"], "detail": step["detail"]})
    return buffer.getvalue()
