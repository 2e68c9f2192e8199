#!/usr/bin/env python3
"""The chat's fan-out, measured: delivery latency and losses for N readers of one room.

Starts a private redis-server, a throwaway SQLite database and ONE uvicorn process
serving echo.asgi on loopback; connects N anonymous readers and a few verified senders
(real WebSocket clients, the websockets library), sends RATE messages/s for DURATION
seconds spread over the senders (each stays under the 3-per-2-s limit), and reports
delivery latency (send to receipt, per reader and message), losses and frames per client.

    .venv/bin/python bench/chat_sanity.py [--clients 200] [--rate 10] [--duration 20] [--runs 1]

With --runs N it repeats the whole measure (fresh server, Redis and database each time),
prints every run and the medians, and writes them to bench/results/chat-<time>.json.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict, senders: int) -> list[str]:
    """Migrate, create the streamer and verified senders; their session cookies."""
    os.environ.update(env)
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from accounts.models import User

    call_command("migrate", verbosity=0)
    User.objects.create_user("streamer", "s@example.org", "pw")
    cookies = []
    for n in range(senders):
        user = User.objects.create_user(f"sender{n}", f"sender{n}@example.org", "pw")
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        cookies.append(session.session_key)
    return cookies


async def reader(url: str, origin: str, received: list, frames: list, ready: asyncio.Event, stop):
    import websockets

    async with websockets.connect(url, origin=origin, max_size=2**20) as ws:
        await ws.recv()  # welcome + history
        ready.set()
        count = 0
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            now = time.time()
            count += 1
            for event in json.loads(text):
                if event["type"] == "message":
                    received.append((event["id"], now - float(event["body"].split()[0])))
        frames.append(count)


async def sender(url: str, origin: str, cookie: str, interval: float, until: float, sent: list):
    import websockets

    headers = {"Cookie": f"sessionid={cookie}"}
    async with websockets.connect(url, origin=origin, additional_headers=headers) as ws:
        await ws.recv()
        n = 0
        while time.time() < until:
            n += 1
            await ws.send(
                json.dumps({"type": "send", "body": f"{time.time():.6f} #{n}", "nonce": str(n)})
            )
            answered = False
            while not answered:
                for event in json.loads(await ws.recv()):
                    if event["type"] == "ack":
                        sent.append(event["id"])
                        answered = True
                    elif event["type"] == "error":
                        print("send refused:", event, file=sys.stderr)
                        answered = True
            await asyncio.sleep(interval)


async def measure(port: int, cookies: list[str], clients: int, rate: float, duration: float):
    url, origin = f"ws://127.0.0.1:{port}/ws/chat/streamer/", f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    received, frames, sent = [], [], []
    readies = [asyncio.Event() for _ in range(clients)]
    readers = []
    for event in readies:
        readers.append(asyncio.create_task(reader(url, origin, received, frames, event, stop)))
        await asyncio.sleep(0.005)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
    interval = len(cookies) / rate
    until = time.time() + duration
    tasks = []
    for cookie in cookies:
        tasks.append(asyncio.create_task(sender(url, origin, cookie, interval, until, sent)))
        await asyncio.sleep(interval / len(cookies))
    await asyncio.gather(*tasks)
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*readers)
    return received, frames, sent


def one_run(args) -> dict:
    from echo.redis import private_redis_url, start_private_redis, stop_private_redis

    with tempfile.TemporaryDirectory(prefix="echo-chat-sanity-") as tmp:
        redis_process = start_private_redis(Path(tmp) / "redis")
        env = {
            "DEBUG": "false",
            "SECRET_KEY": "chat-sanity-" + "x" * 50,
            "DJANGO_SETTINGS_MODULE": "echo.settings",
            "DB_NAME": str(Path(tmp) / "db.sqlite3"),
            "REDIS_URL": private_redis_url(Path(tmp) / "redis"),
            "ALLOWED_HOSTS": "127.0.0.1",
        }
        cookies = prepare(env, args.senders)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "echo.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--ws-max-size", "65536"],
            cwd=ROOT, env={**os.environ, **env},
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            received, frames, sent = asyncio.run(
                measure(port, cookies, args.clients, args.rate, args.duration)
            )
            server_cpu = cpu_seconds(server.pid)
        finally:
            server.terminate()
            server.wait(10)
            stop_private_redis(redis_process)
    latencies = sorted(latency for _, latency in received)
    expected = len(sent) * args.clients
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "clients": args.clients,
        "messages_sent": len(sent),
        "rate_per_s": round(len(sent) / args.duration, 1),
        "deliveries": len(received),
        "lost": expected - len(received),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "frames_per_client": round(statistics.mean(frames), 1),
        # Whole run (connecting included); the clients share the same 2 cores.
        "server_cpu_s": round(server_cpu, 1),
        "clients_cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for number in range(args.runs):
        # Each run in its own process: Django is set up once per process.
        if args.runs == 1:
            runs.append(one_run(args))
            break
        command = [sys.executable, __file__, "--clients", str(args.clients), "--rate",
                   str(args.rate), "--duration", str(args.duration), "--senders",
                   str(args.senders)]  # fmt: skip
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output))
        print(f"run {number + 1}: {json.dumps(runs[-1])}", file=sys.stderr)
    if len(runs) == 1:
        print(json.dumps(runs[0], indent=1))
        return
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result = {"runs": runs, "median": medians, "load_before": os.getloadavg()}
    path = ROOT / "bench" / "results" / f"chat-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(medians, indent=1))
    print(f"written to {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
