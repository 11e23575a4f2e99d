"""Shared fixtures: a data folder, the Twilio stand-in, a running app and a signed-request client."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

# Never touch the developer's real keyring or display settings from tests.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for _name in list(os.environ):
    if _name.startswith("MCD_"):
        del os.environ[_name]

from desktop_app.core.app import AppOptions, DeskApp  # noqa: E402
from desktop_app.core.outbox import RetryPolicy  # noqa: E402
from tests.standins.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, sign  # noqa: E402

PUBLIC_URL = "https://desk.example.test"
# Tests on the real clock must not depend on the hour they run at: the office is open all
# day, so the first text is always the office-hours template (the after-hours one is
# tested on a hand-moved clock).
ALWAYS_OPEN = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def twilio_api():
    with TwilioStandIn() as standin:
        yield standin


def twilio_env(standin: TwilioStandIn, public_url: str = PUBLIC_URL) -> dict:
    return {
        "MCD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "MCD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "MCD_TWILIO_API_URL": standin.url,
        "MCD_PUBLIC_URL": public_url,
        "MCD_BROKERAGE_NAME": "Harbor Point Mortgage",
    }


class SignedClient:
    """Posts to the app's listener the way Twilio does: signed for the public URL."""

    def __init__(self, port: int, public_url: str = PUBLIC_URL, token: str = AUTH_TOKEN,
                 settle=None):
        self.port = port
        self.public_url = public_url
        self.token = token
        # Status callbacks are answered before they are processed; settle() waits for that.
        self.settle = settle
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def post(self, path: str, params: dict | list, *, signed_url: str | None = None,
             token: str | None = None, headers: dict | None = None) -> httpx.Response:
        url = signed_url or (self.public_url + path)
        signature = sign(url, params, token or self.token)
        all_headers = {"X-Twilio-Signature": signature,
                       "Content-Type": "application/x-www-form-urlencoded"}
        all_headers.update(headers or {})
        response = self.http.post(path, content=urlencode(params), headers=all_headers)
        if self.settle is not None:
            self.settle()
        return response

    def close(self) -> None:
        self.http.close()


def make_app(data_dir: Path, environ: dict, *, clock=None, port: int = 0,
             start_scheduler: bool = False, retry: RetryPolicy | None = None,
             send_interval: float = 0.0, busy_timeout_ms: int = 5000,
             open_all_day: bool | None = None) -> DeskApp:
    """A DeskApp for tests. On the real clock the office is open all day (open_all_day
    defaults to True then), so no test depends on the hour it runs at."""
    options = AppOptions(data_dir=data_dir, port=port, tunnel=False,
                         start_scheduler=start_scheduler, send_interval=send_interval,
                         retry=retry or RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
                         busy_timeout_ms=busy_timeout_ms)
    desk = DeskApp(options, clock=clock, environ=environ)
    if open_all_day if open_all_day is not None else clock is None:
        desk.ctx.settings.set("brokerage.business_hours", ALWAYS_OPEN)
    return desk


@pytest.fixture
def app(data_dir, twilio_api):
    desk = make_app(data_dir, twilio_env(twilio_api))
    desk.start()
    twilio_api.callback_target = f"http://127.0.0.1:{desk.ctx.listen_port}/twilio/message-status"
    yield desk
    desk.stop()


@pytest.fixture
def client(app):
    signed = SignedClient(app.ctx.listen_port, settle=app.settle)
    yield signed
    signed.close()
