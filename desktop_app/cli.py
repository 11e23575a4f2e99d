"""Command line: open the window, run headless, send a test call, export, manage settings."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from desktop_app import APP_NAME, __version__
from desktop_app.core import paths

log = logging.getLogger("desktop_app")


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def _common(parser: argparse.ArgumentParser, *, with_port: bool = False) -> None:
    parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="folder for the database, logs and recordings "
                             f"(default: {paths.default_data_dir()})")
    parser.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much to log to stderr (default: INFO)")
    if with_port:
        parser.add_argument("--port", type=port_number, default=argparse.SUPPRESS,
                            help="port of the local webhook listener (default: 8765)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="missed-call-desk",
        description=f"{APP_NAME}: texts borrowers whose calls went unanswered, writes the loan "
                    "officer's Call task and runs the follow-up sequence.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--headless", action="store_true",
                        help="run the listener and scheduler without a window; stop with Ctrl+C")
    parser.add_argument("--no-tunnel", action="store_true",
                        help="do not open the ngrok tunnel (providers must reach MCD_PUBLIC_URL)")
    parser.add_argument("--self-check", action="store_true",
                        help="check Qt plugins, the database, the listener and a sandbox test call, "
                             "print one line per check, and exit")
    _common(parser, with_port=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = sub.add_parser("simulate", help="send a signed test missed call to a running app")
    _common(sim, with_port=True)
    sim.add_argument("--caller", help="caller's number (default: a fictional 555-01xx number)")
    sim.add_argument("--dialed", help="number the caller dialed (default: the first number in "
                                      "the routing table, else +1 212-555-0100)")
    sim.add_argument("--seconds", type=int, default=12,
                     help="seconds the caller stayed on the line (default: 12, an inquiry)")

    exp = sub.add_parser("export", help="write every contact with its calls, tasks and steps")
    _common(exp)
    exp.add_argument("--format", choices=["json", "csv"], default="json",
                     help="output format (default: json)")
    exp.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")

    settings = sub.add_parser("settings", help="export or import settings as TOML")
    settings_sub = settings.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    s_exp = settings_sub.add_parser("export", help="write settings, LOs, routing and templates to FILE")
    _common(s_exp)
    s_exp.add_argument("file", type=Path)
    s_imp = settings_sub.add_parser("import", help="check FILE and replace the settings with it")
    _common(s_imp)
    s_imp.add_argument("file", type=Path)

    demo = sub.add_parser("demo", help="fill an empty data folder with a generated demo brokerage")
    _common(demo)
    demo.add_argument("--contacts", type=int, default=300,
                      help="number of demo callers (default: 300)")

    dnc = sub.add_parser("dnc", help="manage the do-not-contact list")
    dnc_sub = dnc.add_subparsers(dest="dnc_command", metavar="ACTION", required=True)
    d_imp = dnc_sub.add_parser("import", help="add the numbers in a CSV file to the list")
    _common(d_imp)
    d_imp.add_argument("file", type=Path)
    d_imp.add_argument("--source", default=None, help="label stored with each entry (default: file name)")
    return parser


def _data_dir(args) -> Path:
    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser().resolve()
    if os.environ.get("MCD_DATA_DIR"):
        return Path(os.environ["MCD_DATA_DIR"]).expanduser().resolve()
    return paths.default_data_dir()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = getattr(args, "log_level", "INFO")
    data_dir = _data_dir(args)

    from desktop_app.core import logs  # noqa: PLC0415

    if args.command is None and not args.self_check:
        logs.setup(level, paths.log_dir(data_dir), stderr=True)
    else:
        logs.setup(level if level != "INFO" else "WARNING", None, stderr=True)

    try:
        if args.self_check:
            from desktop_app.selfcheck import run_self_check  # noqa: PLC0415

            # Without --data-dir or MCD_DATA_DIR the check uses a temporary folder, so
            # it never opens the real database unless asked to.
            explicit = getattr(args, "data_dir", None) or os.environ.get("MCD_DATA_DIR")
            return run_self_check(data_dir if explicit else None)
        if args.command == "simulate":
            return _simulate(args, data_dir)
        if args.command == "export":
            return _export(args, data_dir)
        if args.command == "settings":
            return _settings(args, data_dir)
        if args.command == "dnc":
            return _dnc(args, data_dir)
        if args.command == "demo":
            return _demo(args, data_dir)
        if args.headless:
            return _headless(args, data_dir)
        return _window(args, data_dir)
    except KeyboardInterrupt:
        return 130


def _options(args, data_dir: Path):
    from desktop_app.core.app import AppOptions  # noqa: PLC0415

    return AppOptions(data_dir=data_dir, port=getattr(args, "port", 8765),
                      tunnel=not args.no_tunnel)


def _headless(args, data_dir: Path) -> int:
    from desktop_app.core.app import DeskApp  # noqa: PLC0415
    from desktop_app.core.db import StorageError  # noqa: PLC0415
    from desktop_app.core.server import ListenerError  # noqa: PLC0415

    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("Received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    try:
        app = DeskApp(_options(args, data_dir))
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        app.start()
    except (ListenerError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        app.stop()
        return 1
    mode = "sandbox (no Twilio credentials: texts are recorded, not sent)" if app.ctx.sandbox() \
        else "live"
    log.info("Headless and listening on 127.0.0.1:%d in %.2f s; %s", app.ctx.listen_port,
             time.monotonic() - started, mode)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        app.stop()
    log.info("Stopped cleanly")
    return 0


def _window(args, data_dir: Path) -> int:
    try:
        from desktop_app.ui.main import run_window  # noqa: PLC0415
    except ImportError as exc:
        print(f"error: the window cannot start because Qt failed to load: {exc}\n"
              "On Debian or Ubuntu, install Qt's system libraries (see the README), "
              "or run with --headless.", file=sys.stderr)
        return 1
    return run_window(_options(args, data_dir))


def _simulate(args, data_dir: Path) -> int:
    from desktop_app.core import phones  # noqa: PLC0415
    from desktop_app.core.simulate import SimulationError, send_test_call  # noqa: PLC0415

    port = getattr(args, "port", 8765)
    try:
        key, account, dialed = _simulation_inputs(data_dir, args.dialed)
        result = send_test_call(port=port, signing_key=key, account_sid=account,
                                caller=args.caller, dialed=dialed, seconds=args.seconds)
    except phones.InvalidPhoneNumber as exc:
        which = "--caller" if args.caller and exc.raw.strip() in args.caller else "--dialed"
        print(f"error: {which}: {exc}", file=sys.stderr)
        return 2
    except (SimulationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    steps = ", ".join(f"{path} {status}" for path, status in result.steps)
    print(f"Test call {result.call_sid} from {phones.format_national(result.caller)} to "
          f"{phones.format_national(result.dialed)}, {result.seconds} s on the line: {steps}")
    if not result.ok:
        return 1
    outcome = _wait_for_outcome(data_dir, result.call_sid)
    if outcome:
        print(outcome)
    return 0


def _simulation_inputs(data_dir: Path, dialed: str | None) -> tuple[str, str | None, str | None]:
    """Signing key, account SID and default dialed number for a test call."""
    from desktop_app.core.app import open_context  # noqa: PLC0415

    ctx = open_context(data_dir)
    try:
        creds = ctx.twilio_credentials()
        key = ctx.twilio_signing_key()
        if dialed is None:
            from sqlmodel import select  # noqa: PLC0415

            from desktop_app.core import models  # noqa: PLC0415

            with ctx.db.read() as session:
                route = session.exec(select(models.Route).order_by(models.Route.id)).first()
                dialed = route.dialed if route else None
        return key, creds[0] if creds else None, dialed
    finally:
        ctx.db.close()


def _wait_for_outcome(data_dir: Path, call_sid: str, timeout: float = 5.0) -> str | None:
    """Read the app's decision on the test call from the database, for the console."""
    from sqlmodel import select  # noqa: PLC0415

    from desktop_app.core import models  # noqa: PLC0415
    from desktop_app.core.app import open_context  # noqa: PLC0415

    ctx = open_context(data_dir)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with ctx.db.read() as session:
                call = session.exec(select(models.Call).where(models.Call.call_id == call_sid)).first()
                if call is not None and call.outcome != "pending":
                    step = session.exec(
                        select(models.Step).where(models.Step.call_id == call.id)
                        .where(models.Step.name == "first_text")).first()
                    text = ""
                    if step is not None and step.status not in ("scheduled", "queued", "sending"):
                        message = session.exec(select(models.Message).where(
                            models.Message.step_id == step.id)).first()
                        text = f"; first text {step.status}"
                        if step.detail:
                            text += f" ({step.detail})"
                        if message is not None:
                            text += f": \u201c{message.body}\u201d"
                    elif step is None and call.intent == "accidental":
                        text = "; no text for an accidental call"
                    if step is None or step.status not in ("scheduled", "queued", "sending"):
                        return (f"Decision: {call.outcome}, {call.intent}, assigned to "
                                f"{call.lo_name}{text}")
            time.sleep(0.1)
        return None
    finally:
        ctx.db.close()


def _export(args, data_dir: Path) -> int:
    from desktop_app.core import export  # noqa: PLC0415
    from desktop_app.core.app import open_context  # noqa: PLC0415

    if not (data_dir / "missed-call-desk.sqlite3").exists():
        print(f"error: no database in {data_dir}; pass --data-dir with the app's data folder",
              file=sys.stderr)
        return 1
    ctx = open_context(data_dir)
    try:
        data = export.build(ctx)
    finally:
        ctx.db.close()
    text = export.to_json(data) if args.format == "json" else export.to_csv(data)
    if args.output:
        args.output.write_text(text, encoding="utf-8", newline="")
        print(f"Wrote {len(data)} contact(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _note_new_store(data_dir: Path) -> None:
    if not (data_dir / "missed-call-desk.sqlite3").exists():
        print(f"note: {data_dir} has no database yet, so a new one is created there; pass the "
              "app's --data-dir if you meant an existing one", file=sys.stderr)


def _settings(args, data_dir: Path) -> int:
    from desktop_app.core import config_file  # noqa: PLC0415
    from desktop_app.core.app import open_context  # noqa: PLC0415

    _note_new_store(data_dir)
    ctx = open_context(data_dir)
    try:
        if args.settings_command == "export":
            config_file.export_file(ctx, args.file)
            print(f"Wrote settings to {args.file}", file=sys.stderr)
            return 0
        try:
            summary = config_file.import_file(ctx, args.file)
        except config_file.ConfigError as exc:
            print(f"error: {args.file}: {exc}", file=sys.stderr)
            return 2
        print(f"Imported {args.file}: {summary}. A running app picks the changes up within "
              "a few seconds.", file=sys.stderr)
        return 0
    finally:
        ctx.db.close()


def _dnc(args, data_dir: Path) -> int:
    from desktop_app.core import dnc  # noqa: PLC0415
    from desktop_app.core.app import open_context  # noqa: PLC0415

    _note_new_store(data_dir)
    ctx = open_context(data_dir)
    try:
        try:
            report = dnc.import_csv(ctx, args.file, source=args.source or args.file.name)
        except dnc.DncImportError as exc:
            print(f"error: {args.file}: {exc}", file=sys.stderr)
            return 2
    finally:
        ctx.db.close()
    print(report.summary())
    for line in report.rejected[:50]:
        print(f"  rejected {line}", file=sys.stderr)
    if len(report.rejected) > 50:
        print(f"  ... and {len(report.rejected) - 50} more", file=sys.stderr)
    return 0


def _demo(args, data_dir: Path) -> int:
    from desktop_app.core import demo  # noqa: PLC0415
    from desktop_app.core.app import open_context  # noqa: PLC0415

    if not 1 <= args.contacts <= 4000:
        print("error: --contacts must be between 1 and 4000 (the fictional numbers run out)",
              file=sys.stderr)
        return 2
    ctx = open_context(data_dir)
    try:
        summary = demo.fill(ctx, args.contacts)
    except demo.DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        ctx.db.close()
    print(f"Demo brokerage written to {data_dir}: {summary}")
    print(f"Open it with: missed-call-desk --data-dir {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
