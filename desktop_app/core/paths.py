"""Where the app keeps its data, logs and bundled resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from desktop_app import APP_ID

APP_AUTHOR = "MissedCallDesk"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_ID, APP_AUTHOR))


def log_dir(data_dir: Path) -> Path:
    """Logs go beside the data when a data folder is given, else to the platform's log folder."""
    if os.environ.get("MCD_LOG_DIR"):
        return Path(os.environ["MCD_LOG_DIR"])
    if data_dir != default_data_dir():
        return data_dir / "logs"
    return Path(platformdirs.user_log_dir(APP_ID, APP_AUTHOR))


def resources_dir() -> Path:
    """Return the folder holding templates, icons and styles.

    Order: a PyInstaller bundle, the installed package `desktop_app.resources`, then the
    source checkout's top-level resources/ folder.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and (Path(bundle) / "resources").is_dir():
        return Path(bundle) / "resources"
    try:
        import desktop_app.resources as packaged  # noqa: PLC0415

        if packaged.__file__ is not None:
            return Path(packaged.__file__).parent
        return Path(list(packaged.__path__)[0])
    except ImportError:
        pass
    return Path(__file__).resolve().parents[2] / "resources"
