"""The HubSpot sync worker: its queue table, the phone-to-contact map and the steps of one sync."""

from __future__ import annotations

import html
import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlmodel import Field, SQLModel, select

from desktop_app.core import models, phones
from desktop_app.core.context import Context
from desktop_app.core.db import StorageError
from desktop_app.core.events import ContactChanged, TaskChanged
from desktop_app.core.hubspot_api import HubSpotClient, HubSpotError, Stopped, Timing
from desktop_app.core.messaging import open_task
from desktop_app.core.models import UTCDateTime
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

TOKEN = "hubspot.token"
PRIORITIES = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
# A worker with nothing due still looks again this often, so a token added in Settings is used.
IDLE_POLL_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 5.0
# How long a new sync request waits for the outbox to send the first text before it goes ahead.
OUTBOX_WAIT_SECONDS = 2.0


class HubSpotContactLink(SQLModel, table=True):
    """Map from a phone number to its HubSpot contact.

    Keyed by phone, so a contact that is deleted locally and calls again is not created a
    second time in HubSpot while HubSpot's search index lags behind the first create.
    """

    __tablename__ = "hubspot_contact_link"

    phone: str = Field(primary_key=True)  # E.164
    hubspot_id: str
    source: str = "found"  # found, created, email
    linked_at: datetime = Field(sa_type=UTCDateTime)


class HubSpotSyncJob(SQLModel, table=True):
    """One contact's pending or failed sync. The table is the worker's queue across restarts.

    contact_id has no foreign key, so the sync never blocks deleting a contact. The worker
    drops jobs whose contact is gone.
    """

    __tablename__ = "hubspot_sync_job"

    contact_id: int = Field(primary_key=True)
    call_id: Optional[int] = None  # the latest missed call
    status: str = Field(default="pending", index=True)  # pending, failed, done
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    generation: int = 0  # bumped by each missed call, so a sync never overwrites a newer request
    lead_status_done: bool = False
    # Set just before a task create is sent and cleared when its id is stored: if it is still
    # set, the create may have gone through, so the next try looks for the task first.
    task_create_in_flight: bool = False
    last_error: Optional[str] = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class Backoff:
    """Delays between sync attempts for one contact: doubling from `base`, at most `cap` seconds."""

    base: float = 30.0
    cap: float = 3600.0

    def delay(self, attempt: int, floor: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        delay = random.uniform(ceiling * 0.8, ceiling)
        return max(delay, min(floor or 0.0, self.cap))


@dataclass
class TaskFacts:
    id: int
    title: str
    body: str
    due_at: datetime
    priority: str
    status: str
    assignee: str
    hubspot_task_id: str | None
    owner_id: str | None


@dataclass
class ContactFacts:
    """Local data one sync needs, read once at its start."""

    contact_id: int
    phone: str
    first_name: str | None
    last_name: str | None
    email: str | None
    lead_source: str
    hubspot_id: str | None
    linked_id: str | None
    task: TaskFacts | None
    generation: int
    lead_status_done: bool
    task_create_in_flight: bool
    attempts: int


@dataclass
class Outcome:
    hubspot_id: str | None = None
    how: str = ""
    task_id: str | None = None
    repaired: bool = False
    problems: list[str] = field(default_factory=list)  # the sync failed and is retried
    notes: list[str] = field(default_factory=list)  # it worked, with something to fix in HubSpot


# -- storage steps (each runs in the writer thread) ----------------------------------------------

def _mark_pending(uow, now: datetime, contact_id: int, call_id: int) -> bool:
    contact = uow.session.get(models.Contact, contact_id)
    if contact is None:
        return False
    job = uow.session.get(HubSpotSyncJob, contact_id)
    if job is None:
        job = HubSpotSyncJob(contact_id=contact_id, next_attempt_at=now, created_at=now,
                             updated_at=now)
    job.call_id = call_id
    job.status = "pending"
    job.attempts = 0
    job.next_attempt_at = now
    job.generation += 1
    job.lead_status_done = False
    job.updated_at = now
    uow.add(job)
    contact.hubspot_sync = "pending"
    contact.hubspot_error = None
    uow.add(contact)
    uow.emit(ContactChanged(contact_id))
    return True


def _resume_open_jobs(uow, now: datetime) -> int:
    """At start, make every pending or failed sync due now."""
    jobs = uow.session.exec(select(HubSpotSyncJob)
                            .where(HubSpotSyncJob.status.in_(("pending", "failed")))).all()
    for job in jobs:
        job.next_attempt_at = now
        uow.add(job)
    return len(jobs)


def _read_facts(session, contact_id: int) -> ContactFacts | None:
    contact = session.get(models.Contact, contact_id)
    job = session.get(HubSpotSyncJob, contact_id)
    if contact is None or job is None:
        return None
    task = open_task(session, contact_id)
    if task is None and job.call_id is not None:
        task = session.exec(select(models.Task).where(models.Task.contact_id == contact_id)
                            .where(models.Task.call_id == job.call_id)).first()
    task_facts = None
    if task is not None:
        lo = session.get(models.LoanOfficer, task.lo_id) if task.lo_id else None
        task_facts = TaskFacts(task.id, task.title, task.body, task.due_at, task.priority,
                               task.status, task.assignee, task.hubspot_task_id,
                               (lo.hubspot_owner_id or None) if lo else None)
    link = session.get(HubSpotContactLink, contact.phone)
    return ContactFacts(contact.id, contact.phone, contact.first_name, contact.last_name,
                        contact.email, contact.lead_source, contact.hubspot_id,
                        link.hubspot_id if link else None, task_facts, job.generation,
                        job.lead_status_done, job.task_create_in_flight, job.attempts)


def _store_link(uow, now: datetime, contact_id: int, phone: str, hubspot_id: str,
                source: str) -> None:
    link = uow.session.get(HubSpotContactLink, phone)
    if link is None:
        link = HubSpotContactLink(phone=phone, hubspot_id=hubspot_id, source=source, linked_at=now)
    elif link.hubspot_id != hubspot_id:
        link.hubspot_id, link.source, link.linked_at = hubspot_id, source, now
    uow.add(link)
    contact = uow.session.get(models.Contact, contact_id)
    if contact is not None and contact.hubspot_id != hubspot_id:
        contact.hubspot_id = hubspot_id
        uow.add(contact)


def _forget_link(uow, contact_id: int, phone: str, hubspot_id: str) -> None:
    link = uow.session.get(HubSpotContactLink, phone)
    if link is not None and link.hubspot_id == hubspot_id:
        uow.session.delete(link)
    contact = uow.session.get(models.Contact, contact_id)
    if contact is not None and contact.hubspot_id == hubspot_id:
        contact.hubspot_id = None
        uow.add(contact)


def _fill_empty_fields(uow, now: datetime, contact_id: int, values: dict) -> list[str]:
    """Copy HubSpot's names and email into local fields that are still empty (templates use them)."""
    contact = uow.session.get(models.Contact, contact_id)
    if contact is None:
        return []
    filled = []
    for local, value in values.items():
        value = (value or "").strip()
        if not value or getattr(contact, local):
            continue
        if local == "email" and "@" not in value:
            continue
        setattr(contact, local, value)
        filled.append(local)
    if filled:
        contact.updated_at = now
        uow.add(contact)
        uow.emit(ContactChanged(contact_id))
    return filled


def _set_task_create_in_flight(uow, contact_id: int, value: bool) -> None:
    job = uow.session.get(HubSpotSyncJob, contact_id)
    if job is not None:
        job.task_create_in_flight = value
        uow.add(job)


def _store_task_id(uow, contact_id: int, task_id: int, hubspot_task_id: str | None) -> None:
    task = uow.session.get(models.Task, task_id)
    if task is not None:
        task.hubspot_task_id = hubspot_task_id
        uow.add(task)
    _set_task_create_in_flight(uow, contact_id, False)


def _finish(uow, now: datetime, facts: ContactFacts, outcome: Outcome, error: str | None,
            next_at: datetime | None, lead_status_done: bool) -> None:
    """Record the result on the job, the contact and the task, in one transaction."""
    job = uow.session.get(HubSpotSyncJob, facts.contact_id)
    contact = uow.session.get(models.Contact, facts.contact_id)
    if job is None or contact is None:
        return
    newer_request = job.generation != facts.generation
    failed = error is not None
    job.updated_at = now
    if not newer_request:
        job.lead_status_done = lead_status_done
        job.attempts = facts.attempts + 1 if failed else 0
        job.status = "failed" if failed else "done"
        job.next_attempt_at = next_at or now
        previous_error, job.last_error = job.last_error, error
        contact.hubspot_sync = "failed" if failed else "synced"
        if failed:
            contact.hubspot_error = error
            if error != previous_error:
                add_event(uow, contact.id, "hubspot", f"HubSpot sync failed: {error}", now)
        else:
            contact.hubspot_error = ("Synced, but " + " ".join(outcome.notes)) if outcome.notes else None
            contact.hubspot_synced_at = now
            add_event(uow, contact.id, "hubspot", _success_summary(outcome), now)
        uow.add(contact)
    uow.add(job)
    uow.emit(ContactChanged(contact.id))
    if facts.task is not None:
        task = uow.session.get(models.Task, facts.task.id)
        if task is not None:
            task_synced = outcome.task_id is not None and not failed
            if task_synced:
                task.hubspot_sync, task.hubspot_error = "synced", None
            elif newer_request:
                task.hubspot_sync, task.hubspot_error = "pending", error
            else:
                task.hubspot_sync, task.hubspot_error = "failed", error
            uow.add(task)
            uow.emit(TaskChanged(task.id, contact.id))


def _success_summary(outcome: Outcome) -> str:
    parts = [f"Synced to HubSpot: {outcome.how} contact {outcome.hubspot_id}"]
    if outcome.task_id:
        parts.append(f"Call task {outcome.task_id}"
                     + (" (association to the contact repaired)" if outcome.repaired else ""))
    return "; ".join(parts) + "."


# -- HubSpot steps -------------------------------------------------------------------------------

def _task_properties(task: TaskFacts) -> dict:
    lines = [line for line in task.body.splitlines() if line.strip()]
    lines.append(f"Assigned in Missed-Call Desk to {task.assignee}.")
    lines.append(_task_marker(task.id))
    properties = {
        "hs_task_type": "CALL",
        "hs_task_subject": task.title,
        "hs_task_body": "<br>".join(html.escape(line) for line in lines),
        "hs_task_priority": PRIORITIES.get(task.priority, "HIGH"),
        "hs_task_status": "COMPLETED" if task.status == "done" else "NOT_STARTED",
        "hs_timestamp": task.due_at.astimezone(timezone.utc).isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z"),
    }
    if task.owner_id:
        properties["hubspot_owner_id"] = task.owner_id
    return properties


def _task_marker(task_id: int) -> str:
    # Lets a retry recognise a task whose create went through although its response was lost.
    return f"[Missed-Call Desk task {task_id}]"


def _lead_status_problem(value: str, error: HubSpotError) -> str:
    reason = next((item["message"] for item in error.invalid if item.get("name") == "hs_lead_status"),
                  error.plain)
    return (f"HubSpot rejected lead status {value!r}: {reason[:160]}. Add {value} as an option of "
            "the Lead Status contact property in HubSpot, or change the lead status in Settings.")


class HubSpotSync:
    """One worker thread that syncs contacts to HubSpot one at a time, oldest due first.

    The hubspot_sync_job table is the queue: the miss hook writes a row and wakes the
    worker, failures are retried with backoff, and rows left open by a stop are picked up
    at the next start.
    """

    def __init__(self, ctx: Context, timing: Timing | None = None, backoff: Backoff | None = None):
        self.ctx = ctx
        self.timing = timing or Timing()
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: HubSpotClient | None = None
        self._client_key: tuple[str, str, Timing] | None = None
        self._incoming: list[tuple[int, int]] = []  # (contact id, call id) from the miss hook
        self._seen_token: str | None = None
        self._lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        # Written without holding the lock: the miss hook takes it inside the writer thread.
        resumed = self.ctx.db.write(_resume_open_jobs, self.ctx.clock.now())
        if resumed:
            log.info("Resuming %d HubSpot sync(s) left pending or failed", resumed)
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hubspot-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)
            if thread.is_alive():
                log.warning("The HubSpot sync did not stop within %.0f s; its request is abandoned",
                            STOP_TIMEOUT_SECONDS)
        try:
            self._store_incoming(wait_for_outbox=False)
        except StorageError as exc:
            log.warning("Could not store %d HubSpot sync request(s) at stop: %s",
                        len(self._incoming), exc)
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def enqueue(self, contact_id: int, call_id: int) -> None:
        """Take a sync request from the miss hook without touching the database or the network.

        The worker stores it once the outbox has sent the first text, so neither its write
        nor its HubSpot requests compete with that text.
        """
        with self._lock:
            if self.running and not self._stop.is_set():
                self._incoming.append((contact_id, call_id))
                self._wake.set()
                return
        # No worker (the app is not running): store the request for the next start.
        self.ctx.db.submit_write(_mark_pending, self.ctx.clock.now(), contact_id, call_id)

    def _store_incoming(self, wait_for_outbox: bool) -> None:
        if wait_for_outbox and self.ctx.outbox is not None:
            self.ctx.outbox.wait_idle(timeout=OUTBOX_WAIT_SECONDS)
        with self._lock:
            requests, self._incoming = self._incoming, []
        # NOTE: a crash between the miss hook and this write loses the request: the contact
        # keeps sync "" and its next missed call queues a sync again.
        for contact_id, call_id in requests:
            self.ctx.db.write(_mark_pending, self.ctx.clock.now(), contact_id, call_id)

    def retry_now(self) -> int:
        """Make every open sync due at once and return how many there are.

        For a "Retry now" button, and for Settings to call after saving a new token.
        """
        count = self.ctx.db.write(_resume_open_jobs, self.ctx.clock.now())
        self._wake.set()
        return count

    # -- worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        log.debug("HubSpot sync worker started")
        while not self._stop.is_set():
            try:
                if self._incoming:
                    self._store_incoming(wait_for_outbox=True)
                contact_id, wait = self._next_due()
            except StorageError as exc:
                log.warning("HubSpot sync could not read or write its queue: %s", exc)
                contact_id, wait = None, IDLE_POLL_SECONDS
            if contact_id is None:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            try:
                self.sync_contact(contact_id)
            except Stopped:
                break
            except StorageError as exc:
                log.warning("HubSpot sync for contact %s could not be stored: %s", contact_id, exc)
                self._stop.wait(1.0)
        log.debug("HubSpot sync worker stopped")

    def _next_due(self) -> tuple[int | None, float]:
        token = self.ctx.secrets.get(TOKEN)
        if not token:
            return None, IDLE_POLL_SECONDS
        if self._seen_token is not None and token != self._seen_token:
            # Failures under the old token (a 401, missing scopes) may be fixed: try them now.
            resumed = self.ctx.db.write(_resume_open_jobs, self.ctx.clock.now())
            log.info("The HubSpot token changed; retrying %d open sync(s) now", resumed)
        self._seen_token = token
        with self.ctx.db.read() as session:
            job = session.exec(select(HubSpotSyncJob)
                               .where(HubSpotSyncJob.status.in_(("pending", "failed")))
                               .order_by(HubSpotSyncJob.next_attempt_at)).first()
        if job is None:
            return None, IDLE_POLL_SECONDS
        wait = (job.next_attempt_at - self.ctx.clock.now()).total_seconds()
        if wait > 0:
            return None, min(wait, IDLE_POLL_SECONDS)
        return job.contact_id, 0.0

    def _client_for(self, token: str) -> HubSpotClient:
        key = (token, self.ctx.secrets.api_url("hubspot"), self.timing)
        with self._lock:
            if self._client is None or self._client_key != key:
                if self._client is not None:
                    self._client.close()
                self._client = HubSpotClient(token, key[1], timing=self.timing, stop=self._stop)
                self._client_key = key
            return self._client

    # -- one sync ---------------------------------------------------------------------------

    def sync_contact(self, contact_id: int) -> Outcome | None:
        """Run one sync for a contact and record the result. Raises Stopped when the app stops."""
        ctx = self.ctx
        with ctx.db.read() as session:
            facts = _read_facts(session, contact_id)
        if facts is None:
            ctx.db.write(lambda uow: _drop_job(uow, contact_id))
            return None
        token = ctx.secrets.get(TOKEN)
        if not token:
            return None
        client = self._client_for(token)
        outcome = Outcome()
        lead_status_done = facts.lead_status_done
        error: str | None = None
        retry_floor: float | None = None
        try:
            lead_status_done = self._sync_steps(client, facts, outcome)
        except Stopped:
            raise
        except HubSpotError as exc:
            error, retry_floor = exc.plain, exc.retry_after
        except StorageError:
            raise
        except Exception as exc:  # a bug: record it on the contact and keep the worker alive
            log.exception("HubSpot sync for contact %s crashed", contact_id)
            error = f"internal error during the HubSpot sync: {exc!r}"
        if error is None and outcome.problems:
            error = " ".join(outcome.problems)

        now = ctx.clock.now()
        next_at = None
        if error is not None:
            delay = self.backoff.delay(facts.attempts + 1, retry_floor)
            next_at = now + timedelta(seconds=delay)
            log.warning("HubSpot sync failed for %s (attempt %d), retrying in %.0f s: %s",
                        phones.mask(facts.phone), facts.attempts + 1, delay, error)
        else:
            log.info("HubSpot sync done for %s: %s contact %s, task %s", phones.mask(facts.phone),
                     outcome.how, outcome.hubspot_id, outcome.task_id or "none")
        ctx.db.write(_finish, now, facts, outcome, error, next_at, lead_status_done)
        return outcome

    def _sync_steps(self, client: HubSpotClient, facts: ContactFacts, outcome: Outcome) -> bool:
        """Contact, names, lead status, task. Returns whether the lead status is set."""
        lead_status = (self.ctx.settings.get("hubspot.lead_status") or "").strip()
        want_status = bool(lead_status) and not facts.lead_status_done
        record, status_sent = self._resolve_contact(client, facts, outcome,
                                                    lead_status if want_status else None)
        properties = record.get("properties") or {}
        filled = self.ctx.db.write(_fill_empty_fields, self.ctx.clock.now(), facts.contact_id, {
            "first_name": properties.get("firstname"), "last_name": properties.get("lastname"),
            "email": properties.get("email")})
        if filled:
            log.info("Copied %s from HubSpot to contact %s", ", ".join(filled), facts.contact_id)

        lead_status_done = facts.lead_status_done or not want_status or status_sent
        if want_status and not lead_status_done:
            lead_status_done = self._set_lead_status(client, outcome, properties, lead_status)

        if facts.task is not None:
            self._sync_task(client, facts, outcome)
        return lead_status_done

    def _resolve_contact(self, client: HubSpotClient, facts: ContactFacts, outcome: Outcome,
                         lead_status: str | None) -> tuple[dict, bool]:
        """Find the contact (stored link, then phone search) or create it.

        Returns the HubSpot record and whether the create already set the lead status.
        """
        db, now = self.ctx.db, self.ctx.clock.now
        for known in dict.fromkeys(i for i in (facts.hubspot_id, facts.linked_id) if i):
            record = client.get_contact(known)
            if record is not None:
                outcome.hubspot_id, outcome.how = str(record["id"]), "linked"
                # The id differs when HubSpot merged the contact into another one. The local
                # contact lacks it when it was deleted and then created again by a new call.
                if outcome.hubspot_id not in (facts.hubspot_id, facts.linked_id) or \
                        facts.hubspot_id != facts.linked_id:
                    db.write(_store_link, now(), facts.contact_id, facts.phone,
                             outcome.hubspot_id, "found")
                return record, False
            log.info("HubSpot contact %s is gone (deleted or merged); looking it up by phone", known)
            db.write(_forget_link, facts.contact_id, facts.phone, known)

        found = client.find_contacts_by_phone(facts.phone)
        if found:
            record = found[0]
            if len(found) > 1:
                log.info("%d HubSpot contacts have the number %s; using the oldest, %s", len(found),
                         phones.mask(facts.phone), record["id"])
            outcome.hubspot_id, outcome.how = str(record["id"]), "found"
            db.write(_store_link, now(), facts.contact_id, facts.phone, outcome.hubspot_id, "found")
            return record, False

        record, status_sent, source = self._create_contact(client, facts, outcome, lead_status)
        outcome.hubspot_id, outcome.how = str(record["id"]), "created"
        # Stored at once: HubSpot's search can lag a create, so a retry must not search again.
        db.write(_store_link, now(), facts.contact_id, facts.phone, outcome.hubspot_id, source)
        return record, status_sent

    def _create_contact(self, client: HubSpotClient, facts: ContactFacts, outcome: Outcome,
                        lead_status: str | None) -> tuple[dict, bool, str]:
        source_property = (self.ctx.settings.get("hubspot.lead_source_property") or "").strip()
        properties = {"phone": facts.phone}
        for local, remote in (("first_name", "firstname"), ("last_name", "lastname"),
                              ("email", "email")):
            if getattr(facts, local):
                properties[remote] = getattr(facts, local)
        if source_property and facts.lead_source:
            properties[source_property] = facts.lead_source
        if lead_status:
            properties["hs_lead_status"] = lead_status
        # NOTE: a create that times out may still have made the contact. The retry comes at
        # least Backoff.base seconds later and searches by phone, which has usually caught up
        # by then. If it has not, HubSpot gets a duplicate contact to merge.
        try:
            return client.create_contact(properties), bool(lead_status), "created"
        except HubSpotError as error:
            if error.kind == "conflict" and error.existing_id:
                record = client.get_contact(error.existing_id)
                if record is not None:
                    return record, False, "email"
            droppable = {name for name in (source_property, "hs_lead_status") if name}
            rejected = error.invalid_names()
            if error.kind != "invalid" or not rejected or not rejected <= droppable:
                raise
            if source_property in rejected:
                outcome.notes.append(
                    f"the lead source was not stored: HubSpot has no usable contact property "
                    f"{source_property!r}. Create it as a single-line text property in HubSpot, "
                    "or clear the lead source property in Settings.")
                del properties[source_property]
            status_rejected = "hs_lead_status" in rejected
            if status_rejected:
                outcome.problems.append(_lead_status_problem(lead_status or "", error))
                del properties["hs_lead_status"]
            record = client.create_contact(properties)
            return record, bool(lead_status) and not status_rejected, "created"

    def _set_lead_status(self, client: HubSpotClient, outcome: Outcome, properties: dict,
                         lead_status: str) -> bool:
        if properties.get("hs_lead_status") == lead_status:
            return True
        try:
            client.update_contact(outcome.hubspot_id, {"hs_lead_status": lead_status})
        except HubSpotError as error:
            if error.kind != "invalid":
                raise
            outcome.problems.append(_lead_status_problem(lead_status, error))
            return False
        return True

    def _sync_task(self, client: HubSpotClient, facts: ContactFacts, outcome: Outcome) -> None:
        task = facts.task
        properties = _task_properties(task)
        task_id = task.hubspot_task_id
        if task_id:
            try:
                self._write_task(client, task, properties, lambda props: client.update_task(task_id, props),
                                 outcome)
            except HubSpotError as error:
                if error.kind != "not_found":
                    raise
                log.info("HubSpot task %s was deleted in HubSpot; creating it again", task_id)
                task_id = None
        if not task_id and facts.task_create_in_flight:
            task_id = self._find_created_task(client, outcome.hubspot_id, task.id)
            if task_id:
                self.ctx.db.write(_store_task_id, facts.contact_id, task.id, task_id)
        if not task_id:
            self.ctx.db.write(_set_task_create_in_flight, facts.contact_id, True)
            record = self._write_task(
                client, task, properties,
                lambda props: client.create_task(props, outcome.hubspot_id), outcome)
            task_id = str(record["id"])
            self.ctx.db.write(_store_task_id, facts.contact_id, task.id, task_id)
        outcome.task_id = task_id
        outcome.repaired = self._ensure_association(client, task_id, outcome.hubspot_id)

    def _write_task(self, client, task: TaskFacts, properties: dict, send, outcome: Outcome) -> dict:
        """Create or update the task; an owner id HubSpot rejects is dropped with a note."""
        try:
            return send(properties)
        except HubSpotError as error:
            if error.kind != "invalid" or error.invalid_names() != {"hubspot_owner_id"}:
                raise
            outcome.notes.append(
                f"HubSpot did not accept owner id {task.owner_id} for {task.assignee}, so the task "
                "is unassigned there. Fix the LO's HubSpot owner id in Settings.")
            return send({k: v for k, v in properties.items() if k != "hubspot_owner_id"})

    def _find_created_task(self, client: HubSpotClient, hubspot_contact_id: str,
                           local_task_id: int) -> str | None:
        """Find a task an earlier, unanswered create made, by the marker in its body."""
        ids = client.associated_ids("contacts", hubspot_contact_id, "tasks")
        marker = html.escape(_task_marker(local_task_id))
        for record in client.read_tasks(ids, ["hs_task_body"]):
            if marker in ((record.get("properties") or {}).get("hs_task_body") or ""):
                log.info("Found HubSpot task %s from an earlier unanswered create", record["id"])
                return str(record["id"])
        return None

    def _ensure_association(self, client: HubSpotClient, task_id: str, contact_id: str) -> bool:
        """Check the task is associated to the contact and add the association if it is missing.

        Returns True when it had to be added.
        """
        if contact_id in client.associated_ids("tasks", task_id, "contacts"):
            return False
        log.info("HubSpot task %s lost its contact association; adding it", task_id)
        client.associate_default("tasks", task_id, "contacts", contact_id)
        if contact_id not in client.associated_ids("tasks", task_id, "contacts"):
            raise HubSpotError("other", f"HubSpot did not keep the association of task {task_id} "
                               f"to contact {contact_id}; the sync will try again.", retryable=True)
        return True


def _drop_job(uow, contact_id: int) -> None:
    job = uow.session.get(HubSpotSyncJob, contact_id)
    if job is not None:
        uow.session.delete(job)
