"""Registers every optional provider integration with the core (routes, channels, hooks)."""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

# Each module has register(); add a module here when it lands.
MODULES: tuple[str, ...] = ("email_channel", "drops", "hubspot", "ringcentral")

_done = False


def register_all() -> None:
    global _done
    if _done:
        return
    for name in MODULES:
        module = importlib.import_module(f"desktop_app.core.{name}")
        module.register()
        log.debug("Registered integration %s", name)
    _done = True
