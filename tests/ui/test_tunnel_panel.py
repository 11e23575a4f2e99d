"""The tunnel panel on a running app with the stand-in ngrok agent and the Twilio stand-in."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_app.core import tunnel as tunnel_module
from desktop_app.ui.tunnel_panel import TunnelPanel
from tests.conftest import twilio_env
from tests.helpers import SALES_LINE, add_team
from tests.standins.twilio_api import Number
from tests.test_tunnel import URL_A, agent, agent_env, desk_with, fast_tunnel  # noqa: F401

pytestmark = pytest.mark.gui

OLD = "https://0d1e-192-0-2-44.ngrok-free.app"


def open_panel(qtbot, desk) -> TunnelPanel:
    desk.tunnel = fast_tunnel(desk.ctx)
    panel = TunnelPanel(desk)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def stop(qtbot, panel: TunnelPanel) -> None:
    if panel.stop_button.isEnabled():
        with qtbot.waitSignal(panel.stopFinished, timeout=15000):
            qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)


def test_panel_shows_url_and_copies_it(qtbot, desk_with, agent):
    desk = desk_with(agent_env(agent))
    panel = open_panel(qtbot, desk)
    assert panel.state_pill.text() == "Stopped"
    assert not panel.copy_button.isEnabled()

    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_pill.text() == "Up", timeout=15000)
    assert panel.url_field.text() == URL_A
    assert panel.problem_box.isHidden()
    assert panel.target_label.text() == f"http://127.0.0.1:{desk.ctx.listen_port}"
    assert panel.agent_label.text() == f"{agent.path}, region us"
    assert f"Voice: {URL_A}/twilio/voice" in panel.webhooks_label.text()
    assert panel.wire_hint.isHidden()
    assert not panel.start_button.isEnabled()

    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == URL_A

    stop(qtbot, panel)
    assert panel.state_pill.text() == "Stopped"
    assert panel.url_field.text() == ""
    assert agent.live_pids() == []


def test_panel_shows_problem_and_fix(qtbot, desk_with, agent):
    desk = desk_with(agent_env(agent, token=None))
    panel = open_panel(qtbot, desk)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_pill.text() == "Down", timeout=15000)
    assert panel.problem_label.text() == tunnel_module.NO_AUTHTOKEN
    assert panel.problem_box.isVisible()
    assert not panel.copy_button.isEnabled()
    assert not panel.wire_button.isEnabled()
    assert "No public https URL yet" in panel.wire_button.toolTip()
    assert panel.wire_hint.isVisible()
    assert panel.start_button.isEnabled()


def test_configure_twilio_lists_what_changed(qtbot, desk_with, agent, twilio_api):
    twilio_api.numbers = [Number("PN" + "1" * 32, SALES_LINE, "Zillow line",
                                 voice_url=OLD + "/twilio/voice")]
    env = twilio_env(twilio_api)
    del env["MCD_PUBLIC_URL"]
    env.update(agent_env(agent))
    desk = desk_with(env)
    add_team(desk.ctx)
    desk.ctx.settings.set("tunnel.rewire_twilio", False)
    panel = open_panel(qtbot, desk)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "automatic re-wiring is off" in panel.problem_label.text(),
                    timeout=15000)

    with qtbot.waitSignal(panel.wireFinished, timeout=15000) as finished:
        qtbot.mouseClick(panel.wire_button, Qt.MouseButton.LeftButton)
    changes, error = finished.args
    assert error == ""
    assert {c.field for c in changes} == {"voice_url", "status_callback", "sms_url"}
    assert panel.wire_result.text() == "Updated 1 number:"
    lines = panel.wire_changes.toPlainText().splitlines()
    assert lines[0] == f"(212) 555-0100: voice URL {OLD}/twilio/voice -> {URL_A}/twilio/voice"
    assert len(lines) == 3
    assert panel.wire_changes.isVisible()
    assert twilio_api.numbers[0].sms_url == URL_A + "/twilio/sms"
    qtbot.waitUntil(lambda: panel.problem_box.isHidden())

    with qtbot.waitSignal(panel.wireFinished, timeout=15000):
        qtbot.mouseClick(panel.wire_button, Qt.MouseButton.LeftButton)
    assert panel.wire_result.text() == f"No change needed: the numbers already point at {URL_A}."
    assert panel.wire_changes.isHidden()
    stop(qtbot, panel)


def test_configure_twilio_without_credentials_says_why(qtbot, desk_with, agent):
    desk = desk_with(agent_env(agent))
    panel = open_panel(qtbot, desk)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.wire_button.isEnabled(), timeout=15000)
    with qtbot.waitSignal(panel.wireFinished, timeout=15000) as finished:
        qtbot.mouseClick(panel.wire_button, Qt.MouseButton.LeftButton)
    changes, error = finished.args
    assert changes == []
    assert error == ("Twilio credentials are not set (Account SID and Auth Token): add them in "
                     "Settings > Twilio, then press Configure my Twilio number again.")
    assert panel.wire_result.text() == error
    stop(qtbot, panel)


def test_panel_with_public_url_from_environment(qtbot, desk_with, agent):
    desk = desk_with(agent_env(agent, MCD_PUBLIC_URL="https://desk.example.test"))
    panel = open_panel(qtbot, desk)
    assert panel.state_pill.text() == "Not needed: MCD_PUBLIC_URL is set"
    assert panel.url_field.text() == "https://desk.example.test"
    assert not panel.start_button.isEnabled()
    assert panel.wire_button.isEnabled()
