"""Plain-Python change notifications from the core, which the window turns into Qt signals."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallChanged:
    call_id: int


@dataclass(frozen=True)
class ContactChanged:
    contact_id: int


@dataclass(frozen=True)
class StepChanged:
    step_id: int
    contact_id: int


@dataclass(frozen=True)
class MessageChanged:
    message_id: int
    contact_id: int | None


@dataclass(frozen=True)
class TaskChanged:
    task_id: int
    contact_id: int


@dataclass(frozen=True)
class Notification:
    """Something the coordinator should see at once (tray balloon): a hot call or a reply."""

    kind: str  # "hot_call", "reply", "opt_out", "provider_error"
    title: str
    text: str
    contact_id: int | None = None


@dataclass(frozen=True)
class SettingsChanged:
    """Settings were saved; `keys` names them (templates as template.NAME)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class ServiceState:
    """State of a long-running part: the listener, the tunnel or a provider."""

    service: str
    state: str
    detail: str = ""


Listener = Callable[[object], None]


class EventBus:
    """Thread-safe publish/subscribe. Listeners run on the publishing thread and must be quick."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: object) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("Event listener %r failed on %r", listener, event)
