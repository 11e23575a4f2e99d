"""Benchmark: the live board with 100,000 contacts: open time, filter time and memory.

    xvfb-run -a .venv/bin/python -m tests.benchmarks.board_scale [--contacts 100000]

Fills a temporary store with generated contacts (each with a missed call, its sequence,
texts and timeline), then opens the main window on it and times: loading the board model,
the window's first paint, each filter, a search, and a live update; and prints the
process's resident memory. Targets: open < 1 s, filter < 200 ms, memory < 400 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def numbers(seed: int):
    """Distinct valid US numbers; this benchmark's store is temporary and never texts anyone."""
    from desktop_app.core import phones

    rng = random.Random(seed)
    areas = ("212", "312", "303", "602", "213", "415", "305", "617", "713", "404")
    seen = set()
    while True:
        number = f"+1{rng.choice(areas)}{rng.randrange(200, 1000):03d}{rng.randrange(10000):04d}"
        if number not in seen and phones.try_normalize(number):
            seen.add(number)
            yield number


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, results: list) -> object:
    started = time.perf_counter()
    value = fn()
    elapsed = (time.perf_counter() - started) * 1000
    results.append((label, elapsed))
    return value


def fill_store(data_dir: Path, contacts: int) -> int:
    from desktop_app.core import demo
    from desktop_app.core.app import open_context

    ctx = open_context(data_dir, environ={})
    try:
        print(demo.fill(ctx, contacts, days=365, numbers=numbers(7)))
    finally:
        ctx.db.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--fill-only", type=Path, metavar="DIR",
                        help="only write the generated store into DIR (used by the benchmark itself)")
    args = parser.parse_args()
    if args.fill_only:
        return fill_store(args.fill_only, args.contacts)

    from PySide6.QtWidgets import QApplication

    from desktop_app.core.app import AppOptions, DeskApp
    from desktop_app.core.board import R_CONTACT
    from desktop_app.ui.main import ensure_application
    from desktop_app.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        # Filled by a separate process, so this one's memory is what the app itself uses.
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tests.benchmarks.board_scale", "--fill-only",
                        str(data_dir), "--contacts", str(args.contacts)], check=True)
        fill_seconds = time.perf_counter() - started
        desk = DeskApp(AppOptions(data_dir=data_dir, port=0, tunnel=False, start_scheduler=False),
                       environ={})
        desk.start()
        app: QApplication = ensure_application()
        base_mb = rss_mb()
        results: list[tuple[str, float]] = []
        window = timed("open: window with the board loaded", lambda: MainWindow(desk), results)
        timed("first paint", lambda: (window.show(), app.processEvents()), results)
        for mode in ("today", "hot", "open", "replied", "opted_out", "needs_review", "all"):
            timed(f"filter {mode} ({{rows}} rows)", lambda m=mode: (window.set_filter(m),
                                                                  app.processEvents()), results)
            label, ms = results[-1]
            results[-1] = (label.format(rows=window.model.rowCount()), ms)
        timed("search '555 01'", lambda: (window.search.setText("555 01"), app.processEvents()), results)
        timed("search 'Garcia'", lambda: (window.search.setText("Garcia"), app.processEvents()), results)
        window.search.clear()
        app.processEvents()
        row = window.model.row_at(500)
        timed("live update of one contact", lambda: (window.model.contact_changed(row[R_CONTACT]),
                                                     window.model.apply_now(), app.processEvents()),
              results)
        memory = rss_mb()
        window.close()
        desk.stop()

    print(f"store: {args.contacts:,} contacts (filled in {fill_seconds:.1f} s)")
    for label, ms in results:
        print(f"{label}: {ms:.0f} ms")
    print(f"resident memory: {memory:.0f} MB (before the window: {base_mb:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
