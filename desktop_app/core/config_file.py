"""Settings, loan officers, routing and templates as one TOML file, for headless set-up."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomli_w
from desktop_app.core import directory, models
from desktop_app.core.settings import REGISTRY, SettingError
from desktop_app.core.templates import TemplateError, check_template

FORMAT_VERSION = 1
HEADER = """\
# Missed-Call Desk settings. Import with: missed-call-desk settings import FILE
# Sections left out of a file keep their current values. [[loan_officers]] and [[routes]]
# describe the whole team: on import, routes not listed are removed and loan officers not
# listed are made inactive (kept for the history of their calls).
# Provider credentials are never written here; they live in the OS keyring.
"""
# Settings that describe the machine, not the brokerage, stay out of the file.
_LOCAL_ONLY = {"ui.tray_hint_shown"}


class ConfigError(ValueError):
    """The file cannot be imported; the message names the entry and the fix."""


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    return nested


def build(ctx) -> dict[str, Any]:
    stored = ctx.settings.stored_values()
    flat = {}
    for key, definition in REGISTRY.items():
        if key in _LOCAL_ONLY:
            continue
        flat[key] = stored.get(key, definition.default)
    data: dict[str, Any] = {"format": FORMAT_VERSION}
    data.update(_nest(flat))
    with ctx.db.read() as session:
        los = directory.list_los(session)
        names = {lo.id: lo.name for lo in los}
        data["loan_officers"] = [
            {k: v for k, v in {
                "name": lo.name, "phone": lo.phone or "", "email": lo.email or "",
                "senior": lo.senior, "active": lo.active,
                "hubspot_owner_id": lo.hubspot_owner_id or "",
            }.items()}
            for lo in los
        ]
        data["routes"] = [
            {"dialed": route.dialed, "lo": names.get(route.lo_id, ""),
             "lead_source": route.lead_source or "", "provider": route.provider,
             "label": route.label or ""}
            for route in directory.list_routes(session)
        ]
    data["templates"] = {
        name: ({"body": t.body, "subject": t.subject} if t.subject else {"body": t.body})
        for name, t in ctx.templates.all().items()
    }
    return data


def export_file(ctx, path: Path) -> None:
    text = HEADER + tomli_w.dumps(build(ctx))
    Path(path).write_text(text, encoding="utf-8")


def _flatten_settings(data: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    sections = {key.partition(".")[0] for key in REGISTRY}
    for section, values in data.items():
        if section in ("format", "loan_officers", "routes", "templates"):
            continue
        if section not in sections:
            raise ConfigError(f"[{section}]: unknown section; expected one of "
                              + ", ".join(sorted(sections | {"loan_officers", "routes", "templates"})))
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a table")
        for name, value in values.items():
            key = f"{section}.{name}"
            if key not in REGISTRY:
                raise ConfigError(f"{key}: unknown setting")
            if key in _LOCAL_ONLY:
                continue
            try:
                flat[key] = REGISTRY[key].validate(value)
            except SettingError as exc:
                raise ConfigError(str(exc)) from None
    return flat


def _check_templates(data: dict[str, Any], known: set[str]) -> dict[str, dict]:
    templates = data.get("templates", {})
    if not isinstance(templates, dict):
        raise ConfigError("templates: expected a table of template name = { body = ... }")
    checked = {}
    for name, entry in templates.items():
        if name not in known:
            raise ConfigError(f"templates.{name}: unknown template; expected one of {', '.join(sorted(known))}")
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str) or not entry["body"].strip():
            raise ConfigError(f"templates.{name}: needs a non-empty body")
        try:
            check_template(entry["body"])
            check_template(entry.get("subject", "") or "")
        except TemplateError as exc:
            raise ConfigError(f"templates.{name}: {exc}") from None
        checked[name] = {"body": entry["body"], "subject": entry.get("subject", "") or ""}
    return checked


def _check_sequence_templates(settings: dict[str, Any], defaults: dict) -> None:
    for intent, steps in settings.get("sequence.steps", {}).items():
        for index, step in enumerate(steps):
            template = defaults.get(step["template"])
            where = f"sequence.steps.{intent}[{index}].template"
            if template is None:
                raise ConfigError(f"{where}: no template named {step['template']!r}")
            if template.channel != step["channel"]:
                raise ConfigError(f"{where}: {step['template']!r} is a {template.channel} template, "
                                  f"but the step's channel is {step['channel']}")


def _lo_input(index: int, entry: Any) -> directory.LoanOfficerInput:
    where = f"loan_officers[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with name, phone, email, senior, active")
    unknown = set(entry) - {"name", "phone", "email", "senior", "active", "hubspot_owner_id"}
    if unknown:
        raise ConfigError(f"{where}: unknown field {', '.join(sorted(unknown))}")
    for flag in ("senior", "active"):
        if flag in entry and not isinstance(entry[flag], bool):
            raise ConfigError(f"{where}.{flag}: expected true or false")
    return directory.LoanOfficerInput(
        name=str(entry.get("name", "")), phone=entry.get("phone") or None,
        email=entry.get("email") or None, senior=entry.get("senior", False),
        active=entry.get("active", True), hubspot_owner_id=entry.get("hubspot_owner_id") or None)


def _route_input(index: int, entry: Any) -> directory.RouteInput:
    where = f"routes[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with dialed, lo, lead_source")
    unknown = set(entry) - {"dialed", "lo", "lead_source", "provider", "label"}
    if unknown:
        raise ConfigError(f"{where}: unknown field {', '.join(sorted(unknown))}")
    return directory.RouteInput(dialed=str(entry.get("dialed", "")), lo_name=entry.get("lo") or None,
                                lead_source=entry.get("lead_source") or None,
                                provider=entry.get("provider", "twilio"), label=entry.get("label") or None)


def load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    version = data.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ConfigError(f"format = {version!r}: this version of the app reads format {FORMAT_VERSION}")
    return data


def import_file(ctx, path: Path) -> str:
    """Check the whole file, then apply it in one transaction. Returns a one-line summary."""
    data = load(path)
    return import_data(ctx, data)


def import_data(ctx, data: dict[str, Any]) -> str:
    settings = _flatten_settings(data)
    templates = _check_templates(data, set(ctx.templates.defaults))
    _check_sequence_templates(settings, ctx.templates.defaults)
    los = [_lo_input(i, e) for i, e in enumerate(data.get("loan_officers", []) or [])] \
        if "loan_officers" in data else None
    routes = [_route_input(i, e) for i, e in enumerate(data.get("routes", []) or [])] \
        if "routes" in data else None
    now = datetime.now(timezone.utc)

    def apply(uow) -> str:
        session = uow.session
        for key, value in settings.items():
            session.merge(models.Setting(key=key, value=json.dumps(value), updated_at=now))
        for name, entry in templates.items():
            default = ctx.templates.defaults[name]
            key = f"template.{name}"
            if entry["body"] == default.body and entry["subject"] == (default.subject or ""):
                # Unchanged defaults are not stored, so later versions can improve them.
                row = session.get(models.Setting, key)
                if row is not None:
                    session.delete(row)
                continue
            session.merge(models.Setting(key=key, value=json.dumps(entry), updated_at=now))
        lo_count = route_count = 0
        if los is not None:
            existing = {lo.name: lo for lo in directory.list_los(session)}
            listed = set()
            for index, lo_input in enumerate(los):
                try:
                    current = existing.get(lo_input.name.strip())
                    directory.save_lo(uow, lo_input, current.id if current else None)
                except directory.DirectoryError as exc:
                    raise ConfigError(f"loan_officers[{index}].{exc}") from None
                listed.add(lo_input.name.strip())
                lo_count += 1
            for name, lo in existing.items():
                if name not in listed and lo.active:
                    lo.active = False
                    uow.add(lo)
        if routes is not None:
            listed_numbers = set()
            existing_routes = {r.dialed: r for r in directory.list_routes(session)}
            for index, route_input in enumerate(routes):
                try:
                    number = directory._clean_phone("dialed", route_input.dialed)
                    current = existing_routes.get(number or "")
                    saved = directory.save_route(uow, route_input, current.id if current else None)
                except directory.DirectoryError as exc:
                    raise ConfigError(f"routes[{index}].{exc}") from None
                listed_numbers.add(saved.dialed)
                route_count += 1
            for number, route in existing_routes.items():
                if number not in listed_numbers:
                    session.delete(route)
        parts = [f"{len(settings)} setting(s)", f"{len(templates)} template(s)"]
        if los is not None:
            parts.append(f"{lo_count} loan officer(s)")
        if routes is not None:
            parts.append(f"{route_count} route(s)")
        return ", ".join(parts)

    summary = ctx.db.write(apply)
    ctx.settings.invalidate()
    ctx.templates.invalidate()
    return summary

