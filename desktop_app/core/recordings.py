"""Fetch the voicemail a caller left, so the coordinator can play it without the Twilio console."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlparse

import httpx

from desktop_app.core import models

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


class RecordingError(RuntimeError):
    """The recording cannot be fetched; the message says why and what to do."""


def local_path(ctx, call: models.Call) -> Path:
    name = _SAFE_NAME.sub("", call.recording_sid or f"call-{call.id}") or f"call-{call.id}"
    return Path(ctx.data_dir) / "voicemails" / f"{name}.mp3"


def fetch(ctx, call: models.Call, timeout: float = 30.0) -> Path:
    """Download the caller's voicemail as MP3 (once) and return the local file.

    Twilio credentials are sent only to the Twilio API host, never to another address a
    webhook might name.
    """
    if not call.recording_url:
        raise RecordingError("this call has no voicemail")
    target = local_path(ctx, call)
    if target.exists() and target.stat().st_size > 0:
        return target
    url = call.recording_url
    if not url.endswith(".mp3"):
        url += ".mp3"
    api_host = urlparse(ctx.secrets.api_url("twilio")).netloc
    host = urlparse(url).netloc
    creds = ctx.twilio_credentials()
    auth = creds if creds and host == api_host else None
    if host != api_host and not host.endswith(".twilio.com"):
        raise RecordingError(f"the recording address {host!r} is not a Twilio address; not fetched")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url, auth=auth)
    except httpx.HTTPError as exc:
        raise RecordingError(f"could not download the voicemail: {exc}") from None
    if response.status_code in (401, 403):
        raise RecordingError("Twilio refused the download (HTTP %d); check the Twilio credentials "
                             "in Settings" % response.status_code)
    if response.status_code == 404:
        raise RecordingError("Twilio no longer has this recording (it may have been deleted)")
    if response.status_code >= 400:
        raise RecordingError(f"downloading the voicemail failed: HTTP {response.status_code}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(response.content)
    partial.replace(target)
    log.info("Saved voicemail of call %s (%d bytes)", call.call_id, len(response.content))
    return target
