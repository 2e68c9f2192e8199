#!/usr/bin/env python3
"""HTTP throughput of Django under WSGI (gunicorn threads) and ASGI (gunicorn + uvicorn
workers, echo/workers.py), with the same number of worker processes, on loopback.

Three requests a watching tab makes: the channel page, the player's status.json poll
and the viewer heartbeat (POST, each from its own X-Forwarded-For address so the
per-address limit does not turn it into a 429). Each is run `--runs` times for
`--seconds` with `--concurrency` keep-alive connections; the median req/s is reported.

    .venv/bin/python bench/servers.py [--modes wsgi,asgi,asgi:4] [--workers 3] [--threads 4]
                                      [--seconds 10] [--runs 3]

Straight to gunicorn (no nginx): the server is what is compared. A throwaway SQLite
database and a private Redis in a temporary directory; everything on 127.0.0.1.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import free_port, wait_for_port  # noqa: E402

CHANNEL = "alice"


def environment(workdir: Path, redis_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DB": "sqlite",
        "DB_NAME": str(workdir / "db.sqlite3"),
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "k" * 50,
        "ECHO_STATIC_MANIFEST": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ECHO_RTMP_CALLBACK_SECRET": "bench-callback-secret",
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }


def setup_database() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import User
    from streams.models import Broadcast

    call_command("migrate", verbosity=0)
    channel = User.objects.create_user(CHANNEL, f"{CHANNEL}@example.org", None).channel
    now = timezone.now()
    # Live, so the heartbeat counts the viewer instead of answering "not live".
    Broadcast.objects.create(channel=channel, title="bench", started_at=now, last_seen_at=now)


def server_command(mode: str, port: int, workers: int, threads: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--log-level", "warning"]
    if mode == "wsgi":
        return command + ["--threads", str(threads), "echo.wsgi"]
    return command + ["--worker-class", "echo.workers.EchoUvicornWorker", "echo.asgi:application"]


# --- the load: asyncio keep-alive connections speaking just enough HTTP/1.1 ----------


def request_bytes(kind: str) -> bytes:
    # A random client address each: the heartbeat's per-address limit must not answer.
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    headers = f"Host: 127.0.0.1\r\nX-Forwarded-For: {address}\r\n"
    if kind == "page":
        return f"GET /{CHANNEL} HTTP/1.1\r\n{headers}\r\n".encode()
    if kind == "status":
        return f"GET /{CHANNEL}/status.json HTTP/1.1\r\n{headers}\r\n".encode()
    body = json.dumps({"viewer": f"{random.getrandbits(128):032x}"})
    return (
        f"POST /{CHANNEL}/viewers HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def connection(port: int, kind: str, deadline: float, counts: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            writer.write(request_bytes(kind))
            status = await read_response(reader)
            counts["ok" if 200 <= status < 300 else "failed"] += 1
    finally:
        writer.close()


async def load(port: int, kind: str, seconds: float, concurrency: int) -> tuple[float, int]:
    counts = {"ok": 0, "failed": 0}
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(connection(port, kind, deadline, counts) for _ in range(concurrency)))
    return counts["ok"] / (time.monotonic() - started), counts["failed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="WSGI threads per worker")
    parser.add_argument(
        "--modes", default="wsgi,asgi", help="servers to compare: wsgi|asgi[:workers],..."
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()

    from echo.redis import private_redis_url, start_private_redis, stop_private_redis

    results = {}
    with tempfile.TemporaryDirectory(prefix="echo-bench-http-") as directory:
        workdir = Path(directory)
        redis = start_private_redis(workdir / "redis")
        env = environment(workdir, private_redis_url(workdir / "redis"))
        os.environ.update(env)
        servers = {}
        try:
            setup_database()
            # Every server at once, and their runs interleaved: this host's speed varies from
            # minute to minute (other work, CPU clock), and each server gets the same minutes.
            for spec in options.modes.split(","):
                mode, _, workers = spec.partition(":")
                port = free_port()
                command = server_command(
                    mode, port, int(workers or options.workers), options.threads
                )
                servers[spec] = (port, subprocess.Popen(command, cwd=ROOT, start_new_session=True))
            for port, server in servers.values():
                wait_for_port(port, server, timeout=60)
                asyncio.run(load(port, "page", 2, options.concurrency))  # warm up
            for kind in ("page", "status", "heartbeat"):
                rates = {spec: [] for spec in servers}
                failures = dict.fromkeys(servers, 0)
                for _ in range(options.runs):
                    for spec, (port, _server) in servers.items():
                        rate, failed = asyncio.run(
                            load(port, kind, options.seconds, options.concurrency)
                        )
                        rates[spec].append(rate)
                        failures[spec] += failed
                for spec in servers:
                    results[f"{spec} {kind}"] = {
                        "median": round(statistics.median(rates[spec]), 1),
                        "runs": [round(rate, 1) for rate in rates[spec]],
                        "failed": failures[spec],
                    }
                    print(f"{spec:7} {kind:9} {results[f'{spec} {kind}']}", flush=True)
        finally:
            for _port, server in servers.values():
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
            stop_private_redis(redis)
    print(json.dumps({"options": vars(options), "results": results}, indent=2))


if __name__ == "__main__":
    main()
