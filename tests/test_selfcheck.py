"""`--self-check` from source: every check passes, and real data stays untouched."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from desktop_app.selfcheck import CheckFailed, CheckResult, SelfCheck, choose_platform

CHECKS = ("qt-platform", "images", "multimedia", "charts", "mp3-encoder", "tls", "time-zones",
          "keyring", "database", "listener", "test-call")


def run_self_check(tmp_path, *args):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MCD_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    # Where the app's real data folder would be: the check must not create it.
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    # An office proxy that refuses everything: loopback requests must not go through it.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env[name] = "http://127.0.0.1:9"
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run([sys.executable, "-m", "desktop_app", "--self-check", *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.process
def test_self_check_passes_without_data_dir(tmp_path):
    result = run_self_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Missed-Call Desk ")
    assert "from source" in lines[0]
    statuses = {line.split()[1]: line.split()[0] for line in lines[1:-1]}
    assert statuses == {name: "ok" for name in CHECKS}
    assert "a temporary folder" in next(line for line in lines if " database " in line)
    assert "decided missed, inquiry" in next(line for line in lines if " test-call " in line)
    assert lines[-1].startswith("Self-check passed: all 11 checks")
    assert not (tmp_path / "xdg-data").exists()


@pytest.mark.process
def test_self_check_spares_given_data_dir(tmp_path):
    data_dir = tmp_path / "office-data"

    result = run_self_check(tmp_path, "--data-dir", str(data_dir))

    assert result.returncode == 0, result.stdout + result.stderr
    database = data_dir / "missed-call-desk.sqlite3"
    assert str(database) in result.stdout
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM call").fetchone() == (0,)
        assert connection.execute("SELECT COUNT(*) FROM contact").fetchone() == (0,)


def test_database_check_names_unusable_folder(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("not a folder")

    with pytest.raises(CheckFailed, match="cannot open the data folder") as raised:
        SelfCheck(not_a_folder, tmp_path / "scratch").check_database()

    assert str(not_a_folder) in str(raised.value)


def test_checks_needing_qt_skip_without_it(tmp_path):
    check = SelfCheck(None, tmp_path)

    for function in (check.check_images, check.check_multimedia, check.check_charts):
        with pytest.raises(CheckFailed, match="Qt did not start"):
            function()
    with pytest.raises(CheckFailed, match="listener did not start"):
        check.check_test_call()


def test_result_line_format():
    assert CheckResult("tls", True, "certifi", 0.0123).line() == "ok    tls            certifi (12 ms)"
    assert CheckResult("listener", False, "port taken", 1.5).line() \
        == "FAIL  listener       port taken (1500 ms)"


@pytest.mark.parametrize(("environ", "platform", "expected"), [
    ({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux", "xcb"),
    ({"QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}, "linux", "offscreen"),
    ({"DISPLAY": ":0"}, "linux", "xcb"),
    ({}, "linux", "offscreen"),
    ({}, "win32", "windows"),
    ({}, "darwin", "cocoa"),
])
def test_choose_platform(environ, platform, expected):
    assert choose_platform(environ, platform) == expected
