"""Benchmark: does the HubSpot sync slow the first text, and what does one sync cost?

Runs the app against the Twilio and HubSpot stand-ins on 127.0.0.1, once without and once
with a HubSpot token. For each run it prints the time from the final call-status webhook to
the text request reaching the Twilio stand-in (p50, p95). With the token it also prints the
time until the contact shows "synced" and the HubSpot requests per sync.

    .venv/bin/python -m tests.benchmarks.hubspot_sync [--calls 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

from tests.conftest import SignedClient, make_app, twilio_env  # noqa: E402
from tests.helpers import call_sid, contact_by_phone, dial_params, status_params, voice_params, wait_until  # noqa: E402
from tests.standins.hubspot_api import TOKEN, HubSpotStandIn  # noqa: E402
from tests.standins.twilio_api import TwilioStandIn  # noqa: E402

DIALED = "+12125550100"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(calls: int, with_hubspot: bool, existing_share: float) -> dict:
    with TwilioStandIn() as twilio, HubSpotStandIn() as hubspot, \
            tempfile.TemporaryDirectory() as tmp:
        env = twilio_env(twilio)
        if with_hubspot:
            env.update({"MCD_HUBSPOT_TOKEN": TOKEN, "MCD_HUBSPOT_API_URL": hubspot.url})
        app = make_app(Path(tmp), env)
        app.start()
        client = SignedClient(app.ctx.listen_port)
        callers = [f"+1212555{1000 + i:04d}" for i in range(calls)]
        for caller in callers[:int(calls * existing_share)]:
            hubspot.add_contact(phone=f"({caller[2:5]}) {caller[5:8]}-{caller[8:]}")
        to_text, to_sync = [], []
        try:
            for index, caller in enumerate(callers):
                sid = call_sid()
                client.post("/twilio/voice", voice_params(sid, caller, DIALED))
                client.post("/twilio/dial-action", dial_params(sid, caller, DIALED))
                started = time.perf_counter()
                client.post("/twilio/call-status", status_params(sid, caller, DIALED, duration=12))
                posts = twilio.wait_for_messages(index + 1)
                to_text.append((posts[index].received - started) * 1000)
                if with_hubspot:
                    wait_until(lambda: contact_by_phone(app.ctx, caller).hubspot_sync == "synced",
                               timeout=30)
                    to_sync.append((time.perf_counter() - started) * 1000)
        finally:
            client.close()
            app.stop()
        result = {"text_p50": statistics.median(to_text), "text_p95": percentile(to_text, 0.95)}
        if with_hubspot:
            result.update(sync_p50=statistics.median(to_sync), sync_p95=percentile(to_sync, 0.95),
                          requests_per_sync=len(hubspot.requests) / calls)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    for label, with_hubspot in (("no HubSpot token", False), ("HubSpot connected", True)):
        result = run(args.calls, with_hubspot, existing_share=0.5)
        line = (f"{label:18}  webhook to text request: p50 {result['text_p50']:.1f} ms, "
                f"p95 {result['text_p95']:.1f} ms")
        if with_hubspot:
            line += (f"; webhook to synced: p50 {result['sync_p50']:.0f} ms, p95 "
                     f"{result['sync_p95']:.0f} ms; {result['requests_per_sync']:.1f} HubSpot "
                     "requests per sync (half the callers already in HubSpot)")
        print(line)


if __name__ == "__main__":
    main()
