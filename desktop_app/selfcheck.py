"""`--self-check`: prove that an installation works, one printed line per check."""

from __future__ import annotations

import logging
import math
import os
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from desktop_app import APP_NAME, __version__

log = logging.getLogger(__name__)

PLUGIN_SUFFIX = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
# Seconds the test call may take from the final status callback to the recorded first text.
DECISION_TIMEOUT = 10.0
# Zones the quiet-hour rules need for US borrowers, besides the brokerage's own zone.
US_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
            "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu")


class CheckFailed(Exception):
    """A check found a problem; the message is printed after FAIL."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        status = "ok" if self.ok else "FAIL"
        return f"{status:<4}  {self.name:<14} {self.detail} ({self.seconds * 1000:.0f} ms)"


def bundled() -> bool:
    """True inside a PyInstaller build, False when run from a source checkout or a wheel."""
    return bool(getattr(sys, "frozen", False))


def choose_platform(environ: dict | os._Environ = os.environ, platform: str = sys.platform) -> str:
    """Return the Qt platform plugin the check should start: the app's own, or offscreen
    when a Linux session has no display, so the check also runs on a headless server."""
    requested = environ.get("QT_QPA_PLATFORM", "")
    if requested:
        return requested.split(";")[0].split(":")[0]
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "cocoa"
    if environ.get("DISPLAY"):
        return "xcb"
    if environ.get("WAYLAND_DISPLAY") and not bundled():
        return "wayland"  # the bundle has no wayland plugin; XWayland sets DISPLAY
    return "offscreen"


def find_plugin(folder: str, name: str) -> Path | None:
    """Return the file of Qt plugin `name` (such as qxcb) in `folder`, or None."""
    from PySide6.QtCore import QCoreApplication  # noqa: PLC0415

    for directory in QCoreApplication.libraryPaths():
        for prefix in ("lib", ""):
            path = Path(directory) / folder / f"{prefix}{name}{PLUGIN_SUFFIX}"
            if path.is_file():
                return path
    return None


def load_plugin(folder: str, name: str) -> Path:
    """Load a Qt plugin's library (not its instance) and return its path, or raise
    CheckFailed with the loader's reason, which names a missing system library."""
    from PySide6.QtCore import QCoreApplication, QPluginLoader  # noqa: PLC0415

    path = find_plugin(folder, name)
    if path is None:
        searched = ", ".join(QCoreApplication.libraryPaths()) or "no plugin folders"
        raise CheckFailed(f"Qt plugin {folder}/{name} not found (searched {searched})")
    loader = QPluginLoader(str(path))
    if not loader.load():
        raise CheckFailed(f"Qt plugin {path} failed to load: {loader.errorString()}. Install the "
                          "system library it names (see the README's Linux packages)")
    return path


def _short(path: Path) -> str:
    """Return a path relative to the bundle, or to site-packages when run from source."""
    base = getattr(sys, "_MEIPASS", None)
    if base is None and "PySide6" in sys.modules:
        base = Path(sys.modules["PySide6"].__file__).parent.parent
    if base is not None:
        try:
            return str(Path(path).resolve().relative_to(Path(base).resolve()))
        except ValueError:
            pass
    return str(path)


class QtMessages:
    """Collects Qt's warnings while a check runs, so a FAIL line can show Qt's reason."""

    def __init__(self):
        self.messages: list[str] = []
        self.infos: list[str] = []

    def install(self) -> None:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler  # noqa: PLC0415

        def handler(kind, _context, message):
            if kind == QtMsgType.QtInfoMsg:
                self.infos.append(message)
            elif kind != QtMsgType.QtDebugMsg:
                self.messages.append(message)

        qInstallMessageHandler(handler)

    def clear(self) -> None:
        self.messages.clear()
        self.infos.clear()


class SelfCheck:
    """Runs the checks in order; later checks reuse what earlier ones started."""

    def __init__(self, data_dir: Path | None, scratch: Path):
        self.data_dir = data_dir
        self.scratch = scratch
        self.qt_messages = QtMessages()
        self.qt_app = None
        self.desk = None

    # -- Qt ----------------------------------------------------------------------------

    def check_qt_platform(self) -> str:
        requested = bool(os.environ.get("QT_QPA_PLATFORM"))
        platform = choose_platform()
        os.environ["QT_QPA_PLATFORM"] = platform
        try:
            import PySide6  # noqa: PLC0415
            from PySide6 import QtCore  # noqa: PLC0415
        except ImportError as exc:
            raise CheckFailed(f"PySide6 failed to import: {exc}") from None
        if os.environ.get("QT_DEBUG_PLUGINS") != "1":
            self.qt_messages.install()

        extra = ""
        if sys.platform.startswith("linux") and platform != "xcb":
            # The window needs xcb wherever there is a display, so prove it would load.
            load_plugin("platforms", "qxcb")
            extra = "; xcb plugin loads too"
        path = load_plugin("platforms", f"q{platform}")

        from desktop_app.ui.main import ensure_application  # noqa: PLC0415

        self.qt_app = ensure_application([sys.argv[0]])
        if self.qt_app.platformName() != platform:
            raise CheckFailed(f"Qt started platform {self.qt_app.platformName()!r}, "
                              f"expected {platform!r}")
        screen = self.qt_app.primaryScreen()
        size = f", screen {screen.size().width()}x{screen.size().height()}" if screen else ""
        cause = " (no display)" if platform == "offscreen" and not requested else ""
        return (f"{platform}{cause} from {_short(path)}{size}; Qt {QtCore.qVersion()}, "
                f"PySide6 {PySide6.__version__}{extra}")

    def check_images(self) -> str:
        self._need_qt()
        from PySide6.QtCore import QRectF, Qt  # noqa: PLC0415
        from PySide6.QtGui import QIcon, QImage, QImageReader, QPainter  # noqa: PLC0415
        from PySide6.QtSvg import QSvgRenderer  # noqa: PLC0415

        from desktop_app.core.paths import resources_dir  # noqa: PLC0415

        load_plugin("imageformats", "qsvg")
        load_plugin("iconengines", "qsvgicon")
        formats = {bytes(name).decode() for name in QImageReader.supportedImageFormats()}
        missing = {"svg", "ico", "png", "jpeg"} - formats
        if missing:
            raise CheckFailed(f"Qt cannot read {', '.join(sorted(missing))} images "
                              f"(it reads {', '.join(sorted(formats))})")

        icons = resources_dir() / "icons"
        svg = icons / "app.svg"
        renderer = QSvgRenderer(str(svg))
        if not renderer.isValid():
            raise CheckFailed(f"QSvgRenderer could not read {svg}")
        image = QImage(64, 64, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter, QRectF(0, 0, 64, 64))
        painter.end()
        if image.pixelColor(32, 32).alpha() == 0:
            raise CheckFailed(f"{svg} rendered as a blank image")
        if QIcon(str(svg)).pixmap(32, 32).isNull():
            raise CheckFailed(f"QIcon could not draw {svg} (SVG icon engine missing?)")

        pngs = sorted(icons.glob("app-*.png"), key=lambda path: int(path.stem.split("-")[1]))
        broken = [path.name for path in pngs if QImage(str(path)).isNull()]
        if not pngs or broken:
            raise CheckFailed(f"icon PNGs in {icons} are missing or unreadable: {broken or 'none found'}")
        sizes = ", ".join(path.stem.split("-")[1] for path in pngs)
        return f"reads {', '.join(sorted(formats & {'svg', 'ico', 'png', 'jpeg', 'gif'}))}; " \
               f"app.svg rendered; icon sizes {sizes}"

    def check_multimedia(self) -> str:
        self._need_qt()
        path = load_plugin("multimedia", "ffmpegmediaplugin")
        try:
            from PySide6.QtMultimedia import QMediaDevices, QMediaFormat  # noqa: PLC0415
        except ImportError as exc:
            raise CheckFailed(f"QtMultimedia failed to import: {exc}") from None
        codecs = QMediaFormat().supportedAudioCodecs(QMediaFormat.ConversionMode.Encode)
        if not codecs:
            reason = "; ".join(self.qt_messages.messages) or "no backend reported"
            raise CheckFailed(f"no audio encoder available: the FFmpeg backend did not start "
                              f"({reason})")
        backend = next((info for info in self.qt_messages.infos if "FFmpeg" in info), "")
        inputs = len(QMediaDevices.audioInputs())
        outputs = len(QMediaDevices.audioOutputs())
        version = f" ({backend.strip()})" if backend else ""
        return (f"FFmpeg backend from {_short(path)}{version}; {len(codecs)} audio encoders; "
                f"{inputs} microphone(s), {outputs} speaker(s)")

    def check_charts(self) -> str:
        self._need_qt()
        try:
            from PySide6.QtCharts import QChart, QChartView, QLineSeries  # noqa: PLC0415
        except ImportError as exc:
            raise CheckFailed(f"QtCharts failed to import: {exc}") from None
        series = QLineSeries()
        for x, y in enumerate((3, 1, 4, 1, 5, 9, 2, 6)):
            series.append(x, y)
        chart = QChart()
        chart.addSeries(series)
        chart.createDefaultAxes()
        view = QChartView(chart)
        view.resize(320, 200)
        try:
            pixmap = view.grab()
            if pixmap.isNull() or pixmap.width() < 320:
                raise CheckFailed("QChartView drew an empty picture")
        finally:
            view.deleteLater()
        return f"drew a line chart ({pixmap.width()}x{pixmap.height()})"

    def _need_qt(self) -> None:
        if self.qt_app is None:
            raise CheckFailed("skipped: Qt did not start (see qt-platform)")

    # -- libraries ---------------------------------------------------------------------

    def check_mp3(self) -> str:
        try:
            import lameenc  # noqa: PLC0415
        except ImportError as exc:
            raise CheckFailed(f"the MP3 encoder lameenc failed to import: {exc}") from None
        rate, seconds = 44100, 0.25
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate))
                   for i in range(int(rate * seconds)))
        pcm = struct.pack(f"<{int(rate * seconds)}h", *samples)
        encoder = lameenc.Encoder()
        encoder.set_bit_rate(64)
        encoder.set_in_sample_rate(rate)
        encoder.set_channels(1)
        encoder.set_quality(7)
        mp3 = bytes(encoder.encode(pcm)) + bytes(encoder.flush())
        # An MPEG audio frame starts with 11 set sync bits.
        if len(mp3) < 200 or mp3[0] != 0xFF or mp3[1] & 0xE0 != 0xE0:
            raise CheckFailed(f"lameenc produced {len(mp3)} bytes that are not MP3 frames")
        return f"lameenc encoded {seconds} s of audio into {len(mp3):,} bytes of MP3"

    def check_tls(self) -> str:
        import ssl  # noqa: PLC0415

        import certifi  # noqa: PLC0415
        import httpx  # noqa: PLC0415
        import requests.utils  # noqa: PLC0415 - the twilio client sends through requests

        ca_file = Path(certifi.where())
        if not ca_file.is_file():
            raise CheckFailed(f"certifi's CA file {ca_file} is missing")
        httpx_cas = httpx.create_ssl_context().cert_store_stats()["x509_ca"]
        if httpx_cas < 100:
            raise CheckFailed(f"httpx loaded only {httpx_cas} CA certificates")
        requests_ca = Path(requests.utils.DEFAULT_CA_BUNDLE_PATH)
        if requests_ca.resolve() != ca_file.resolve():
            raise CheckFailed(f"requests (twilio) uses {requests_ca}, not certifi's {ca_file}")
        stdlib = ""
        if os.environ.get("SSL_CERT_FILE"):
            stdlib_cas = ssl.create_default_context().cert_store_stats()["x509_ca"]
            if stdlib_cas == 0:
                raise CheckFailed(f"the ssl module loaded no CA certificates from SSL_CERT_FILE="
                                  f"{os.environ['SSL_CERT_FILE']}")
            stdlib = f", ssl module {stdlib_cas} (SSL_CERT_FILE)"
        return f"certifi {certifi.__version__} at {_short(ca_file)}: httpx {httpx_cas} CAs, " \
               f"twilio/requests the same file{stdlib}"

    def check_time_zones(self) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

        from desktop_app.core import phones, quiet_hours  # noqa: PLC0415

        try:
            for name in US_ZONES:
                ZoneInfo(name)
        except ZoneInfoNotFoundError:
            raise CheckFailed(f"time zone {name} not found: no system time zone database and "
                              "no tzdata package in this build") from None
        caller = "+13035550143"
        zones = [zone.key for zone in quiet_hours.borrower_zones(caller, "America/New_York")]
        if zones != ["America/Denver"]:
            raise CheckFailed(f"phonenumbers placed {phones.mask(caller)} in {zones}, "
                              "expected America/Denver (area code data missing?)")
        return f"{len(US_ZONES)} US zones load; area code 303 maps to America/Denver"

    def check_keyring(self) -> str:
        from desktop_app.core.secrets import keyring_status  # noqa: PLC0415

        status = keyring_status()
        if status.available:
            return status.backend
        if sys.platform in ("win32", "darwin"):
            raise CheckFailed(f"no OS keyring backend ({status.backend}); the build lacks "
                              "keyring's backend for this system, so credentials cannot be saved")
        # A Linux machine without a Secret Service (a server, a CI runner) is allowed.
        return f"none ({status.backend}): {status.detail}"

    # -- the app's own path ------------------------------------------------------------

    def check_database(self) -> str:
        from sqlmodel import func, select  # noqa: PLC0415

        from desktop_app.core import models  # noqa: PLC0415
        from desktop_app.core.app import open_context  # noqa: PLC0415
        from desktop_app.core.db import DB_FILENAME, StorageError  # noqa: PLC0415

        folder = self.data_dir or self.scratch / "data"
        try:
            ctx = open_context(folder)
        except (OSError, StorageError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CheckFailed(f"cannot open the data folder {folder}: {reason}; pass --data-dir "
                              "with a folder you can write to") from None
        try:
            with ctx.db.read() as session:
                connection = session.connection()
                integrity = connection.exec_driver_sql("PRAGMA quick_check").scalar()
                journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
                contacts = session.exec(select(func.count()).select_from(models.Contact)).one()
        finally:
            ctx.db.close()
        if integrity != "ok":
            raise CheckFailed(f"{folder / DB_FILENAME} failed SQLite's quick_check: {integrity}")
        where = str(folder / DB_FILENAME) if self.data_dir else "a temporary folder"
        return f"{where}: {journal} journal, integrity ok, {contacts} contact(s)"

    def check_listener(self) -> str:
        import httpx  # noqa: PLC0415
        import keyring  # noqa: PLC0415
        from keyring.backends import null  # noqa: PLC0415

        from desktop_app.core.app import AppOptions, DeskApp  # noqa: PLC0415

        # The test call must never reach a real provider: no credentials from the keyring
        # (its backend is set for this process only) or from MCD_* variables.
        keyring.set_keyring(null.Keyring())
        environ = {key: value for key, value in os.environ.items() if not key.startswith("MCD_")}
        options = AppOptions(data_dir=self.scratch / "listener", port=0, tunnel=False,
                             start_scheduler=False, send_interval=0.0)
        desk = DeskApp(options, environ=environ)
        try:
            desk.start()
        except Exception:
            desk.stop()
            raise
        self.desk = desk
        port = desk.ctx.listen_port
        # trust_env=False: an office proxy from the environment must not carry a loopback request.
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5.0, trust_env=False)
        if health.status_code != 200 or health.json().get("version") != __version__:
            raise CheckFailed(f"GET /health on 127.0.0.1:{port} returned HTTP "
                              f"{health.status_code}: {health.text[:200]}")
        return f"127.0.0.1:{port} answers /health"

    def check_test_call(self) -> str:
        if self.desk is None:
            raise CheckFailed("skipped: the listener did not start (see listener)")
        from desktop_app.core.events import CallChanged, MessageChanged, StepChanged  # noqa: PLC0415
        from desktop_app.core.simulate import send_test_call  # noqa: PLC0415

        ctx = self.desk.ctx
        if not ctx.sandbox("twilio"):
            raise CheckFailed("Twilio is not in sandbox mode; refusing to send a test text")
        changed = threading.Event()
        unsubscribe = ctx.bus.subscribe(
            lambda event: changed.set()
            if isinstance(event, (CallChanged, StepChanged, MessageChanged)) else None)
        try:
            result = send_test_call(port=ctx.listen_port, signing_key=ctx.twilio_signing_key(),
                                    seconds=12)
            if not result.ok:
                steps = ", ".join(f"{path} HTTP {status}" for path, status in result.steps)
                raise CheckFailed(f"the listener rejected the signed test call: {steps}")
            sent = time.monotonic()
            deadline = sent + DECISION_TIMEOUT
            while True:
                changed.clear()
                decision = _decision(ctx, result.call_sid)
                if decision is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CheckFailed(f"no decision on test call {result.call_sid} within "
                                      f"{DECISION_TIMEOUT:.0f} s")
                changed.wait(remaining)
        finally:
            unsubscribe()
        outcome, intent, step_status, message_status, length = decision
        if (outcome, intent, step_status, message_status) != ("missed", "inquiry", "sent", "sandbox"):
            raise CheckFailed(f"test call decided {outcome}/{intent}, first text {step_status}"
                              f"/{message_status}; expected missed/inquiry, sent/sandbox")
        return (f"signed call ({len(result.steps)} webhooks) decided {outcome}, {intent}; "
                f"first text of {length} characters recorded in sandbox "
                f"{(time.monotonic() - sent) * 1000:.0f} ms after the call ended")

    def close(self) -> None:
        if self.desk is not None:
            self.desk.stop()
            self.desk = None

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("qt-platform", self.check_qt_platform),
            ("images", self.check_images),
            ("multimedia", self.check_multimedia),
            ("charts", self.check_charts),
            ("mp3-encoder", self.check_mp3),
            ("tls", self.check_tls),
            ("time-zones", self.check_time_zones),
            ("keyring", self.check_keyring),
            ("database", self.check_database),
            ("listener", self.check_listener),
            ("test-call", self.check_test_call),
        ]


def _decision(ctx, call_sid: str) -> tuple[str, str, str, str, int] | None:
    """Return (outcome, intent, first-text step status, message status, text length) once the
    app has decided the call and finished its first text, else None."""
    from sqlmodel import select  # noqa: PLC0415

    from desktop_app.core import models  # noqa: PLC0415

    with ctx.db.read() as session:
        call = session.exec(select(models.Call).where(models.Call.call_id == call_sid)).first()
        if call is None or call.outcome == "pending":
            return None
        step = session.exec(select(models.Step).where(models.Step.call_id == call.id)
                            .where(models.Step.name == "first_text")).first()
        if step is None or step.status in ("scheduled", "queued", "sending"):
            return None
        message = session.exec(select(models.Message).where(models.Message.step_id == step.id)).first()
        return (call.outcome, call.intent or "", step.status,
                message.status if message else "none", len(message.body) if message else 0)


def run_self_check(data_dir: Path | None = None, out=None) -> int:
    """Run every check, print one line each, and return 0 only if all passed.

    With no data_dir the database check uses a temporary folder. The listener and the
    test call always run in a temporary folder, so a check never adds a call to real data.
    """
    out = out or sys.stdout
    started = time.monotonic()
    mode = "bundled" if bundled() else "from source"
    print(f"{APP_NAME} {__version__} self-check ({mode}, Python {sys.version.split()[0]}, "
          f"{sys.platform})", file=out, flush=True)
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="mcd-self-check-", ignore_cleanup_errors=True) as scratch:
        check = SelfCheck(Path(data_dir) if data_dir else None, Path(scratch))
        try:
            for name, function in check.checks():
                check.qt_messages.clear()
                began = time.monotonic()
                try:
                    detail, ok = function(), True
                except CheckFailed as exc:
                    detail, ok = str(exc), False
                except Exception as exc:  # a bug or a broken build: report it and go on
                    log.debug("Check %s raised", name, exc_info=True)
                    detail, ok = f"{type(exc).__name__}: {exc}", False
                result = CheckResult(name, ok, detail, time.monotonic() - began)
                results.append(result)
                print(result.line(), file=out, flush=True)
        finally:
            check.close()
    failed = [result.name for result in results if not result.ok]
    elapsed = time.monotonic() - started
    if failed:
        print(f"Self-check FAILED: {len(failed)} of {len(results)} checks ({', '.join(failed)}) "
              f"in {elapsed:.1f} s", file=out, flush=True)
        return 1
    print(f"Self-check passed: all {len(results)} checks in {elapsed:.1f} s", file=out, flush=True)
    return 0
