"""Drop Cowboy's current ringless-voicemail API: send a drop, import audio, check webhook signatures.

Wire format (current API, not v1): JSON POSTs with `x-key` and `x-secret` headers; POST /rvm
takes an `Idempotency-Key` header and returns 202 {"status": "queued", "message_id": ...};
errors are problem+json bodies ({"type", "title", "status", "detail"}). Results arrive later
on the send's `callback_url` (unsigned, tried once, echoes `foreign_id`) and on signed
webhooks (`X-Timestamp`, `X-Signature: sha256=HEX` = HMAC-SHA256 of "timestamp.body").
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import httpx

from desktop_app.core.providers.base import ProviderError

log = logging.getLogger(__name__)

PROVIDER = "dropcowboy"
SIGNATURE_PREFIX = "sha256="
# Drop Cowboy's documented window for X-Timestamp.
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Reason:
    words: str  # plain words for the coordinator
    retry: bool = False  # trying again later can succeed


# Result reason codes, from the send-results and troubleshooting pages of Drop Cowboy's
# public docs (github.com/Drop-Cowboy/dropcowboy).
REASONS: dict[int, Reason] = {
    0: Reason("left in the borrower's voicemail box"),
    3000: Reason("the Drop Cowboy balance is empty; add funds, then send again by hand"),
    3001: Reason("Drop Cowboy could not use the recording (not an MP3 or WAV it could fetch)"),
    3007: Reason("Drop Cowboy rejected the key or secret; check MCD_DROPCOWBOY_KEY and "
                 "MCD_DROPCOWBOY_SECRET"),
    3014: Reason("audio_url is not enabled on this Drop Cowboy account; set drops.dropcowboy_audio "
                 "to media"),
    3021: Reason("the text-to-speech text is too long"),
    3022: Reason("trial Drop Cowboy accounts can drop only to verified numbers"),
    3027: Reason("the Idempotency-Key was used before with a different request"),
    3028: Reason("the Idempotency-Key is not valid"),
    3040: Reason("the Drop Cowboy account is in testing mode and this is not one of its test numbers"),
    4001: Reason("the borrower has no voicemail box set up"),
    4002: Reason("the borrower's voicemail box is full"),
    4010: Reason("Drop Cowboy has no phone line to drop from; set drops.dropcowboy_phone_line_id or "
                 "a default line"),
    # NOTE: the docs say to send again "after the window" without giving its length, so the
    # retry delay in drops.py may come too early and use up an attempt.
    4013: Reason("the number reached the Drop Cowboy contact frequency limit", retry=True),
    4016: Reason("the number is on the Drop Cowboy do-not-contact list"),
    4017: Reason("the number is on a known TCPA litigator list"),
    6011: Reason("Drop Cowboy has no consent on file for this number; record the borrower's "
                 "consent in Drop Cowboy first"),
}


def describe(reason_code, reason_text: str = "") -> Reason:
    """Describe a result in plain words; an unknown code keeps Drop Cowboy's text and no retry."""
    try:
        code = int(reason_code)
    except (TypeError, ValueError):
        code = None
    known = REASONS.get(code) if code is not None else None
    if known is not None:
        return known
    text = (reason_text or "").strip() or "no reason given"
    return Reason(f"Drop Cowboy reported: {text}")


class DropCowboyClient:
    """Plain HTTP to Drop Cowboy; raises ProviderError with the problem details on failure."""

    def __init__(self, base_url: str, key: str, secret: str, timeout: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self._headers = {"x-key": key, "x-secret": secret, "Accept": "application/json"}
        self.timeout = timeout

    def send_rvm(self, *, to: str, idempotency_key: str, foreign_id: str, callback_url: str | None,
                 media_id: str | None = None, audio_url: str | None = None,
                 phone_line_id: str | None = None) -> str:
        """Queue one drop and return Drop Cowboy's message_id.

        The same Idempotency-Key with the same body never drops twice, so every failure here
        is safe to retry with the same key.
        """
        body: dict = {"to": to, "foreign_id": foreign_id}
        if media_id:
            body["media_id"] = media_id
        elif audio_url:
            body["audio_url"] = audio_url
        else:
            raise ProviderError(PROVIDER, "a drop needs a media_id or an audio_url")
        if callback_url:
            body["callback_url"] = callback_url
        if phone_line_id:
            body["phone_line_id"] = phone_line_id
        data = self._post("/rvm", body, {"Idempotency-Key": idempotency_key}, action="the drop")
        message_id = data.get("message_id") if isinstance(data, dict) else None
        if not message_id:
            raise ProviderError(PROVIDER, f"Drop Cowboy accepted the drop but sent no message_id: {data!r:.200}")
        return str(message_id)

    def import_media(self, *, name: str, url: str, ext: str = ".mp3") -> str:
        """Import an audio file from a URL into the media library; return its media_id."""
        data = self._post("/media/public/media", {"name": name, "type": "rvm", "url": url, "ext": ext},
                          {}, action="the recording import")
        media_id = data.get("media_id") if isinstance(data, dict) else None
        if not media_id:
            raise ProviderError(PROVIDER, f"Drop Cowboy imported the recording but sent no media_id: {data!r:.200}")
        return str(media_id)

    def phone_lines(self) -> list[dict]:
        """List the account's phone lines (GET /phone/public/lines); a drop goes out from one.

        Unlike the send route, this route answers 401 for a wrong key or secret, so it also
        checks the credentials without dropping anything.
        """
        url = self.base_url + "/phone/public/lines"
        action = "the phone line list"
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.get(url, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ProviderError(PROVIDER, f"{action} timed out after {self.timeout:g} s ({type(exc).__name__})",
                                retryable=True) from None
        except httpx.HTTPError as exc:
            raise ProviderError(PROVIDER, f"could not reach Drop Cowboy at {self.base_url} for {action}: {exc}",
                                retryable=True) from None
        if not 200 <= response.status_code < 300:
            raise _http_error(response, action)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(PROVIDER, f"{action} is not JSON: {response.text[:200]!r}") from None
        lines = body.get("data") if isinstance(body, dict) else None
        return [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []

    def _post(self, path: str, body: dict, headers: dict, *, action: str):
        url = self.base_url + path
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(url, json=body, headers={**self._headers, **headers})
        except httpx.TimeoutException as exc:
            raise ProviderError(PROVIDER, f"{action} timed out after {self.timeout:g} s ({type(exc).__name__})",
                                retryable=True) from None
        except httpx.HTTPError as exc:
            raise ProviderError(PROVIDER, f"could not reach Drop Cowboy at {self.base_url} for {action}: {exc}",
                                retryable=True) from None
        if 200 <= response.status_code < 300:
            try:
                return response.json()
            except ValueError:
                return {}
        raise _http_error(response, action)


def _http_error(response: httpx.Response, action: str) -> ProviderError:
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:200]}
    if not isinstance(problem, dict):
        problem = {"detail": str(problem)[:200]}
    slug = str(problem.get("type") or "").rsplit("/", 1)[-1] or None
    text = "; ".join(str(part) for part in (problem.get("title"), problem.get("detail")) if part) or \
        response.reason_phrase
    retry_after = None
    header = response.headers.get("Retry-After")
    if header:
        try:
            retry_after = max(0.0, float(header))
        except ValueError:
            retry_after = None
    hint = {401: " (check MCD_DROPCOWBOY_KEY and MCD_DROPCOWBOY_SECRET)",
            402: " (add funds to the Drop Cowboy account)",
            403: " (the API key lacks a scope or the plan lacks the feature)"}.get(status, "")
    retryable = status in (408, 429) or status >= 500
    return ProviderError(PROVIDER, f"Drop Cowboy rejected {action}: {text}{hint}", code=slug,
                         http_status=status, retryable=retryable, retry_after=retry_after)


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Compute the X-Signature value for a body: sha256= and the hex HMAC-SHA256 of "timestamp.body"."""
    payload = timestamp.encode("ascii") + b"." + raw_body
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, signature: str | None, timestamp: str | None,
                     secrets: list[str], now: float) -> str | None:
    """Check a webhook delivery against every signing secret. Returns why it fails, or None."""
    if not signature or not timestamp:
        return "missing X-Signature or X-Timestamp header"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return f"X-Timestamp {timestamp[:20]!r} is not Unix seconds"
    skew = abs(now - int(timestamp))
    if skew > SIGNATURE_TOLERANCE_SECONDS:
        return (f"X-Timestamp is {skew:.0f} s away from this computer's clock (the limit is "
                f"{SIGNATURE_TOLERANCE_SECONDS} s); check the clock")
    provided = signature.strip().encode("utf-8")
    matched = False
    for secret in secrets:
        # compare_digest takes the same time however many leading bytes match.
        if hmac.compare_digest(provided, sign(secret, timestamp, raw_body).encode("ascii")):
            matched = True
    return None if matched else "invalid X-Signature"
