"""Benchmark: webhook received to SMS request sent, and webhook answer times under a burst.

Runs the app headless as its own process, with the Twilio REST stand-in and the webhook
client in this process, so both ends of each measurement read the same clock
(time.perf_counter). Each call comes from a new caller to its own number dialed, so the
one-message-per-second pacing of a sender never enters the figure.

    .venv/bin/python -m tests.benchmarks.first_text_latency [--calls 40] [--burst 200]

Prints p50, p95 and max for: final webhook sent -> SMS request received by the stand-in
(forward-only flow and full voice/dial/status flow), and webhook answer times with
--burst webhooks arriving at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode
from pathlib import Path

from tests.conftest import PUBLIC_URL, SignedClient, twilio_env
from tests.helpers import call_sid, dial_params, status_params, voice_params
from tests.standins.twilio_api import TwilioStandIn, sign


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def describe(name: str, values_ms: list[float]) -> str:
    return (f"{name}: n={len(values_ms)} p50={statistics.median(values_ms):.1f} ms "
            f"p95={percentile(values_ms, 0.95):.1f} ms p99={percentile(values_ms, 0.99):.1f} ms "
            f"max={max(values_ms):.1f} ms")


def start_app(data_dir: Path, port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--headless", "--no-tunnel", "--port", str(port),
         "--data-dir", str(data_dir), "--log-level", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"app exited: {process.stderr.read()}")
            time.sleep(0.05)
    raise SystemExit("app did not start listening")


def caller_number(i: int) -> str:
    return f"+1{['212', '312', '303', '602', '646', '415'][i % 6]}555{i // 6 % 100:04d}"[:12]


def dialed_number(i: int) -> str:
    return f"+1{['917', '718', '347', '929'][i % 4]}5550{100 + i // 4 % 100:03d}"


def measure_first_text(client: SignedClient, standin: TwilioStandIn, calls: int,
                       full_flow: bool, offset: int) -> list[float]:
    latencies = []
    for n in range(calls):
        i = offset + n
        caller, dialed, sid = caller_number(i), dialed_number(i), call_sid()
        expected = len(standin.message_requests()) + 1
        if full_flow:
            client.post("/twilio/voice", voice_params(sid, caller, dialed))
            client.post("/twilio/dial-action", dial_params(sid, caller, dialed))
            final = status_params(sid, caller, dialed, duration=14)
        else:
            final = status_params(sid, caller, dialed, status="no-answer", duration=14)
        started = time.perf_counter()
        response = client.post("/twilio/call-status", final)
        if response.status_code != 204:
            raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
        request = standin.wait_for_messages(expected, timeout=10)[expected - 1]
        latencies.append((request.received - started) * 1000)
        time.sleep(0.05)  # let the app finish recording the send before the next call
    return latencies


def measure_burst(port: int, count: int, offset: int) -> list[float]:
    """Answer times when `count` signed status callbacks arrive at the same moment.

    Connections are opened first and the requests are pre-built bytes written together on
    raw asyncio streams, so the figure is the app's, not an HTTP client library's.
    """
    requests = []
    for i in range(count):
        params = status_params(call_sid(), caller_number(offset + i), dialed_number(offset + i),
                               status="no-answer", duration=9)
        body = urlencode(params).encode()
        signature = sign(PUBLIC_URL + "/twilio/call-status", params)
        head = ("POST /twilio/call-status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)

    async def run() -> list[float]:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in requests]
        go = asyncio.Event()

        async def one(reader, writer, payload) -> float:
            await go.wait()
            started = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            elapsed = (time.perf_counter() - started) * 1000
            if b" 204 " not in status_line:
                raise SystemExit(f"burst webhook answered {status_line!r}")
            writer.close()
            return elapsed

        tasks = [asyncio.create_task(one(r, w, payload))
                 for (r, w), payload in zip(connections, requests)]
        await asyncio.sleep(0.1)
        go.set()
        return await asyncio.gather(*tasks)

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="missed calls per flow (default 40)")
    parser.add_argument("--burst", type=int, default=200,
                        help="webhooks sent at once for the answer-time figure (default 200)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, TwilioStandIn() as standin:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCD_")}
        env.update(twilio_env(standin, PUBLIC_URL))
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
        port = free_port()
        app = start_app(Path(tmp), port, env)
        client = SignedClient(port)
        try:
            measure_first_text(client, standin, 3, False, 900)  # warm-up, not counted
            forward = measure_first_text(client, standin, args.calls, False, 0)
            full = measure_first_text(client, standin, args.calls, True, 200)
            burst = measure_burst(port, args.burst, 400)
        finally:
            client.close()
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=30)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(describe("webhook -> SMS request, forward-only no-answer", forward))
    print(describe("webhook -> SMS request, final status after voice and dial", full))
    print(describe(f"webhook answer time, {args.burst} at once", burst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
