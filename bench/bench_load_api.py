"""Load: concurrent clients drive the production server for a minute on national-scale data.

    python bench/bench_load_api.py [--quick] [--seconds 60] [--clients 16] [--workers 2]

The server is started the production way, ``qidash serve --workers N`` (the whole app: API and
dashboards, JSON logs, graceful shutdown), on 127.0.0.1 only, against the PostgreSQL database
that bench/bench_api.py builds (``qidash_bench_api``: every open GP practice in England with
its REAL January 2021 list size, x 20 indicators x 60 months, about 7.8 million values; the
VALUES ARE GENERATED, since no public file holds national practice-level numerators and
denominators). ``--clients`` asyncio clients send a mix of the requests a network meeting
makes (comparison tables, funnels, profiles, SPC charts, searches, indicator lists, readiness),
bounded by ``--seconds`` and ``--max-requests``. Any answer other than 200 is an error.

Prints throughput (requests/s), p50/p95/p99 latency overall and per kind of request, and the
error count; exits 1 if there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

QIDASH = str(REPO / ".venv" / "bin" / "qidash") if (REPO / ".venv" / "bin" / "qidash").exists() \
    else "qidash"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of xs."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s))) - 1))]


KINDS = ("comparison", "funnel", "profile", "spc", "search", "indicators", "ready")
WEIGHTS = (30, 15, 15, 20, 10, 5, 5)


def request_mix(url: str, seed: int, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, str]]:
    """(kind, path) requests built from what the database holds: real practice codes."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        inds = [r[0] for r in c.execute(text("SELECT id FROM indicators ORDER BY id"))]
        orgs = [r[0] for r in c.execute(text(
            "SELECT code FROM organisations WHERE org_type = 'practice' ORDER BY code"))]
    engine.dispose()
    rng = random.Random(seed)
    mix = []
    for _ in range(2000):
        ind, org = rng.choice(inds), rng.choice(orgs)
        kind = rng.choices(kinds, weights=[w for k, w in zip(KINDS, WEIGHTS, strict=True)
                                           if k in kinds])[0]
        path = {
            "comparison": f"/api/v1/indicators/{ind}/comparison",
            "funnel": f"/api/v1/indicators/{ind}/funnel",
            "profile": f"/api/v1/organisations/{org}/profile",
            "spc": f"/api/v1/organisations/{org}/indicators/{ind}/spc",
            "search": f"/api/v1/organisations?q={org[:3]}&type=practice",
            "indicators": "/api/v1/indicators",
            "ready": "/api/v1/ready",
        }[kind]
        mix.append((kind, path))
    return mix


async def drive(port: int, mix: list[tuple[str, str]], clients: int, seconds: float,
                cap: int) -> tuple[dict[str, list[float]], list[str], float]:
    import httpx

    lat: dict[str, list[float]] = {}
    errors: list[str] = []
    sent = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                 limits=limits) as client:
        async def worker(w: int) -> None:
            nonlocal sent
            k = w
            while time.perf_counter() < stop and sent < cap:
                sent += 1
                kind, path = mix[k % len(mix)]
                k += clients
                t0 = time.perf_counter()
                try:
                    r = await client.get(path)
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status, r = -1, None
                    errors.append(f"{path}: {type(exc).__name__}")
                lat.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
                if status != 200 and r is not None:
                    errors.append(f"{path}: {status} {r.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        elapsed = time.perf_counter() - t0
    return lat, errors, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="15 seconds, 8 clients")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="request kinds to send, comma-separated: " + ", ".join(KINDS))
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.clients = 15.0, 8

    import httpx
    from bench_api import build

    url, n_values = build(False)
    kinds = tuple(k for k in args.kinds.split(",") if k in KINDS)
    mix = request_mix(url, seed=8, kinds=kinds)
    port = _free_port()
    env = dict(os.environ, QIDASH_DATABASE_URL=url, QIDASH_LOG_JSON="true",
               PYTHONPATH=str(REPO))
    log = open(os.devnull, "w")  # the server's access log, one line per request
    proc = subprocess.Popen([QIDASH, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(args.workers)], cwd=REPO, env=env,
                            stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=2
                             ).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                print("server did not become ready")
                return 1
            time.sleep(0.3)
        for _kind, path in mix[:40]:  # warm both workers
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=60)
        print(f"qidash serve --workers {args.workers} on 127.0.0.1, PostgreSQL with "
              f"{n_values:,} values; {args.clients} clients for {args.seconds:.0f} s "
              f"(at most {args.max_requests:,} requests)", flush=True)
        lat, errors, elapsed = asyncio.run(
            drive(port, mix, args.clients, args.seconds, args.max_requests))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # graceful shutdown, as in production
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    every = [x for xs in lat.values() for x in xs]
    print(f"{'request':12s} {'count':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}")
    for kind in sorted(lat):
        xs = lat[kind]
        print(f"{kind:12s} {len(xs):7d} {statistics.median(xs):8.1f} {pct(xs, 95):8.1f} "
              f"{pct(xs, 99):8.1f}")
    print(f"{'all':12s} {len(every):7d} {statistics.median(every):8.1f} {pct(every, 95):8.1f} "
          f"{pct(every, 99):8.1f}")
    print(f"throughput {len(every) / elapsed:.1f} requests/s over {elapsed:.1f} s; "
          f"errors {len(errors)}")
    for e in errors[:10]:
        print("  error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
