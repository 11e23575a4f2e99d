"""HubSpot integration: after each missed call, sync the contact, its lead status and the Call task."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from desktop_app.core.context import Context, register_miss_hook
from desktop_app.core.events import ServiceState
from desktop_app.core.hubspot_api import HubSpotClient, HubSpotError, Timing
from desktop_app.core.hubspot_sync import TOKEN, HubSpotSync
from desktop_app.core.server import register_routes

log = logging.getLogger(__name__)

REQUIRED_SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write")
# Accounts that list these granular task scopes on the private app need them for tasks;
# older accounts cover tasks with the contact scopes.
TASK_SCOPES = ("crm.objects.tasks.read", "crm.objects.tasks.write")
# Lets the connection check read the Lead Status options and the lead source property.
OPTIONAL_SCOPES = ("crm.schemas.contacts.read",)


# -- registration and the miss hook --------------------------------------------------------------

def register() -> None:
    register_miss_hook(on_missed_call)
    register_routes(_attach)


def on_missed_call(ctx: Context, contact_id: int, call_id: int) -> None:
    """Queue a sync for the contact. Runs after the decision commits and never waits on HubSpot."""
    if not ctx.secrets.get(TOKEN):
        return  # not configured: nothing is sent and the contact keeps sync "" (not configured)
    service_for(ctx).enqueue(contact_id, call_id)


def _attach(ctx: Context) -> list:
    """Tie the sync worker to the app's start and stop; HubSpot serves no routes.

    The route factory is the integration point that runs at app start with the app's
    context. The worker starts once the listener is up and stops when the listener goes
    down, which DeskApp.stop() announces before it closes the database.
    """
    service = service_for(ctx)

    def follow_listener(event: object) -> None:
        if not isinstance(event, ServiceState) or event.service != "listener":
            return
        if event.state == "listening":
            service.start()
        elif event.state == "stopped":
            unsubscribe()
            service.stop()
            with _services_lock:
                if _services.get(id(ctx)) is service:
                    del _services[id(ctx)]

    unsubscribe = ctx.bus.subscribe(follow_listener)
    return []


_services: dict[int, HubSpotSync] = {}
_services_lock = threading.Lock()


def service_for(ctx: Context) -> HubSpotSync:
    """Return the sync worker of an app, creating it on first use."""
    # Context is an unhashable dataclass, so services are keyed by its id and dropped at stop.
    with _services_lock:
        service = _services.get(id(ctx))
        if service is None or service.ctx is not ctx:
            service = _services[id(ctx)] = HubSpotSync(ctx)
        return service


# -- the settings window's "Test connection" -----------------------------------------------------

@dataclass
class ConnectionReport:
    """Result of a connection check. `ok` is False when syncs would fail as things stand."""

    ok: bool
    summary: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_scopes: list[str] = field(default_factory=list)


def check_connection(ctx: Context, token: str | None = None,
                     timing: Timing | None = None) -> ConnectionReport:
    """Test the token against HubSpot and report exactly which part fails.

    Blocks on the network, so run it off the GUI thread.

    `token` is the value typed in Settings before it is saved; None uses the stored one.
    """
    token = (token or ctx.secrets.get(TOKEN) or "").strip()
    if not token:
        return ConnectionReport(False, "No HubSpot access token is set. Paste the private app's "
                                "access token in Settings, or set MCD_HUBSPOT_TOKEN.")
    base_url = ctx.secrets.api_url("hubspot")
    client = HubSpotClient(token, base_url, timing=timing or Timing(attempts=1))
    report = ConnectionReport(True, "")
    try:
        for what, path in (("contacts", "/crm/v3/objects/contacts"),
                           ("tasks", "/crm/v3/objects/tasks")):
            try:
                client.request("GET", path, params={"limit": 1})
            except HubSpotError as error:
                if error.kind in ("auth", "network", "timeout", "unavailable"):
                    return ConnectionReport(False, error.plain, [error.plain])
                _add_scopes(report, error.scopes)
                report.problems.append(f"Reading {what} failed: {error.plain}")
        account = _check_granted_scopes(client, token, report)
        _check_properties(ctx, client, report)
    finally:
        client.close()
    report.ok = not report.problems
    if report.ok:
        where = f"HubSpot account {account}" if account else "HubSpot"
        report.summary = f"Connected to {where} at {base_url}; contacts and tasks can be read."
    else:
        report.summary = report.problems[0]
    return report


def _add_scopes(report: ConnectionReport, scopes) -> None:
    for scope in scopes:
        if scope not in report.missing_scopes:
            report.missing_scopes.append(scope)


def _check_granted_scopes(client: HubSpotClient, token: str, report: ConnectionReport) -> str | None:
    """Compare the token's scopes with the write scopes a sync needs. Returns the account id."""
    try:
        info = client.token_info(token)
    except HubSpotError as error:
        report.notes.append(f"Could not list the token's scopes ({error.plain}); write access "
                            "is confirmed by the first sync.")
        return None
    granted = set(info.get("scopes") or [])
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if TASK_SCOPES[0] in granted and TASK_SCOPES[1] not in granted:
        missing.append(TASK_SCOPES[1])
    if missing:
        _add_scopes(report, missing)
        report.problems.append(f"The private app is missing the scope(s) {', '.join(missing)}. "
                               "Tick them on the app's Scopes tab in HubSpot, commit the change, "
                               "then save the app's token again in Settings.")
    hub_id = info.get("hubId")
    return str(hub_id) if hub_id else None


def _check_properties(ctx: Context, client: HubSpotClient, report: ConnectionReport) -> None:
    """Check the lead status option and the lead source property the sync writes."""
    lead_status = (ctx.settings.get("hubspot.lead_status") or "").strip()
    source_property = (ctx.settings.get("hubspot.lead_source_property") or "").strip()
    try:
        if lead_status:
            definition = client.request("GET", "/crm/v3/properties/contacts/hs_lead_status")
            options = [o.get("value") for o in definition.get("options") or []]
            if lead_status not in options:
                report.problems.append(
                    f"HubSpot's Lead Status property has no option {lead_status!r} (it has "
                    f"{', '.join(map(str, options)) or 'none'}). Add it in HubSpot under Settings > "
                    "Properties > Lead Status, or pick one of these in Settings.")
        if source_property:
            try:
                client.request("GET", f"/crm/v3/properties/contacts/{source_property}")
            except HubSpotError as error:
                if error.kind != "not_found":
                    raise
                report.notes.append(
                    f"HubSpot has no contact property {source_property!r}, so new contacts are "
                    "created without the lead source. Create it as a single-line text property, "
                    "or clear the lead source property in Settings.")
    except HubSpotError as error:
        if error.kind not in ("scopes", "forbidden"):
            raise
        report.notes.append(f"Could not read contact property definitions ({error.plain}). "
                            f"Add the optional scope {OPTIONAL_SCOPES[0]} to let this check "
                            "confirm the lead status option and the lead source property.")
