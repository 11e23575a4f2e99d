"""The board model and main window, driven with pytest-qt against a running app."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop_app.ui.board_model import (COL_FIRST_TEXT, COL_INTENT, COL_STATUS, BoardModel,
                                        IntentRole)
from desktop_app.ui.main_window import MainWindow
from tests.helpers import GENERAL_LINE, add_team, call_sid, message_sid, sms_params, status_params

pytestmark = pytest.mark.gui


def miss(client, caller, seconds):
    response = client.post("/twilio/call-status", status_params(
        call_sid(), caller, GENERAL_LINE, status="no-answer", duration=seconds))
    assert response.status_code == 204


@pytest.fixture
def window(qtbot, app):
    win = MainWindow(app)
    qtbot.addWidget(win)
    win.show()
    return win


def test_model_passes_qtmodeltester(qapp, qtmodeltester, app, client):
    for seconds, caller in ((2, "+12125550101"), (9, "+12125550102"), (30, "+12125550103")):
        miss(client, caller, seconds)
    app.outbox.wait_idle()
    model = BoardModel(app.ctx.db)
    model.reload()
    assert model.rowCount() == 3
    qtmodeltester.check(model)


def test_board_is_newest_first_with_intent_colors(qapp, app, client):
    miss(client, "+12125550101", 2)
    miss(client, "+12125550102", 30)
    model = BoardModel(app.ctx.db)
    model.reload()
    assert model.index(0, 0).data(IntentRole) == "hot"
    assert model.index(1, 0).data(IntentRole) == "accidental"
    hot_brush = model.index(0, COL_INTENT).data(Qt.ItemDataRole.BackgroundRole)
    grey_brush = model.index(1, COL_INTENT).data(Qt.ItemDataRole.BackgroundRole)
    assert hot_brush.color().name() == "#e53935"
    assert grey_brush.color().name() == "#9e9e9e"


def test_board_updates_live_as_webhooks_arrive(qtbot, window, app, client, twilio_api):
    assert window.model.rowCount() == 0
    inserted = []
    window.model.rowsInserted.connect(lambda *_: inserted.append(1))
    miss(client, "+12125550143", 12)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    app.outbox.wait_idle()
    qtbot.waitUntil(lambda: window.model.index(0, COL_FIRST_TEXT).data() == "Queued", timeout=5000)
    assert inserted == [1]


def test_reply_changes_status_in_place(qtbot, window, app, client, twilio_api):
    miss(client, "+12125550143", 12)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    resets = []
    window.model.modelReset.connect(lambda: resets.append(1))
    client.post("/twilio/sms", sms_params(message_sid(), "+12125550143", GENERAL_LINE,
                                          body="Call me at 4"))
    qtbot.waitUntil(lambda: window.model.index(0, COL_STATUS).data().startswith("Replied"),
                    timeout=5000)
    assert resets == []


def test_test_call_button_runs_the_simulate_path(qtbot, window, app, twilio_api):
    add_team(app.ctx)
    with qtbot.waitSignal(window.testCallFinished, timeout=10000) as blocker:
        qtbot.mouseClick(window.test_call_button, Qt.MouseButton.LeftButton)
    result, error = blocker.args
    assert error is None
    assert result.ok
    assert [path for path, _ in result.steps] == ["/twilio/voice", "/twilio/dial-action",
                                                  "/twilio/call-status"]
    twilio_api.wait_for_messages(1)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)


def test_filters_and_search(qtbot, window, app, client):
    miss(client, "+12125550101", 2)
    miss(client, "+13125550102", 30)
    miss(client, "+16025550103", 9)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    qtbot.mouseClick(window.filter_buttons["hot"], Qt.MouseButton.LeftButton)
    assert window.proxy.rowCount() == 1
    qtbot.mouseClick(window.filter_buttons["all"], Qt.MouseButton.LeftButton)
    qtbot.keyClicks(window.search, "(602) 555")
    assert window.proxy.rowCount() == 1
    window.search.clear()
    assert window.proxy.rowCount() == 3
