"""Logging set-up: stderr and a rotating file, with phone numbers masked in every line."""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from desktop_app.core.phones import mask_in_text

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")


class MaskingFilter(logging.Filter):
    """Masks anything that looks like a phone number, wherever a caller forgot to, and escapes
    control characters so text from a request cannot start a forged log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        cleaned = _CONTROL.sub(lambda m: repr(m.group())[1:-1], mask_in_text(message))
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


def setup(level: str = "INFO", log_dir: Path | None = None, stderr: bool = True) -> Path | None:
    """Configure the root logger once. Returns the log file path when one is written."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mcd", False):
            root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    formatter = logging.Formatter(FORMAT)
    masking = MaskingFilter()
    log_file = None
    handlers: list[logging.Handler] = []
    if stderr:
        handlers.append(logging.StreamHandler())
        handlers[-1].setLevel(level.upper())
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_file = log_dir / "missed-call-desk.log"
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
            file_handler.setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.INFO)
            handlers.append(file_handler)
        except OSError as exc:
            logging.getLogger(__name__).warning("Cannot write logs to %s: %s", log_dir, exc)
            log_file = None
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(masking)
        handler._mcd = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Libraries that log request details at INFO would leak numbers into URLs and headers.
    for noisy in ("twilio.http_client", "httpx", "httpcore", "apscheduler", "uvicorn.error",
                  "pyngrok", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file
