"""Benchmark: RingCentral's validation handshake answer time, and missed-call event to SMS request.

Runs the app in this process (listener, writer and outbox threads) with the RingCentral
stand-in, so both ends of each measurement read the same clock (time.perf_counter). Each
call comes from a new caller to its own number dialed, so the one-message-per-second
pacing of a sender never enters the figure.

    .venv/bin/python -m tests.benchmarks.ringcentral_latency [--calls 40] [--handshakes 200]

Prints p50, p95, p99 and max for: Validation-Token request -> answer received, and the
Disconnected (missedCall) notification sent -> SMS request received by the stand-in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

import httpx  # noqa: E402

from desktop_app.core.app import AppOptions, DeskApp  # noqa: E402
from tests.standins.ringcentral_api import (CLIENT_ID, CLIENT_SECRET, JWT, VERIFICATION_TOKEN,  # noqa: E402
                                            RingCentralStandIn, party, session_event,
                                            telephony_session_id)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def describe(name: str, values_ms: list[float]) -> str:
    return (f"{name}: n={len(values_ms)} p50={statistics.median(values_ms):.1f} ms "
            f"p95={percentile(values_ms, 0.95):.1f} ms p99={percentile(values_ms, 0.99):.1f} ms "
            f"max={max(values_ms):.1f} ms")


def caller_number(i: int) -> str:
    return f"+1{['212', '312', '303', '602', '646', '415'][i % 6]}555{(i // 6) % 100:04d}"


def dialed_number(i: int) -> str:
    return f"+1{['917', '718', '347', '929'][i % 4]}5550{100 + (i // 4) % 100:03d}"


def measure_handshakes(port: int, count: int) -> list[float]:
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        for n in range(count):
            token = f"validation-{n:06d}"
            started = time.perf_counter()
            response = http.post("/ringcentral/webhook", content=b"",
                                 headers={"Validation-Token": token})
            times.append((time.perf_counter() - started) * 1000)
            if response.headers.get("Validation-Token") != token:
                raise SystemExit(f"handshake {n} was not echoed: HTTP {response.status_code}")
    return times


def measure_first_text(standin: RingCentralStandIn, calls: int) -> list[float]:
    latencies = []
    start = datetime.now(timezone.utc)
    for n in range(calls):
        session = telephony_session_id()
        caller, dialed = caller_number(n), dialed_number(n)
        ringing = session_event(session, 1, start, party("Proceeding", caller=caller, dialed=dialed))
        missed = session_event(session, 2, start + timedelta(seconds=12),
                               party("Disconnected", caller=caller, dialed=dialed, missed=True))
        standin.deliver(ringing)
        sent = time.perf_counter()
        standin.deliver(missed)
        [request] = standin.wait_for("POST", r"/sms$", n + 1)[n:]
        latencies.append((request.received - sent) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="missed calls to time")
    parser.add_argument("--handshakes", type=int, default=200, help="validation requests to time")
    args = parser.parse_args()

    numbers = tuple(dialed_number(i) for i in range(args.calls))
    with RingCentralStandIn(sms_numbers=numbers) as standin, tempfile.TemporaryDirectory() as tmp:
        env = {"MCD_RINGCENTRAL_CLIENT_ID": CLIENT_ID, "MCD_RINGCENTRAL_CLIENT_SECRET": CLIENT_SECRET,
               "MCD_RINGCENTRAL_JWT": JWT, "MCD_RINGCENTRAL_API_URL": standin.url,
               "MCD_RINGCENTRAL_VERIFICATION_TOKEN": VERIFICATION_TOKEN,
               "MCD_PUBLIC_URL": "https://desk.example.test", "MCD_BROKERAGE_NAME": "Bench Mortgage"}
        app = DeskApp(AppOptions(data_dir=Path(tmp), port=0, tunnel=False, start_scheduler=False,
                                 send_interval=0.0), environ=env)
        app.ctx.settings.set("ringcentral.manage_subscription", False)
        app.start()
        try:
            standin.delivery_target = f"http://127.0.0.1:{app.ctx.listen_port}/ringcentral/webhook"
            # Sign in once first: the token request is not part of the per-call figure.
            app.ctx.sms_provider("ringcentral").client.access_token()
            print(describe("validation handshake answered",
                           measure_handshakes(app.ctx.listen_port, args.handshakes)))
            print(describe("missed-call event -> SMS request",
                           measure_first_text(standin, args.calls)))
        finally:
            app.stop()


if __name__ == "__main__":
    main()
