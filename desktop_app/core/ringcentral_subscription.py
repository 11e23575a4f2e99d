"""The RingCentral webhook subscription: create it, renew it before it expires, recreate it when
RingCentral blacklists it or it is gone, and a background thread that keeps doing so."""

from __future__ import annotations

import json
import logging
import secrets as pysecrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from desktop_app.core.db import StorageError, get_meta, set_meta
from desktop_app.core.providers.base import ProviderError
from desktop_app.core.secrets import SecretStoreError

log = logging.getLogger(__name__)

SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
EVENT_FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
META_KEY = "ringcentral.subscription"
# Requested lifetime. 604800 s (7 days) is the lifetime RingCentral's own samples request
# for webhooks; the subscription is renewed well before it runs out.
EXPIRES_IN_SECONDS = 7 * 24 * 3600
RENEW_WHEN_LEFT = timedelta(days=2)
# The keeper looks at least this often, so a blacklisted subscription is noticed within hours.
MAX_CHECK_INTERVAL = timedelta(hours=6)
NOT_READY_RETRY = timedelta(minutes=1)
FAILURE_RETRY_FIRST = timedelta(seconds=30)
FAILURE_RETRY_MAX = timedelta(minutes=30)

_ensure_lock = threading.Lock()


@dataclass
class SubscriptionState:
    """The app's record of its subscription, kept in a Meta row (it contains no secret)."""

    id: str
    address: str
    status: str
    expires_at: str  # ISO 8601, computed from RingCentral's expiresIn on our clock
    checked_at: str


def load_state(ctx) -> SubscriptionState | None:
    with ctx.db.read() as session:
        raw = get_meta(session, META_KEY)
    if not raw:
        return None
    try:
        return SubscriptionState(**json.loads(raw))
    except (ValueError, TypeError):
        log.warning("Ignoring an unreadable stored RingCentral subscription record")
        return None


def _save_state(ctx, state: SubscriptionState) -> None:
    def store(uow):
        set_meta(uow.session, META_KEY, json.dumps(asdict(state)))

    ctx.db.write(store)


def _client(ctx):
    provider = ctx.sms_provider("ringcentral")
    return getattr(provider, "client", None)


def webhook_address(ctx) -> str | None:
    base = ctx.public_url()
    return f"{base}/ringcentral/webhook" if base else None


def _verification_token(ctx) -> str:
    """Return the configured token, or create one and store it in the keyring.

    Raise ProviderError when there is none and the keyring cannot store one.
    """
    token = ctx.secrets.get("ringcentral.verification_token")
    if token:
        return token
    token = pysecrets.token_urlsafe(24)
    try:
        ctx.secrets.set("ringcentral.verification_token", token)
    except SecretStoreError as exc:
        raise ProviderError("ringcentral", "no verification token for the webhook subscription "
                                           f"and none could be stored ({exc}); set "
                                           "MCD_RINGCENTRAL_VERIFICATION_TOKEN") from None
    log.info("Created a new RingCentral verification token and stored it in the keyring")
    return token


def _state_from(ctx, data: dict) -> SubscriptionState:
    now = ctx.clock.now()
    left = int(data.get("expiresIn") or 0)
    return SubscriptionState(
        id=str(data.get("id") or ""),
        address=str((data.get("deliveryMode") or {}).get("address") or ""),
        status=str(data.get("status") or ""),
        expires_at=(now + timedelta(seconds=left)).isoformat(),
        checked_at=now.isoformat(),
    )


def _when(ctx, state: SubscriptionState) -> str:
    """Format the expiry in the office's time zone, for messages."""
    zone = ZoneInfo(ctx.settings.get("brokerage.time_zone"))
    return datetime.fromisoformat(state.expires_at).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _create(ctx, client, address: str) -> SubscriptionState:
    body = {
        "eventFilters": [EVENT_FILTER],
        "deliveryMode": {"transportType": "WebHook", "address": address,
                         "verificationToken": _verification_token(ctx)},
        "expiresIn": EXPIRES_IN_SECONDS,
    }
    # RingCentral sends the Validation-Token request to `address` before it returns the new
    # subscription, so this must never run on the listener's thread.
    response = client.request("POST", SUBSCRIPTION_PATH, json=body,
                              action="Creating the RingCentral subscription")
    state = _state_from(ctx, response.json())
    _save_state(ctx, state)
    log.info("Created RingCentral subscription %s for %s", state.id, address)
    return state


def _delete(client, subscription_id: str) -> None:
    try:
        client.request("DELETE", f"{SUBSCRIPTION_PATH}/{subscription_id}",
                       action="Deleting the old RingCentral subscription")
    except ProviderError as error:
        # The new subscription matters more; an old one left behind expires on its own.
        log.warning("Could not delete RingCentral subscription %s: %s", subscription_id, error)


def ensure_subscription(ctx) -> str:
    """Make sure the webhook subscription exists, is active and is not about to expire.

    Returns a sentence saying what it did, for the log and the window. Raises
    ProviderError when RingCentral refuses or cannot be reached. It makes HTTP requests
    and RingCentral calls the listener back during creation, so call it from a worker
    thread, never from the listener or the Qt thread.
    """
    with _ensure_lock:
        client = _client(ctx)
        if client is None:
            return "RingCentral runs in sandbox mode (no credentials), so no subscription is made."
        address = webhook_address(ctx)
        if address is None:
            return ("No public URL yet (the tunnel is down and MCD_PUBLIC_URL is not set), so the "
                    "RingCentral subscription waits.")
        stored = load_state(ctx)
        if stored is None or not stored.id:
            state = _create(ctx, client, address)
            return f"Created RingCentral subscription {state.id}; it expires {_when(ctx, state)}."

        try:
            response = client.request("GET", f"{SUBSCRIPTION_PATH}/{stored.id}",
                                      action="Reading the RingCentral subscription")
        except ProviderError as error:
            if error.http_status != 404:
                raise
            state = _create(ctx, client, address)
            return (f"RingCentral subscription {stored.id} no longer exists; created "
                    f"{state.id} in its place.")
        data = response.json()
        current = _state_from(ctx, data)

        if current.status != "Active":
            reason = (data.get("blacklistedData") or {}).get("reason") or "no reason given"
            log.warning("RingCentral subscription %s is %s (%s); recreating it", stored.id,
                        current.status, reason)
            _delete(client, stored.id)
            state = _create(ctx, client, address)
            return (f"RingCentral subscription {stored.id} was {current.status} ({reason}); "
                    f"created {state.id} in its place.")
        if current.address != address:
            _delete(client, stored.id)
            state = _create(ctx, client, address)
            return (f"The public URL changed, so RingCentral subscription {stored.id} was "
                    f"replaced by {state.id} for {address}.")
        if datetime.fromisoformat(current.expires_at) - ctx.clock.now() < RENEW_WHEN_LEFT:
            response = client.request("POST", f"{SUBSCRIPTION_PATH}/{stored.id}/renew",
                                      action="Renewing the RingCentral subscription")
            state = _state_from(ctx, response.json())
            _save_state(ctx, state)
            log.info("Renewed RingCentral subscription %s", state.id)
            return f"Renewed RingCentral subscription {state.id}; it now expires {_when(ctx, state)}."
        _save_state(ctx, current)
        return f"RingCentral subscription {current.id} is active until {_when(ctx, current)}."


class SubscriptionKeeper:
    """A daemon thread that runs ensure_subscription when renewal comes due, and on wake()."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_result: str = ""
        self.last_error: str = ""

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ringcentral-subscription",
                                        daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def _next_check(self) -> timedelta:
        client = _client(self.ctx)
        if client is None:
            return MAX_CHECK_INTERVAL
        if webhook_address(self.ctx) is None:
            return NOT_READY_RETRY
        state = load_state(self.ctx)
        if state is None:
            return NOT_READY_RETRY
        due = datetime.fromisoformat(state.expires_at) - RENEW_WHEN_LEFT - self.ctx.clock.now()
        return max(NOT_READY_RETRY, min(due, MAX_CHECK_INTERVAL))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.last_result = ensure_subscription(self.ctx)
                self.last_error = ""
                failures = 0
                log.info("%s", self.last_result)
                wait = self._next_check()
            except ProviderError as error:
                failures += 1
                self.last_error = str(error)
                wait = min(FAILURE_RETRY_FIRST * (2 ** (failures - 1)), FAILURE_RETRY_MAX)
                if error.retry_after:
                    wait = max(wait, timedelta(seconds=error.retry_after))
                log.warning("RingCentral subscription check failed (attempt %d), retrying in "
                            "%.0f s: %s", failures, wait.total_seconds(), error)
            except StorageError as exc:
                log.warning("RingCentral subscription check could not use the store: %s", exc)
                return
            except Exception:
                log.exception("RingCentral subscription check failed unexpectedly")
                wait = FAILURE_RETRY_MAX
            self._wake.wait(wait.total_seconds())
