"""HubSpot sync against the HubSpot stand-in: contact lookup and create, lead status, the Call task."""

from __future__ import annotations

import socket
from datetime import timezone

import pytest
from sqlmodel import select

from desktop_app.core import contacts, directory, hubspot, models
from desktop_app.core.clock import ManualClock
from desktop_app.core.hubspot_api import (HubSpotClient, HubSpotError, SEARCH_MAX_GROUPS, Timing,
                                          phone_search_bodies, stored_phone_formats)
from desktop_app.core.hubspot_sync import Backoff, HubSpotSyncJob
from tests.conftest import SignedClient, make_app, twilio_env
from tests.helpers import LO_PHONE, SALES_LINE, contact_by_phone, wait_until
from tests.standins.hubspot_api import TOKEN, Failure, HubSpotStandIn, rate_limited
from tests.test_twilio_flow import full_missed_call

CALLER = "+12125550143"
FAST = Timing(attempts=3, base_delay=0.01, max_delay=0.02, timeout=2.0)
QUICK_RETRY = Backoff(base=0.05, cap=0.2)


@pytest.fixture
def hubspot_api():
    with HubSpotStandIn() as standin:
        yield standin


def hubspot_env(standin: HubSpotStandIn) -> dict:
    return {"MCD_HUBSPOT_TOKEN": TOKEN, "MCD_HUBSPOT_API_URL": standin.url}


def speed_up(desk) -> None:
    """Millisecond retries, so failure paths finish in a test's time."""
    service = hubspot.service_for(desk.ctx)
    service.timing = FAST
    service.backoff = QUICK_RETRY


@pytest.fixture
def desk(data_dir, twilio_api, hubspot_api):
    app = make_app(data_dir, {**twilio_env(twilio_api), **hubspot_env(hubspot_api)})
    app.start()
    speed_up(app)
    yield app
    app.stop()


@pytest.fixture
def caller(desk):
    signed = SignedClient(desk.ctx.listen_port)
    yield signed
    signed.close()


def add_team(ctx, owner_id: str | None = "77001") -> None:
    """One LO with a HubSpot owner id, on a sales line whose lead source is zillow."""

    def build(uow):
        directory.save_lo(uow, directory.LoanOfficerInput("Dana Reyes", phone=LO_PHONE,
                                                          hubspot_owner_id=owner_id))
        directory.save_route(uow, directory.RouteInput(SALES_LINE, lo_name="Dana Reyes",
                                                       lead_source="zillow"))

    ctx.db.write(build)


def wait_for_sync(ctx, phone: str = CALLER, state: str = "synced") -> models.Contact:
    return wait_until(lambda: (c := contact_by_phone(ctx, phone)) is not None
                      and c.hubspot_sync == state and c)


def task_of(ctx, contact_id: int) -> models.Task:
    with ctx.db.read() as session:
        return session.exec(select(models.Task).where(models.Task.contact_id == contact_id)).one()


def creates(standin: HubSpotStandIn, kind: str = "contacts") -> list:
    return [r for r in standin.calls("POST", f"/crm/v3/objects/{kind}") if r.path.endswith(kind)]


# -- phone formats -------------------------------------------------------------------------------

def test_phone_formats_cover_common_spellings():
    forms = stored_phone_formats(CALLER)
    for written in ("+12125550143", "+1 212-555-0143", "(212) 555-0143", "2125550143",
                    "212-555-0143", "212.555.0143", "1-212-555-0143", "12125550143"):
        assert written in forms
    assert len(forms) == len(set(forms))


def test_phone_search_stays_within_search_limits():
    bodies = phone_search_bodies(CALLER)
    assert len(bodies) == 1
    groups = bodies[0]["filterGroups"]
    assert len(groups) <= SEARCH_MAX_GROUPS
    assert {g["filters"][0]["propertyName"] for g in groups} == {"phone", "mobilephone"}
    assert all(len(g["filters"]) == 1 for g in groups)


# -- finding, creating and linking contacts ------------------------------------------------------

@pytest.mark.parametrize("written", ["+12125550143", "+1 212-555-0143", "(212) 555-0143",
                                     "2125550143", "212-555-0143", "212.555.0143",
                                     "1-212-555-0143"])
def test_contact_found_by_stored_phone_format(desk, caller, hubspot_api, written):
    existing = hubspot_api.add_contact(phone=written, firstname="Maria", lastname="Lopez",
                                       email="maria@example.com")
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    assert contact.hubspot_id == existing
    assert creates(hubspot_api) == []
    assert contact.first_name == "Maria"
    assert contact.email == "maria@example.com"
    assert hubspot_api.contacts[existing]["properties"]["hs_lead_status"] == "NEW_MISSED_CALL"


def test_contact_found_by_mobile_phone(desk, caller, hubspot_api):
    existing = hubspot_api.add_contact(phone="+1 718-555-0199", mobilephone="(212) 555-0143")
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    assert contact.hubspot_id == existing
    assert creates(hubspot_api) == []


def test_local_names_are_not_overwritten(desk, caller, hubspot_api):
    hubspot_api.add_contact(phone=CALLER, firstname="Maria", email="maria@example.com")
    full_missed_call(caller, seconds=14)
    contact = wait_for_sync(desk.ctx)
    desk.ctx.db.write(contacts.update_details, contact.id, desk.ctx.clock.now(),
                      first_name="Mari", email="mari@example.org")

    full_missed_call(caller, seconds=14)
    # The second sync reads the linked contact; the sync is marked pending before that read.
    hubspot_api.wait_for(lambda s: len(s.calls("GET", "/crm/v3/objects/contacts/")) >= 1)
    contact = wait_for_sync(desk.ctx)
    assert contact.first_name == "Mari"
    assert contact.email == "mari@example.org"


def test_contact_created_with_lead_source_and_status(desk, caller, hubspot_api):
    add_team(desk.ctx)
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    posts = creates(hubspot_api)
    assert len(posts) == 1
    sent = posts[0].body["properties"]
    assert sent["phone"] == CALLER
    assert sent["lead_source"] == "zillow"
    assert sent["hs_lead_status"] == "NEW_MISSED_CALL"
    assert contact.hubspot_id == hubspot_api.wait_for(lambda s: list(s.contacts))[0]
    assert contact.hubspot_error is None
    assert posts[0].authorization == f"Bearer {TOKEN}"


def test_lead_status_comes_from_settings(desk, caller, hubspot_api):
    desk.ctx.settings.set("hubspot.lead_status", "ATTEMPTED_TO_CONTACT")
    full_missed_call(caller, seconds=14)

    wait_for_sync(desk.ctx)
    assert creates(hubspot_api)[0].body["properties"]["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"


def test_no_duplicate_create_while_search_lags(desk, caller, hubspot_api):
    hubspot_api.search_lag = True
    full_missed_call(caller, seconds=14)
    first = wait_for_sync(desk.ctx)

    full_missed_call(caller, seconds=14)
    hubspot_api.wait_for(lambda s: len(s.calls("PATCH", "/crm/v3/objects/tasks/")) == 1)
    wait_for_sync(desk.ctx)
    desk.ctx.db.write(contacts.delete_contact, first.id)
    full_missed_call(caller, seconds=14)
    again = wait_for_sync(desk.ctx)

    assert again.created_at > first.created_at
    assert again.hubspot_id == first.hubspot_id
    assert len(creates(hubspot_api)) == 1
    assert len(hubspot_api.contacts) == 1


def test_lead_source_property_missing_still_syncs(desk, caller, hubspot_api):
    hubspot_api.contact_properties.discard("lead_source")
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    assert len(creates(hubspot_api)) == 2
    assert "lead_source" not in creates(hubspot_api)[1].body["properties"]
    assert contact.hubspot_error.startswith("Synced, but the lead source was not stored")


def test_rejected_lead_status_fails_then_syncs(desk, caller, hubspot_api):
    hubspot_api.lead_status_options.remove("NEW_MISSED_CALL")
    full_missed_call(caller, seconds=14)

    failed = wait_for_sync(desk.ctx, state="failed")
    assert "NEW_MISSED_CALL" in failed.hubspot_error
    assert "Lead Status" in failed.hubspot_error
    assert len(hubspot_api.tasks) == 1  # the LO's task does not wait for the lead status

    hubspot_api.lead_status_options.append("NEW_MISSED_CALL")
    synced = wait_for_sync(desk.ctx)
    assert hubspot_api.contacts[synced.hubspot_id]["properties"]["hs_lead_status"] == "NEW_MISSED_CALL"
    assert len(hubspot_api.tasks) == 1


# -- the Call task -------------------------------------------------------------------------------

def test_task_fields_owner_and_association(desk, caller, hubspot_api):
    add_team(desk.ctx)
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    local = task_of(desk.ctx, contact.id)
    post = creates(hubspot_api, "tasks")[0].body
    sent = post["properties"]
    assert sent["hs_task_type"] == "CALL"
    assert sent["hs_timestamp"] == local.due_at.astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert sent["hs_task_priority"] == "HIGH"
    assert sent["hs_task_subject"] == local.title
    assert "14 s on the line" in sent["hs_task_body"]
    assert "lead source zillow" in sent["hs_task_body"]
    assert sent["hubspot_owner_id"] == "77001"
    assert post["associations"] == [{"to": {"id": contact.hubspot_id}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
    assert local.hubspot_task_id in hubspot_api.tasks
    assert local.hubspot_sync == "synced"
    assert (local.hubspot_task_id, contact.hubspot_id) in hubspot_api.associations
    assert hubspot_api.calls("GET", f"/crm/v4/objects/tasks/{local.hubspot_task_id}/associations")
    assert hubspot_api.calls("PUT") == []


def test_dropped_association_is_repaired(desk, caller, hubspot_api):
    hubspot_api.drop_task_associations = True
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    local = task_of(desk.ctx, contact.id)
    assert (local.hubspot_task_id, contact.hubspot_id) in hubspot_api.associations
    assert [r.path for r in hubspot_api.calls("PUT")] == [
        f"/crm/v4/objects/tasks/{local.hubspot_task_id}/associations/default/contacts/"
        f"{contact.hubspot_id}"]
    with desk.ctx.db.read() as session:
        summaries = [e.summary for e in session.exec(select(models.TimelineEvent)
                                                     .where(models.TimelineEvent.kind == "hubspot"))]
    assert any("association to the contact repaired" in s for s in summaries)


def test_rejected_owner_leaves_task_unassigned(desk, caller, hubspot_api):
    add_team(desk.ctx, owner_id="99999")
    full_missed_call(caller, seconds=14)

    contact = wait_for_sync(desk.ctx)
    assert len(hubspot_api.tasks) == 1
    assert "hubspot_owner_id" not in next(iter(hubspot_api.tasks.values()))["properties"]
    assert "owner id 99999" in contact.hubspot_error


def test_repeat_call_updates_the_same_task(desk, caller, hubspot_api):
    full_missed_call(caller, seconds=14)
    first = wait_for_sync(desk.ctx)
    full_missed_call(caller, seconds=45)

    hubspot_api.wait_for(lambda s: len(s.calls("PATCH", "/crm/v3/objects/tasks/")) == 1)
    contact = wait_for_sync(desk.ctx)
    assert contact.hubspot_id == first.hubspot_id
    assert len(hubspot_api.tasks) == 1
    body = next(iter(hubspot_api.tasks.values()))["properties"]["hs_task_body"]
    assert "45 s on the line" in body


def test_lost_task_create_response_not_duplicated(desk, caller, hubspot_api):
    hubspot_api.fail_next(Failure(502, path_contains="/crm/v3/objects/tasks", apply=True))
    full_missed_call(caller, seconds=14)

    wait_for_sync(desk.ctx, state="failed")
    contact = wait_for_sync(desk.ctx)
    assert len(hubspot_api.tasks) == 1
    assert task_of(desk.ctx, contact.id).hubspot_task_id == next(iter(hubspot_api.tasks))


# -- failures, retries and the first text --------------------------------------------------------

def test_failed_sync_is_retried_until_synced(desk, caller, hubspot_api):
    hubspot_api.unavailable = True
    full_missed_call(caller, seconds=14)

    failed = wait_for_sync(desk.ctx, state="failed")
    assert "HubSpot is unavailable (HTTP 503)" in failed.hubspot_error
    assert failed.hubspot_synced_at is None

    hubspot_api.unavailable = False
    synced = wait_for_sync(desk.ctx)
    assert synced.hubspot_error is None
    assert synced.hubspot_synced_at is not None
    assert len(hubspot_api.contacts) == 1


def test_bad_token_fails_until_fixed(desk, caller, hubspot_api):
    service = hubspot.service_for(desk.ctx)
    service.backoff = Backoff(base=3600, cap=3600)
    desk.ctx.environ["MCD_HUBSPOT_TOKEN"] = "pat-na1-revoked"
    full_missed_call(caller, seconds=14)

    failed = wait_for_sync(desk.ctx, state="failed")
    assert "HTTP 401" in failed.hubspot_error
    assert hubspot_api.contacts == {}

    desk.ctx.environ["MCD_HUBSPOT_TOKEN"] = TOKEN
    assert service.retry_now() == 1
    synced = wait_for_sync(desk.ctx)
    assert synced.hubspot_id in hubspot_api.contacts


def test_failed_sync_resumes_after_restart(data_dir, twilio_api, hubspot_api):
    env = {**twilio_env(twilio_api), **hubspot_env(hubspot_api)}
    first = make_app(data_dir, env)
    first.start()
    speed_up(first)
    hubspot.service_for(first.ctx).backoff = Backoff(base=3600, cap=3600)
    hubspot_api.unavailable = True
    signed = SignedClient(first.ctx.listen_port)
    try:
        full_missed_call(signed, seconds=14)
        wait_for_sync(first.ctx, state="failed")
    finally:
        signed.close()
        first.stop()

    hubspot_api.unavailable = False
    second = make_app(data_dir, env)
    second.start()
    try:
        contact = wait_for_sync(second.ctx)
        assert contact.hubspot_id in hubspot_api.contacts
    finally:
        second.stop()


def test_request_while_stopped_syncs_at_start(data_dir, twilio_api, hubspot_api):
    desk = make_app(data_dir, {**twilio_env(twilio_api), **hubspot_env(hubspot_api)})
    now = desk.ctx.clock.now()

    def add_contact(uow):
        contact = models.Contact(phone=CALLER, created_at=now, updated_at=now)
        uow.add(contact)
        uow.flush()
        return contact.id

    contact_id = desk.ctx.db.write(add_contact)
    hubspot.on_missed_call(desk.ctx, contact_id, 1)
    wait_for_sync(desk.ctx, state="pending")
    assert hubspot_api.requests == []

    desk.start()
    try:
        contact = wait_for_sync(desk.ctx)
        assert contact.hubspot_id in hubspot_api.contacts
    finally:
        desk.stop()


def test_first_text_sent_while_hubspot_down(app, client, twilio_api):
    with socket.socket() as probe:  # a port with nothing listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app.ctx.environ["MCD_HUBSPOT_TOKEN"] = TOKEN
    app.ctx.environ["MCD_HUBSPOT_API_URL"] = f"http://127.0.0.1:{closed_port}"
    speed_up(app)

    full_missed_call(client, seconds=14)

    posts = twilio_api.wait_for_messages(1)
    assert posts[0].form["To"] == CALLER
    failed = wait_for_sync(app.ctx, state="failed")
    assert "Could not reach HubSpot" in failed.hubspot_error


def test_no_token_sends_nothing(app, client, twilio_api, hubspot_api):
    app.ctx.environ["MCD_HUBSPOT_API_URL"] = hubspot_api.url

    full_missed_call(client, seconds=14)
    twilio_api.wait_for_messages(1)
    app.outbox.wait_idle()

    assert contact_by_phone(app.ctx, CALLER).hubspot_sync == ""
    with app.ctx.db.read() as session:
        assert session.exec(select(HubSpotSyncJob)).all() == []
    assert hubspot_api.requests == []


# -- rate limits ---------------------------------------------------------------------------------

class RecordingClock(ManualClock):
    """A manual clock that remembers every sleep the client asked for."""

    def __init__(self):
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


def client_for(standin: HubSpotStandIn, clock) -> HubSpotClient:
    return HubSpotClient(TOKEN, standin.url, timing=Timing(base_delay=0.01), clock=clock)


@pytest.mark.parametrize("failure, wait", [
    (rate_limited(retry_after="3"), 3.0),
    (rate_limited(retry_after=None, interval_ms=10000), 10.0),
    (rate_limited(retry_after=None, policy="SECONDLY"), 1.0),
])
def test_429_waits_as_the_headers_say(hubspot_api, failure, wait):
    clock = RecordingClock()
    client = client_for(hubspot_api, clock)
    hubspot_api.fail_next(failure)
    try:
        client.request("GET", "/crm/v3/objects/contacts", params={"limit": 1})
    finally:
        client.close()

    assert clock.sleeps == [wait]
    assert [r.status for r in hubspot_api.calls("GET")] == [429, 200]


def test_daily_limit_fails_instead_of_waiting(hubspot_api):
    clock = RecordingClock()
    client = client_for(hubspot_api, clock)
    hubspot_api.fail_next(rate_limited(policy="DAILY"))
    with pytest.raises(HubSpotError) as raised:
        client.request("GET", "/crm/v3/objects/contacts")
    client.close()

    assert raised.value.kind == "rate_limit"
    assert raised.value.retry_after == 3600.0
    assert clock.sleeps == []


def test_searches_are_paced_to_four_per_second(hubspot_api):
    clock = RecordingClock()
    client = client_for(hubspot_api, clock)
    start = clock.monotonic()
    try:
        for _ in range(9):
            client.find_contacts_by_phone(CALLER)
    finally:
        client.close()

    assert clock.monotonic() - start >= 2.0
    assert all(r.status == 200 for r in hubspot_api.requests)


def test_5xx_is_retried_with_backoff(hubspot_api):
    clock = RecordingClock()
    client = client_for(hubspot_api, clock)
    hubspot_api.fail_next(Failure(503), Failure(500))
    try:
        client.request("GET", "/crm/v3/objects/contacts")
    finally:
        client.close()

    assert [r.status for r in hubspot_api.requests] == [503, 500, 200]
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > clock.sleeps[0] / 2


# -- the connection check ------------------------------------------------------------------------

@pytest.fixture
def quiet_app(data_dir, hubspot_api):
    app = make_app(data_dir, {"MCD_HUBSPOT_API_URL": hubspot_api.url})
    yield app
    app.ctx.db.close()


def test_check_connection_ok(quiet_app, hubspot_api):
    report = hubspot.check_connection(quiet_app.ctx, TOKEN, timing=FAST)
    assert report.ok, report.problems
    assert "24681357" in report.summary
    assert report.missing_scopes == []


def test_check_connection_bad_token(quiet_app, hubspot_api):
    report = hubspot.check_connection(quiet_app.ctx, "pat-na1-wrong", timing=FAST)
    assert not report.ok
    assert "HTTP 401" in report.summary


def test_check_connection_missing_scopes(quiet_app, hubspot_api):
    hubspot_api.scopes = {"crm.objects.contacts.read", "crm.objects.tasks.read"}
    report = hubspot.check_connection(quiet_app.ctx, TOKEN, timing=FAST)
    assert not report.ok
    assert report.missing_scopes == ["crm.objects.contacts.write", "crm.objects.tasks.write"]
    assert "crm.objects.contacts.write" in report.summary


def test_check_connection_names_scopes_from_403(quiet_app, hubspot_api):
    hubspot_api.scopes = {"crm.objects.contacts.write"}
    report = hubspot.check_connection(quiet_app.ctx, TOKEN, timing=FAST)
    assert not report.ok
    assert "crm.objects.contacts.read" in report.missing_scopes
    assert "HTTP 403" in report.summary
    assert "crm.objects.contacts.read" in report.summary


def test_check_connection_network_error(quiet_app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    quiet_app.ctx.environ["MCD_HUBSPOT_API_URL"] = f"http://127.0.0.1:{closed_port}"
    report = hubspot.check_connection(quiet_app.ctx, TOKEN, timing=FAST)
    assert not report.ok
    assert report.summary.startswith(f"Could not reach HubSpot at http://127.0.0.1:{closed_port}")


def test_check_connection_missing_lead_status_option(quiet_app, hubspot_api):
    hubspot_api.lead_status_options.remove("NEW_MISSED_CALL")
    report = hubspot.check_connection(quiet_app.ctx, TOKEN, timing=FAST)
    assert not report.ok
    assert "no option 'NEW_MISSED_CALL'" in report.summary


def test_check_connection_without_token(quiet_app):
    report = hubspot.check_connection(quiet_app.ctx, timing=FAST)
    assert not report.ok
    assert "No HubSpot access token" in report.summary
