"""The app as a separate process: headless start, a test call from the CLI, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCD_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    return env


def start_headless(data_dir, port, env=None):
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--headless", "--no-tunnel", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or clean_env())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"app exited: {process.stderr.read()}")
            time.sleep(0.05)
    process.kill()
    raise AssertionError("app did not start listening")


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True,
                          text=True, env=env or clean_env(), timeout=60)


def test_headless_simulate_export_and_sigterm(tmp_path):
    port = free_port()
    process = start_headless(tmp_path, port)
    try:
        result = run_cli("simulate", "--port", str(port), "--data-dir", str(tmp_path),
                         "--caller", "(212) 555-0143", "--seconds", "15")
        assert result.returncode == 0, result.stderr
        assert "/twilio/call-status 204" in result.stdout
        assert "Decision: missed, inquiry" in result.stdout
        assert "sandbox mode" in result.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Stopped cleanly" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free again

    exported = run_cli("export", "--data-dir", str(tmp_path), "--format", "json")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data[0]["phone"] == "+12125550143"
    assert data[0]["calls"][0]["seconds"] == 15
    csv_out = run_cli("export", "--data-dir", str(tmp_path), "--format", "csv")
    assert csv_out.stdout.startswith("record,phone")


def test_simulate_rejects_impossible_number(tmp_path):
    result = run_cli("simulate", "--port", "1", "--data-dir", str(tmp_path), "--caller", "12345")
    assert result.returncode == 2
    assert "--caller" in result.stderr
    assert "is not a valid phone number" in result.stderr


def test_simulate_without_app_says_so(tmp_path):
    result = run_cli("simulate", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no app is listening" in result.stderr


def test_sigint_stops_headless_cleanly(tmp_path):
    port = free_port()
    process = start_headless(tmp_path, port)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Stopped cleanly" in err


KILL_SETTINGS = """
format = 1
[caps]
per_hour = 10
per_day = 10
[sequence.steps]
hot = []
accidental = []
inquiry = [
  {name = "first_text", channel = "sms", template = "first_text", offset_minutes = 0},
  {name = "sms_24h", channel = "sms", template = "sms_24h", offset_minutes = 0},
  {name = "nurture_3d", channel = "sms", template = "nurture_3d", offset_minutes = 0},
]
"""


def test_sigkill_mid_send_no_loss_or_repeat(tmp_path, twilio_api):
    from tests.conftest import twilio_env
    from tests.standins.twilio_api import Failure

    settings = tmp_path / "settings.toml"
    settings.write_text(KILL_SETTINGS)
    assert run_cli("settings", "import", str(settings), "--data-dir", str(tmp_path)).returncode == 0
    env = {**clean_env(), **twilio_env(twilio_api)}
    port = free_port()
    process = start_headless(tmp_path, port, env=env)
    twilio_api.fail_message(2, Failure(hang=30))  # keeps the second send in flight
    try:
        result = run_cli("simulate", "--port", str(port), "--data-dir", str(tmp_path),
                         "--caller", "+12125550143", "--seconds", "12", env=env)
        assert result.returncode == 0, result.stderr
        twilio_api.wait_for_messages(2, timeout=20)
    finally:
        process.kill()  # SIGKILL while the second request waits for Twilio's response
        process.wait(timeout=10)
    assert len(twilio_api.sent()) == 1  # the stand-in never responded to the second one

    process = start_headless(tmp_path, port, env=env)
    try:
        twilio_api.wait_for_messages(3, timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    bodies = [r.form["Body"] for r in twilio_api.message_requests()]
    assert len(bodies) == 3
    assert len(set(bodies)) == 3  # no text requested twice

    exported = json.loads(run_cli("export", "--data-dir", str(tmp_path), env=env).stdout)
    statuses = {s["name"]: s["status"] for s in exported[0]["steps"]}
    assert statuses == {"first_text": "sent", "sms_24h": "needs_review", "nurture_3d": "sent"}


def test_window_app_quits_cleanly_on_sigterm(tmp_path):
    env = clean_env()
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--no-tunnel", "--port", str(port),
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Listener stopped" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    for pid in children.stdout.split():
        assert not os.path.exists(f"/proc/{pid}"), f"child process {pid} outlived the app"


def test_stop_leaves_no_app_thread(tmp_path, twilio_api):
    import threading

    from tests.conftest import SignedClient, make_app, twilio_env
    from tests.helpers import GENERAL_LINE, call_sid, status_params

    before = {t.ident for t in threading.enumerate()}
    desk = make_app(tmp_path, twilio_env(twilio_api), start_scheduler=True)
    desk.start()
    client = SignedClient(desk.ctx.listen_port, settle=desk.settle)
    client.post("/twilio/call-status", status_params(call_sid(), "+12125550143", GENERAL_LINE,
                                                     status="no-answer", duration=12))
    desk.outbox.wait_idle()
    client.close()
    desk.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left:
            break
        time.sleep(0.05)
    assert [t.name for t in left] == []
