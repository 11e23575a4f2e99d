"""End to end across providers: a RingCentral miss becomes one lead, one text and one HubSpot task."""

from __future__ import annotations

from sqlmodel import select

from desktop_app.core import directory, hubspot, models
from tests.helpers import SALES_LINE, contact_by_phone, count, wait_until
from tests.standins.hubspot_api import TOKEN, HubSpotStandIn
from tests.standins.ringcentral_api import RingCentralStandIn, telephony_session_id
from tests.test_hubspot import FAST, QUICK_RETRY
from tests.test_ringcentral import (CALLER, deliver_all, missed_call_events, ringcentral_env,
                                    start_app)


def test_ringcentral_miss_reported_three_times_is_one_lead_text_and_task(data_dir):
    with RingCentralStandIn(sms_numbers=(SALES_LINE,)) as ringcentral, HubSpotStandIn() as crm:
        env = ringcentral_env(ringcentral, MCD_HUBSPOT_TOKEN=TOKEN, MCD_HUBSPOT_API_URL=crm.url)
        desk = start_app(data_dir, ringcentral, env)
        service = hubspot.service_for(desk.ctx)
        service.timing, service.backoff = FAST, QUICK_RETRY
        try:
            desk.ctx.db.write(lambda uow: (
                directory.save_lo(uow, directory.LoanOfficerInput("Dana Reyes", phone="+16465550111",
                                                                  hubspot_owner_id="77001")),
                directory.save_route(uow, directory.RouteInput(SALES_LINE, lo_name="Dana Reyes",
                                                               lead_source="zillow",
                                                               provider="ringcentral"))))
            session = telephony_session_id()
            setup, ringing, missed, missed_again = missed_call_events(session, seconds=16)
            # Reported three times, out of order, with the call's start arriving last.
            responses = deliver_all(ringcentral, [missed_again, missed, missed, ringing, setup])
            assert all(r.status_code == 200 for r in responses)

            ringcentral.wait_for_messages(1)
            desk.outbox.wait_idle()
            contact = wait_until(lambda: (c := contact_by_phone(desk.ctx, CALLER)) is not None
                                 and c.hubspot_sync == "synced" and c, timeout=15)
            assert count(desk.ctx, models.Contact) == 1
            assert count(desk.ctx, models.Call) == 1
            with desk.ctx.db.read() as db_session:
                task = db_session.exec(select(models.Task)).one()
        finally:
            desk.stop()

        assert task.hubspot_sync == "synced"
        sms = ringcentral.sms_requests()
        assert len(sms) == 1
        assert sms[0].body["from"] == {"phoneNumber": SALES_LINE}
        assert sms[0].body["to"] == [{"phoneNumber": CALLER}]

        assert len(crm.contacts) == 1
        [hubspot_contact_id] = crm.contacts
        assert contact.hubspot_id == hubspot_contact_id
        assert len(crm.tasks) == 1
        [(task_id, remote_task)] = crm.tasks.items()
        assert task.hubspot_task_id == task_id
        assert (task_id, hubspot_contact_id) in crm.associations
        properties = remote_task["properties"]
        assert properties["hs_task_type"] == "CALL"
        assert properties["hubspot_owner_id"] == "77001"
        assert properties["hs_task_priority"] == "HIGH"
