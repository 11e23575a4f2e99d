"""The board model and main window, driven with pytest-qt against a running app."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop_app.ui.board_model import (COL_FIRST_TEXT, COL_INTENT, COL_STATUS, BoardModel,
                                        ContactIdRole, IntentRole)
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
    assert window.model.rowCount() == 1
    qtbot.mouseClick(window.filter_buttons["all"], Qt.MouseButton.LeftButton)
    qtbot.keyClicks(window.search, "(602) 555")
    assert window.model.rowCount() == 1
    window.search.clear()
    assert window.model.rowCount() == 3


def test_live_update_keeps_sorted_order(qapp, qtmodeltester, app, client):
    from desktop_app.ui.board_model import COL_SECONDS

    for seconds, caller in ((9, "+12125550101"), (30, "+12125550102"), (5, "+12125550103")):
        miss(client, caller, seconds)
    model = BoardModel(app.ctx.db)
    model.reload()
    model.sort(COL_SECONDS, Qt.SortOrder.AscendingOrder)
    assert [model.index(r, COL_SECONDS).data() for r in range(3)] == ["5", "9", "30"]
    miss(client, "+12125550104", 12)
    model.apply_now()  # nothing queued yet: the new call arrives through call_changed
    from sqlmodel import select

    from desktop_app.core import models

    with app.ctx.db.read() as session:
        newest = session.exec(select(models.Call).order_by(models.Call.id.desc())).first()
    model.call_changed(newest.id)
    model.apply_now()
    assert [model.index(r, COL_SECONDS).data() for r in range(4)] == ["5", "9", "12", "30"]
    qtmodeltester.check(model)


def test_filtered_row_leaves_when_it_stops_matching(qapp, app, client):
    miss(client, "+12125550143", 12)
    model = BoardModel(app.ctx.db)
    model.reload()
    model.set_mode("open")
    assert model.rowCount() == 1
    removed = []
    model.rowsRemoved.connect(lambda *_: removed.append(1))
    client.post("/twilio/sms", sms_params(message_sid(), "+12125550143", GENERAL_LINE, body="hi"))
    contact_id = model.index(0, 0).data(ContactIdRole)
    model.contact_changed(contact_id)
    model.apply_now()
    assert model.rowCount() == 0
    assert removed == [1]
    model.set_mode("replied")
    assert model.rowCount() == 1


def test_search_by_name_and_digits(qapp, app, client):
    from desktop_app.core import contacts

    miss(client, "+12125550143", 12)
    miss(client, "+13125550177", 12)
    model = BoardModel(app.ctx.db)
    model.reload()
    contact_id = [model.index(r, 0).data(ContactIdRole) for r in range(2)
                  if "0143" in model.index(r, 1).data()][0]
    app.ctx.db.write(contacts.update_details, contact_id, app.ctx.clock.now(), first_name="Maria",
                     last_name="Garcia")
    model.reload()
    model.set_search("garcia")
    assert model.rowCount() == 1
    model.set_search("555-0177")
    assert model.rowCount() == 1
    assert "(312) 555-0177" in model.index(0, 1).data()
    model.set_search("")
    assert model.rowCount() == 2
