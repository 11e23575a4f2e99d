"""The ngrok tunnel against a stand-in agent that pyngrok starts as a real process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading

import pytest

from desktop_app.core import events, tunnel as tunnel_module
from desktop_app.core.app import AppOptions, DeskApp
from desktop_app.core.outbox import RetryPolicy
from desktop_app.core.tunnel import Tunnel, end_stale_agent, find_agent
from tests.conftest import SignedClient, make_app, twilio_env
from tests.helpers import SALES_LINE, add_team, call_sid, contact_by_phone, status_params, wait_until
from tests.standins.ngrok_agent import FakeAgent
from tests.standins.ringcentral_api import (CLIENT_ID, CLIENT_SECRET, JWT, VERIFICATION_TOKEN,
                                            RingCentralStandIn)
from tests.standins.twilio_api import AUTH_TOKEN, Number

TOKEN = "2abcDEFghiJKLmnoPQRstu_3VwXyZ0123456789abcdEFG"
URL_A = "https://3f2a-203-0-113-7.ngrok-free.app"
URL_B = "https://91c4-198-51-100-23.ngrok-free.app"
CALLER = "+12125550143"
OFFICE_LINE = "+13125550177"


@pytest.fixture
def agent(tmp_path):
    fake = FakeAgent(tmp_path / "agent-bin", public_url=URL_A)
    yield fake
    for pid in fake.live_pids():  # a failed test must not leave agents behind
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def agent_env(agent: FakeAgent, token: str | None = TOKEN, **extra) -> dict:
    env = {"MCD_NGROK_PATH": str(agent.path), "MCD_BROKERAGE_NAME": "Harbor Point Mortgage"}
    if token:
        env["MCD_NGROK_AUTHTOKEN"] = token
    env.update(extra)
    return env


class TunnelEvents:
    """Records the tunnel's ServiceState events with ctx.tunnel_url as it was at each one."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.seen: list[tuple[str, str, str | None]] = []
        self.notifications: list[events.Notification] = []
        self._changed = threading.Condition()
        self.unsubscribe = ctx.bus.subscribe(self._on_event)

    def _on_event(self, event) -> None:
        with self._changed:
            if isinstance(event, events.ServiceState) and event.service == "tunnel":
                self.seen.append((event.state, event.detail, self.ctx.tunnel_url))
            elif isinstance(event, events.Notification):
                self.notifications.append(event)
            self._changed.notify_all()

    def wait_for(self, state: str, count: int = 1, timeout: float = 15.0) -> tuple:
        with self._changed:
            ok = self._changed.wait_for(
                lambda: len([s for s in self.seen if s[0] == state]) >= count, timeout)
            assert ok, f"no tunnel state {state!r} (x{count}) in time; seen {self.seen}"
            return [s for s in self.seen if s[0] == state][count - 1]

    def states(self) -> list[str]:
        with self._changed:
            return [s[0] for s in self.seen]


def started(data_dir, env: dict) -> DeskApp:
    desk = make_app(data_dir, env)
    desk.start()
    return desk


def fast_tunnel(ctx, **kwargs) -> Tunnel:
    kwargs.setdefault("startup_timeout", 5)
    kwargs.setdefault("retry_delays", (0.05,))
    kwargs.setdefault("watch_interval", 0.05)
    return Tunnel(ctx, **kwargs)


@pytest.fixture
def desk_with(data_dir):
    made: list[DeskApp] = []

    def make(env: dict) -> DeskApp:
        desk = started(data_dir, env)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        if desk.started:
            desk.stop()


# -- up, and through it --------------------------------------------------------------------------

def test_tunnel_up_forwards_signed_webhooks(data_dir, agent, twilio_api):
    env = twilio_env(twilio_api)
    del env["MCD_PUBLIC_URL"]
    env.update(agent_env(agent))
    desk = DeskApp(AppOptions(data_dir=data_dir, port=0, tunnel=True, start_scheduler=False,
                              send_interval=0.0, retry=RetryPolicy(max_attempts=2, base_delay=0.01)),
                   environ=env)
    recorder = TunnelEvents(desk.ctx)
    desk.start()
    try:
        state, detail, url_then = recorder.wait_for("up")
        assert (detail, url_then) == (URL_A, URL_A)
        assert desk.tunnel.public_url == URL_A
        assert desk.tunnel.problem is None
        assert desk.ctx.public_url() == URL_A

        [start] = agent.records("start")
        argv = start["argv"]
        assert argv[:4] == ["start", "--none", "--log", "stdout"]
        assert argv[argv.index("--authtoken") + 1] == TOKEN
        assert argv[argv.index("--region") + 1] == "us"
        assert argv[argv.index("--config") + 1] == str(data_dir / "ngrok" / "ngrok.yml")
        [created] = agent.records("tunnel")
        assert created["body"] == {"name": "missed-call-desk", "proto": "http", "schemes": ["https"],
                                   "addr": f"127.0.0.1:{desk.ctx.listen_port}"}
        pid_record = json.loads((data_dir / "ngrok" / "agent.json").read_text())
        assert pid_record["pid"] == start["pid"]
        assert pid_record["path"] == str(agent.path)

        # A missed call signed for the public URL, delivered through the tunnel's forwarder.
        forward_port = int(created["forward"].rsplit(":", 1)[1])
        client = SignedClient(forward_port, public_url=URL_A, token=AUTH_TOKEN, settle=desk.settle)
        try:
            response = client.post("/twilio/call-status",
                                   status_params(call_sid(), CALLER, SALES_LINE, status="no-answer"))
        finally:
            client.close()
        assert response.status_code == 204, response.text
        assert contact_by_phone(desk.ctx, CALLER) is not None
    finally:
        desk.stop()
    assert agent.live_pids() == []
    assert not (data_dir / "ngrok" / "agent.json").exists()
    assert desk.ctx.tunnel_url is None
    assert recorder.states()[-1] == "stopped"
    assert agent.records("exit")[-1]["code"] == 0  # asked to exit, not killed


def test_public_url_env_skips_tunnel(desk_with, agent):
    desk = desk_with(agent_env(agent, MCD_PUBLIC_URL="https://desk.example.test"))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    assert recorder.seen[-1][0] == "off"
    assert "MCD_PUBLIC_URL is set" in recorder.seen[-1][1]
    assert tunnel.problem is None
    assert agent.records("start") == []


# -- down, with the cause and the fix ------------------------------------------------------------

def test_no_authtoken_explains_fix(desk_with, agent):
    desk = desk_with(agent_env(agent, token=None))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    state, detail, url_then = recorder.wait_for("down")
    assert tunnel.problem == detail == tunnel_module.NO_AUTHTOKEN
    assert "dashboard.ngrok.com" in detail
    assert "Settings > ngrok" in detail
    assert "MCD_PUBLIC_URL" in detail
    assert url_then is None
    assert desk.ctx.public_url() is None
    wait_until(lambda: not tunnel.running)
    assert agent.records("start") == []
    assert desk.listener.running
    tunnel.stop()


def test_missing_agent_never_downloaded(desk_with, agent, tmp_path, monkeypatch):
    from pyngrok import installer

    downloads = []
    monkeypatch.setattr(installer, "install_ngrok", lambda *a, **k: downloads.append(a))
    monkeypatch.setattr(installer, "_download_file", lambda *a, **k: downloads.append(a))
    missing = tmp_path / "nowhere" / "ngrok"
    desk = desk_with(agent_env(agent, MCD_NGROK_PATH=str(missing)))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    _state, detail, _url = recorder.wait_for("down")
    assert str(missing) in detail
    assert "does not exist" in detail
    wait_until(lambda: not tunnel.running)
    assert downloads == []
    tunnel.stop()

    # Without a configured path: PATH, then pyngrok's folder, then a plain instruction.
    desk.ctx.environ.pop("MCD_NGROK_PATH")
    desk.ctx.environ.update({"PATH": str(tmp_path / "empty-bin"), "HOME": str(tmp_path / "home")})
    desk.ctx.environ.pop("XDG_CONFIG_HOME", None)
    path, problem = find_agent(desk.ctx)
    assert path is None
    assert "ngrok.com/download" in problem
    assert "never downloads" in problem
    desk.ctx.environ["PATH"] = str(agent.folder)
    assert find_agent(desk.ctx) == (agent.path, None)


def test_refused_authtoken_shows_message(desk_with, agent, caplog):
    agent.configure(mode="auth_error")
    desk = desk_with(agent_env(agent))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    with caplog.at_level(logging.DEBUG):
        tunnel.start_in_background()
        _state, detail, _url = recorder.wait_for("down")
        wait_until(lambda: not tunnel.running)
    assert detail.startswith("ngrok refused the authtoken (authentication failed: The authtoken "
                             "you specified is properly formed, but it is invalid.")
    assert "ERR_NGROK_107" in detail
    assert "Settings > ngrok" in detail
    assert TOKEN not in detail
    assert TOKEN not in caplog.text
    assert len(agent.records("start")) == 1  # a refused token is not retried
    assert agent.live_pids() == []
    tunnel.stop()


def test_no_network_retries_until_up(desk_with, agent):
    agent.configure(mode="network_error")
    desk = desk_with(agent_env(agent))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx, startup_timeout=0.5)
    tunnel.start_in_background()
    _state, detail, _url = recorder.wait_for("down")
    assert detail.startswith("Cannot reach ngrok's servers (failed to dial ngrok server with "
                             'address "connect.us.ngrok-agent.com:443"')
    assert "no such host" in detail
    assert "port 443" in detail
    agent.configure(mode="ok")
    recorder.wait_for("up")
    assert len(agent.records("start")) >= 2
    assert tunnel.problem is None
    tunnel.stop()
    assert agent.live_pids() == []


def test_stop_during_start_leaves_nothing(desk_with, agent):
    agent.configure(mode="network_error")
    desk = desk_with(agent_env(agent))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx, startup_timeout=60)
    tunnel.start_in_background()
    wait_until(lambda: agent.records("web"))
    tunnel.stop()
    assert not tunnel.running
    assert agent.live_pids() == []
    assert recorder.states()[-1] == "stopped"


def test_dead_agent_is_restarted(desk_with, agent):
    desk = desk_with(agent_env(agent))
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up")
    [first] = agent.live_pids()
    os.kill(first, signal.SIGKILL)
    _state, detail, url_then = recorder.wait_for("down")
    assert detail.startswith("The ngrok agent exited unexpectedly (exit code -9")
    assert url_then is None
    recorder.wait_for("up", count=2)
    assert agent.live_pids() != [first]
    assert len(agent.live_pids()) == 1
    tunnel.stop()
    assert agent.live_pids() == []


# -- an agent left behind ------------------------------------------------------------------------

def _run_agent_by_hand(agent: FakeAgent, data_dir) -> subprocess.Popen:
    config = data_dir / "ngrok" / "ngrok.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('version: "2"\n')
    proc = subprocess.Popen([str(agent.path), "start", "--none", "--log", "stdout", "--config",
                             str(config), "--authtoken", TOKEN], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "tunnel session started" in line:
            return proc
    raise AssertionError("the hand-started agent did not come up")


def test_stale_agent_is_ended(desk_with, agent, data_dir):
    stale = _run_agent_by_hand(agent, data_dir)
    try:
        # What a run that crashed after starting its agent leaves in the data folder.
        tunnel_module._record_agent(data_dir, stale.pid, agent.path)
        desk = desk_with(agent_env(agent))
        recorder = TunnelEvents(desk.ctx)
        tunnel = fast_tunnel(desk.ctx)
        tunnel.start_in_background()
        recorder.wait_for("up")
        assert stale.wait(5) == 0  # asked to exit, so its ngrok session closed cleanly
        assert [r for r in agent.records("exit") if r["pid"] == stale.pid]
        tunnel.stop()
        assert agent.live_pids() == []
    finally:
        if stale.poll() is None:
            stale.kill()
        stale.wait()
        stale.stdout.close()


def test_foreign_agent_left_alone(desk_with, agent, data_dir):
    foreign = _run_agent_by_hand(agent, data_dir)
    try:
        desk = desk_with(agent_env(agent))
        recorder = TunnelEvents(desk.ctx)
        tunnel = fast_tunnel(desk.ctx, retry_delays=(60.0,))
        tunnel.start_in_background()
        _state, detail, _url = recorder.wait_for("down")
        assert "Another ngrok agent is already connected with this authtoken" in detail
        assert "ERR_NGROK_108" in detail
        assert foreign.poll() is None
        tunnel.stop()
    finally:
        foreign.terminate()
        foreign.wait(5)
        foreign.stdout.close()


def test_reused_pid_not_killed(data_dir, agent):
    # The pid was reused by a process that is not our agent (here: this test run).
    tunnel_module._record_agent(data_dir, os.getpid(), agent.path)
    assert end_stale_agent(data_dir) is None
    assert not (data_dir / "ngrok" / "agent.json").exists()


# -- a new public URL ---------------------------------------------------------------------------

OLD_TUNNEL = "https://0d1e-192-0-2-44.ngrok-free.app"


def _numbers(twilio_api) -> dict:
    twilio_api.numbers = [
        Number("PN" + "1" * 32, SALES_LINE, "Zillow line", voice_url=OLD_TUNNEL + "/twilio/voice",
               status_callback=OLD_TUNNEL + "/twilio/call-status", sms_url=OLD_TUNNEL + "/twilio/sms"),
        # Not routed, but wired by an earlier tunnel of this app.
        Number("PN" + "2" * 32, OFFICE_LINE, "Office", voice_url=OLD_TUNNEL + "/twilio/voice"),
        # Someone else's webhooks: never touched.
        Number("PN" + "3" * 32, "+16465550188", "Fax line", voice_url="https://crm.example.com/voice"),
    ]
    return {n.phone_number: n for n in twilio_api.numbers}


def _tunnel_twilio_env(twilio_api, agent) -> dict:
    env = twilio_env(twilio_api)
    del env["MCD_PUBLIC_URL"]
    env.update(agent_env(agent))
    return env


def test_new_url_rewires_twilio_numbers(desk_with, agent, twilio_api):
    numbers = _numbers(twilio_api)
    desk = desk_with(_tunnel_twilio_env(twilio_api, agent))
    add_team(desk.ctx)
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=2)  # up, then up again once the numbers are re-pointed
    assert numbers[SALES_LINE].voice_url == URL_A + "/twilio/voice"
    assert numbers[SALES_LINE].sms_url == URL_A + "/twilio/sms"
    assert numbers[OFFICE_LINE].voice_url == URL_A + "/twilio/voice"
    tunnel.stop()

    # ngrok's free URLs change when the agent restarts.
    agent.configure(public_url=URL_B)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=4)
    assert tunnel.public_url == URL_B
    assert tunnel.problem is None
    for phone in (SALES_LINE, OFFICE_LINE):
        assert numbers[phone].voice_url == URL_B + "/twilio/voice"
        assert numbers[phone].status_callback == URL_B + "/twilio/call-status"
        assert numbers[phone].sms_url == URL_B + "/twilio/sms"
    assert numbers["+16465550188"].voice_url == "https://crm.example.com/voice"
    assert {c.phone for c in tunnel.status().rewired} == {SALES_LINE, OFFICE_LINE}
    assert recorder.notifications == []
    tunnel.stop()


def test_twilio_unreachable_is_flagged(desk_with, agent, twilio_api):
    _numbers(twilio_api)
    env = _tunnel_twilio_env(twilio_api, agent)
    env["MCD_TWILIO_API_URL"] = "http://127.0.0.1:9"  # nothing listens: Twilio is unreachable
    desk = desk_with(env)
    add_team(desk.ctx)
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=2)
    assert tunnel.public_url == URL_A  # the tunnel itself is fine
    assert tunnel.problem.startswith(f"Could not read the Twilio numbers to point them at {URL_A}")
    assert "Configure my Twilio number" in tunnel.problem
    [note] = recorder.notifications
    assert note.kind == "tunnel"
    assert note.text == tunnel.problem
    tunnel.stop()


def test_no_twilio_credentials_is_flagged(desk_with, agent):
    desk = desk_with(agent_env(agent))
    add_team(desk.ctx)
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up")
    assert tunnel.problem is None  # first URL: nothing was wired before
    tunnel.stop()
    agent.configure(public_url=URL_B)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=3)
    assert tunnel.problem.startswith(f"The public URL changed from {URL_A} to {URL_B}, but no "
                                     "Twilio credentials are set, so (212) 555-0100 still sends")
    assert recorder.notifications[-1].text == tunnel.problem
    tunnel.stop()


def test_rewiring_off_is_flagged(desk_with, agent, twilio_api):
    numbers = _numbers(twilio_api)
    desk = desk_with(_tunnel_twilio_env(twilio_api, agent))
    add_team(desk.ctx)
    desk.ctx.settings.set("tunnel.rewire_twilio", False)
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=2)
    assert "automatic re-wiring is off" in tunnel.problem
    assert numbers[SALES_LINE].voice_url == OLD_TUNNEL + "/twilio/voice"
    assert not [r for r in twilio_api.requests if r.method == "POST"]
    tunnel.stop()


def test_lost_session_follows_new_url(desk_with, agent, twilio_api):
    numbers = _numbers(twilio_api)
    desk = desk_with(_tunnel_twilio_env(twilio_api, agent))
    add_team(desk.ctx)
    recorder = TunnelEvents(desk.ctx)
    tunnel = fast_tunnel(desk.ctx)
    tunnel.start_in_background()
    recorder.wait_for("up", count=2)
    [pid] = agent.live_pids()

    agent.configure(public_url=URL_B)
    os.kill(pid, signal.SIGUSR1)
    _state, detail, url_then = recorder.wait_for("reconnecting")
    assert detail.startswith("Lost the connection to ngrok's servers (")
    assert "the agent is reconnecting by itself" in detail
    assert url_then == URL_A  # the old URL stays until the agent reports the new one
    recorder.wait_for("up", count=4)
    assert tunnel.public_url == desk.ctx.tunnel_url == URL_B
    assert tunnel.problem is None
    assert numbers[SALES_LINE].voice_url == URL_B + "/twilio/voice"
    assert agent.live_pids() == [pid]  # the same agent: no restart was needed
    tunnel.stop()


def test_ringcentral_subscription_follows_url(data_dir, agent):
    with RingCentralStandIn() as ringcentral_api:
        env = agent_env(agent, MCD_RINGCENTRAL_CLIENT_ID=CLIENT_ID,
                        MCD_RINGCENTRAL_CLIENT_SECRET=CLIENT_SECRET, MCD_RINGCENTRAL_JWT=JWT,
                        MCD_RINGCENTRAL_API_URL=ringcentral_api.url,
                        MCD_RINGCENTRAL_VERIFICATION_TOKEN=VERIFICATION_TOKEN)
        desk = make_app(data_dir, env)
        ringcentral_api.delivery_target = \
            lambda: f"http://127.0.0.1:{desk.ctx.listen_port}/ringcentral/webhook"
        desk.start()
        try:
            tunnel = desk.tunnel = fast_tunnel(desk.ctx)
            tunnel.start_in_background()
            [created] = ringcentral_api.wait_for("POST", r"/subscription$", 1)
            assert created.body["deliveryMode"]["address"] == URL_A + "/ringcentral/webhook"
            tunnel.stop()

            agent.configure(public_url=URL_B)
            tunnel.start_in_background()
            ringcentral_api.wait_for("POST", r"/subscription$", 2)
            [sub] = wait_until(lambda: [s for s in ringcentral_api.subscriptions.values()
                                        if s.address == URL_B + "/ringcentral/webhook"])
            assert len(ringcentral_api.subscriptions) == 1
        finally:
            desk.stop()
        assert agent.live_pids() == []
