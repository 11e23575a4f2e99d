"""Turns the core's plain events (raised on any thread) into Qt signals on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop_app.core import events


class CoreBridge(QObject):
    """Re-emits core events as Qt signals.

    Signals: callChanged(int), contactChanged(int), stepChanged(int, int),
    messageChanged(int, int), taskChanged(int, int), notification(str, str, str, int),
    serviceState(str, str, str), settingsChanged(list). Contact id -1 means none.
    """

    callChanged = Signal(int)
    contactChanged = Signal(int)
    stepChanged = Signal(int, int)
    messageChanged = Signal(int, int)
    taskChanged = Signal(int, int)
    notification = Signal(str, str, str, int)
    serviceState = Signal(str, str, str)
    settingsChanged = Signal(list)

    def __init__(self, bus: events.EventBus, parent: QObject | None = None):
        super().__init__(parent)
        self._unsubscribe = bus.subscribe(self._on_event)

    def detach(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: object) -> None:
        # Emitting from a worker thread queues the call to receivers on the GUI thread.
        if isinstance(event, events.CallChanged):
            self.callChanged.emit(event.call_id)
        elif isinstance(event, events.ContactChanged):
            self.contactChanged.emit(event.contact_id)
        elif isinstance(event, events.StepChanged):
            self.stepChanged.emit(event.step_id, event.contact_id)
        elif isinstance(event, events.MessageChanged):
            self.messageChanged.emit(event.message_id, event.contact_id or -1)
        elif isinstance(event, events.TaskChanged):
            self.taskChanged.emit(event.task_id, event.contact_id)
        elif isinstance(event, events.Notification):
            self.notification.emit(event.kind, event.title, event.text, event.contact_id or -1)
        elif isinstance(event, events.ServiceState):
            self.serviceState.emit(event.service, event.state, event.detail)
        elif isinstance(event, events.SettingsChanged):
            self.settingsChanged.emit(list(event.keys))
