"""The tunnel panel up (with the Twilio numbers just wired) and down with a problem, for the README."""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop_app.core import directory
from desktop_app.core.app import AppOptions, DeskApp
from desktop_app.core.tunnel import Tunnel
from desktop_app.ui.tunnel_panel import TunnelPanel
from tests.standins.ngrok_agent import FakeAgent
from tests.standins.twilio_api import ACCOUNT_SID, AUTH_TOKEN, Number, TwilioStandIn

PUBLIC_URL = "https://3f2a-203-0-113-7.ngrok-free.app"
OLD_URL = "https://0d1e-192-0-2-44.ngrok-free.app"
SIZE = (1000, 470)


def _desk(data_dir: Path, env: dict) -> DeskApp:
    desk = DeskApp(AppOptions(data_dir=data_dir, port=0, tunnel=False, start_scheduler=False),
                   environ=env)
    desk.start()
    desk.tunnel = Tunnel(desk.ctx, watch_interval=0.1)
    return desk


def _wait(app: QApplication, predicate, seconds: float = 15.0) -> None:
    from tests.ui.screenshots import settle  # noqa: PLC0415

    for _ in range(int(seconds * 10)):
        if predicate():
            return
        settle(app, 100)
    raise RuntimeError("the tunnel panel did not reach the state to capture")


def tunnel_up(out_dir: Path, app: QApplication) -> None:
    from tests.ui.screenshots import settle  # noqa: PLC0415

    root = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    agent = FakeAgent(root / "agent", public_url=PUBLIC_URL)
    with TwilioStandIn() as twilio:
        twilio.numbers = [Number("PN" + "1" * 32, "+12125550100", "Zillow line",
                                 voice_url=OLD_URL + "/twilio/voice",
                                 status_callback=OLD_URL + "/twilio/call-status",
                                 sms_url=OLD_URL + "/twilio/sms")]
        env = {"MCD_NGROK_PATH": str(agent.path), "MCD_NGROK_AUTHTOKEN": "screenshot-token",
               "MCD_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "MCD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "MCD_TWILIO_API_URL": twilio.url}
        desk = _desk(root / "data", env)
        desk.ctx.db.write(lambda uow: directory.save_route(uow, directory.RouteInput(
            "+12125550100", lead_source="zillow")))
        # Manual wiring is what the screenshot shows, so the automatic one is off here.
        desk.ctx.settings.set("tunnel.rewire_twilio", False)
        panel = TunnelPanel(desk)
        panel.resize(*SIZE)
        panel.show()
        panel.start_button.click()
        _wait(app, lambda: panel.wire_button.isEnabled())
        panel.wire_button.click()
        _wait(app, lambda: panel.wire_result.text().startswith("Updated"))
        settle(app, 300)
        panel.grab().save(str(out_dir / "tunnel.png"))
        panel.close()
        desk.stop()


def tunnel_problem(out_dir: Path, app: QApplication) -> None:
    from tests.ui.screenshots import settle  # noqa: PLC0415

    root = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    agent = FakeAgent(root / "agent", public_url=PUBLIC_URL)
    desk = _desk(root / "data", {"MCD_NGROK_PATH": str(agent.path)})
    panel = TunnelPanel(desk)
    panel.resize(*SIZE)
    panel.show()
    panel.start_button.click()
    _wait(app, lambda: panel.problem_box.isVisible())
    settle(app, 300)
    panel.grab().save(str(out_dir / "tunnel-problem.png"))
    panel.close()
    desk.stop()
