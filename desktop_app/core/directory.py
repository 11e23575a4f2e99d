"""Loan officers and the routing table: add, change, remove, with validation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import select

from desktop_app.core import models, phones


# Lead sources offered for a number dialed; any other word made of letters, digits, _ and -
# is accepted too.
COMMON_LEAD_SOURCES = ("missed_call_inbound", "google_ads", "zillow", "client_referral", "website",
                       "past_client", "realtor_referral")


class DirectoryError(ValueError):
    """Invalid LO or route data; the message names the field and the fix."""

    FIELDS = ("name", "phone", "email", "number dialed", "LO", "lead source", "provider")

    @property
    def field(self) -> str:
        """The field the message starts with ("phone", "number dialed"), or "" for none."""
        head, sep, _rest = str(self).partition(": ")
        return head if sep and head in self.FIELDS else ""

    @property
    def reason(self) -> str:
        """The message without the field name."""
        return str(self)[len(self.field) + 2:] if self.field else str(self)


@dataclass
class LoanOfficerInput:
    name: str
    phone: str | None = None
    email: str | None = None
    senior: bool = False
    active: bool = True
    hubspot_owner_id: str | None = None


@dataclass
class RouteInput:
    dialed: str
    lo_name: str | None = None
    lead_source: str | None = None
    provider: str = "twilio"
    label: str | None = None


def _clean_phone(field: str, value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return phones.normalize(str(value))
    except phones.InvalidPhoneNumber as exc:
        raise DirectoryError(f"{field}: {exc}") from None


def save_lo(uow, data: LoanOfficerInput, lo_id: int | None = None) -> models.LoanOfficer:
    name = (data.name or "").strip()
    if not name:
        raise DirectoryError("name: a loan officer needs a name")
    if name.lower() == "coordinator":
        raise DirectoryError("name: \"Coordinator\" is reserved for work with no LO")
    session = uow.session
    clash = session.exec(select(models.LoanOfficer).where(models.LoanOfficer.name == name)).first()
    if clash is not None and clash.id != lo_id:
        raise DirectoryError(f"name: there is already a loan officer called {name!r}")
    email = (data.email or "").strip() or None
    if email and ("@" not in email or " " in email):
        raise DirectoryError(f"email: {email!r} is not an email address")
    lo = session.get(models.LoanOfficer, lo_id) if lo_id else models.LoanOfficer(name=name)
    if lo is None:
        raise DirectoryError(f"no loan officer with id {lo_id}")
    lo.name = name
    lo.phone = _clean_phone("phone", data.phone)
    lo.email = email
    lo.senior = bool(data.senior)
    lo.active = bool(data.active)
    lo.hubspot_owner_id = (data.hubspot_owner_id or "").strip() or None
    if not lo.recording_token:
        lo.recording_token = secrets.token_urlsafe(24)
    uow.add(lo)
    uow.flush()
    return lo


def delete_lo(uow, lo_id: int) -> None:
    session = uow.session
    lo = session.get(models.LoanOfficer, lo_id)
    if lo is None:
        return
    for route in session.exec(select(models.Route).where(models.Route.lo_id == lo_id)):
        route.lo_id = None
        uow.add(route)
    for contact in session.exec(select(models.Contact).where(models.Contact.lo_id == lo_id)):
        contact.lo_id = None
        uow.add(contact)
    uow.flush()
    session.delete(lo)


def save_route(uow, data: RouteInput, route_id: int | None = None) -> models.Route:
    session = uow.session
    dialed = _clean_phone("number dialed", data.dialed)
    if dialed is None:
        raise DirectoryError("number dialed: required")
    if data.provider not in ("twilio", "ringcentral"):
        raise DirectoryError(f"provider: {data.provider!r} is not twilio or ringcentral")
    clash = session.exec(select(models.Route).where(models.Route.dialed == dialed)).first()
    if clash is not None and clash.id != route_id:
        raise DirectoryError(f"number dialed: {phones.format_national(dialed)} is already in the table")
    lo_id = None
    if data.lo_name:
        lo = session.exec(select(models.LoanOfficer).where(models.LoanOfficer.name == data.lo_name)).first()
        if lo is None:
            raise DirectoryError(f"LO: no loan officer called {data.lo_name!r}")
        lo_id = lo.id
    route = session.get(models.Route, route_id) if route_id else models.Route(dialed=dialed)
    if route is None:
        raise DirectoryError(f"no route with id {route_id}")
    route.dialed = dialed
    route.lo_id = lo_id
    source = (data.lead_source or "").strip() or None
    if source and not all(c.isalnum() or c in "_-" for c in source):
        raise DirectoryError(f"lead source: {source!r} may use letters, digits, _ and - only")
    route.lead_source = source
    route.provider = data.provider
    route.label = (data.label or "").strip() or None
    uow.add(route)
    uow.flush()
    return route


def delete_route(uow, route_id: int) -> None:
    route = uow.session.get(models.Route, route_id)
    if route is not None:
        uow.session.delete(route)


def list_los(session) -> list[models.LoanOfficer]:
    return list(session.exec(select(models.LoanOfficer).order_by(models.LoanOfficer.name)))


def list_routes(session) -> list[models.Route]:
    return list(session.exec(select(models.Route).order_by(models.Route.dialed)))
