"""The tray on a small host window, with and without a system tray."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QMainWindow

from desktop_app.core import events
from desktop_app.core.events import ServiceState
from desktop_app.ui.tray import HINT_TITLE, Tray
from tests.helpers import (GENERAL_LINE, call_sid, contact_by_phone, status_params, steps_for,
                           wait_until)

pytestmark = [
    pytest.mark.gui,
    # The offscreen platform (used when no display is set) lacks the native-interface signal
    # QSystemTrayIcon connects to, and cannot raise a window; it warns about both, Xvfb does not.
    pytest.mark.qt_log_ignore(r"QObject::connect: No such signal "
                              r"QPlatformNativeInterface::systemTrayWindowChanged",
                              r"This plugin does not support raise\(\)"),
]

CALLER = "+12125550143"


class HostWindow(QMainWindow):
    """Stands in for the main window: wires the tray the way the integrator is asked to."""

    def __init__(self, desk, **tray_options):
        super().__init__()
        self.opened: list[int] = []
        self.quit_calls = 0
        self.questions: list[str] = []
        self.answer = True
        self.tray = Tray(desk, self, ask=self._ask, quit_app=self._quit, **tray_options)
        self.tray.openContact.connect(self.opened.append)

    def _ask(self, _parent, _title: str, text: str) -> bool:
        self.questions.append(text)
        return self.answer

    def _quit(self) -> None:
        self.quit_calls += 1

    def closeEvent(self, event) -> None:
        if not self.tray.window_closing(event):
            return
        super().closeEvent(event)


@pytest.fixture
def host(qtbot, app):
    made = []

    def make(**tray_options) -> HostWindow:
        window = HostWindow(app, **tray_options)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    QApplication.instance().setQuitOnLastWindowClosed(True)


def schedule_follow_ups(app, client) -> int:
    """Miss an inquiry call: its first text goes out and the later steps stay scheduled."""
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status="no-answer", duration=9))
    app.outbox.wait_idle()
    steps = steps_for(app.ctx, contact_by_phone(app.ctx, CALLER).id)
    assert [s.status for s in steps][0] == "sent"
    return len([s for s in steps if s.status == "scheduled"])


def test_icon_follows_listener_and_public_url(qtbot, host, app):
    window = host(available=True)
    tray = window.tray
    # The app fixture sets MCD_PUBLIC_URL, so providers can reach it.
    assert tray.state == "ok"
    assert f"Listening on 127.0.0.1:{app.ctx.listen_port}" in tray.tooltip
    assert "Public URL: https://desk.example.test" in tray.tooltip
    assert tray.icon.toolTip() == tray.tooltip

    del app.ctx.environ["MCD_PUBLIC_URL"]
    app.bus.publish(ServiceState("tunnel", "down", "no authtoken"))
    qtbot.waitUntil(lambda: tray.state == "warn")
    assert "No public URL: providers cannot reach this PC" in tray.tooltip

    app.listener.stop()
    app.bus.publish(ServiceState("listener", "stopped", ""))
    qtbot.waitUntil(lambda: tray.state == "error")
    assert "Not listening: calls are not answered" in tray.tooltip


def test_badges_differ_by_state(host):
    tray = host(available=True).tray
    images = {state: icon.pixmap(64, 64).toImage() for state, icon in tray._icons.items()}
    assert images["ok"] != images["warn"] != images["error"] != images["ok"]
    assert images["ok"].pixelColor(50, 50).name() == "#2e7d32"


def test_clicked_notification_opens_the_contact(qtbot, host, app):
    window = host(available=True)
    tray = window.tray
    window.hide()
    app.bus.publish(events.Notification("hot_call", "Hot call", "(212) 555-0143 stayed 34 s", 7))
    qtbot.waitUntil(lambda: bool(tray.shown))
    assert tray.shown[-1] == ("hot_call", "Hot call", "(212) 555-0143 stayed 34 s", 7)
    with qtbot.waitSignal(tray.openContact) as opened:
        tray.icon.messageClicked.emit()
    assert opened.args == [7]
    assert window.opened == [7]
    assert window.isVisible()


def test_hot_call_notifies_and_opens_contact(qtbot, host, app, client):
    window = host(available=True)
    tray = window.tray
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status="no-answer", duration=34))
    qtbot.waitUntil(lambda: any(kind == "hot_call" for kind, *_ in tray.shown), timeout=10000)
    kind, title, _text, contact_id = [s for s in tray.shown if s[0] == "hot_call"][-1]
    assert title.startswith("Hot missed call: ")
    assert contact_id == contact_by_phone(app.ctx, CALLER).id
    with qtbot.waitSignal(tray.openContact) as opened:
        tray.icon.messageClicked.emit()
    assert opened.args == [contact_id]


def test_clicked_tunnel_notification_opens_the_panel(qtbot, host, app):
    tray = host(available=True).tray
    app.bus.publish(events.Notification("tunnel", "Twilio numbers still point at the old address",
                                        "Could not point (212) 555-0100 at ..."))
    qtbot.waitUntil(lambda: bool(tray.shown))
    with qtbot.waitSignal(tray.openTunnelPanel):
        tray.icon.messageClicked.emit()


def test_without_tray_notifications_go_to_the_status_bar(qtbot, host, app):
    window = host(available=False)
    assert window.tray.icon is None
    app.bus.publish(events.Notification("reply", "Reply from Ana Ruiz", "Yes, call me at 5", 3))
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() != "")
    assert window.statusBar().currentMessage() == "Reply from Ana Ruiz: Yes, call me at 5"


def test_closing_hides_to_tray_with_a_hint_once(qtbot, host, app):
    window = host(available=True)
    assert not QApplication.instance().quitOnLastWindowClosed()
    window.close()
    assert not window.isVisible()
    assert window.quit_calls == 0
    assert window.questions == []
    assert [s[1] for s in window.tray.shown] == [HINT_TITLE]
    wait_until(lambda: app.ctx.settings.get("ui.tray_hint_shown"))

    window.tray.show_window()
    assert window.isVisible()
    window.close()
    assert not window.isVisible()
    assert [s[1] for s in window.tray.shown] == [HINT_TITLE]


def test_without_tray_closing_asks_about_pending_steps(qtbot, host, app, client):
    scheduled = schedule_follow_ups(app, client)
    assert scheduled > 1
    window = host(available=False)
    window.answer = False
    window.close()
    assert window.isVisible()
    [question] = window.questions
    assert question.startswith(f"{scheduled} follow-up steps are scheduled. Nothing is sent "
                               "while the app is closed.")
    assert "at most 120 minutes late" in question
    assert question.endswith("Quit anyway?")

    window.answer = True
    window.close()
    assert not window.isVisible()
    assert len(window.questions) == 2


def test_without_pending_steps_closing_quits_at_once(host):
    window = host(available=False)
    window.close()
    assert not window.isVisible()
    assert window.questions == []


def test_quit_action_asks_then_quits(qtbot, host, app, client):
    schedule_follow_ups(app, client)
    window = host(available=True)
    window.answer = False
    assert window.tray.request_quit() is False
    assert window.quit_calls == 0
    window.answer = True
    window.tray.quit_action.trigger()
    assert window.quit_calls == 1
    assert len(window.questions) == 2
