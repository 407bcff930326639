"""Interleaved A/B of the uncached national comparison between two source trees.

    python bench/scratch/comparison_ab.py TREE [TREE ...] [--rounds 3] [--requests 80]

Each round runs, for each tree in turn, a child process that imports that tree's code and
times ``GET /api/v1/indicators/bench_NN/comparison`` in process (Starlette TestClient,
response cache off), each request right after the bare indexed fetch of ``bench_api.py``
(``bench_bare_values``, made by a first ``bench/bench_api.py`` run), and prints the medians,
the ratio, the process CPU time per request and the load average. ``--commands`` prints
instead what one request sends to PostgreSQL (psycopg hooks: round trips by kind).

On a shared 2-core machine the load average moves these figures by tens of percent between
rounds; compare trees within a round, over several rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DB = os.environ.get("QIDASH_BENCH_API_DB", "qidash_bench_api")
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"
BARE = ("SELECT org_id, numerator, denominator, value, lower_ci, upper_ci, suppressed "
        "FROM bench_bare_values WHERE indicator_id = %s AND period_id = %s")


def child(tree: str, n: int, commands: bool) -> None:
    sys.path.insert(0, tree)
    os.environ["QIDASH_RESPONSE_CACHE_MB"] = "0"
    import psycopg
    from fastapi.testclient import TestClient

    from api.app import create_api
    from core.settings import Settings, override_settings

    sent: list[str] = []
    if commands:
        from psycopg import _connection_base, _cursor_base

        command, send = (_connection_base.BaseConnection._exec_command,
                         _cursor_base.BaseCursor._execute_send)

        def exec_command(self, cmd, *a, **k):  # type: ignore[no-untyped-def]
            sent.append(bytes(cmd).decode()[:40] if isinstance(cmd, bytes) else str(cmd)[:40])
            return command(self, cmd, *a, **k)

        def execute_send(self, query, *a, **k):  # type: ignore[no-untyped-def]
            sent.append(bytes(query.query).decode()[:40].replace("\n", " "))
            return send(self, query, *a, **k)

        _connection_base.BaseConnection._exec_command = exec_command  # type: ignore[method-assign]
        _cursor_base.BaseCursor._execute_send = execute_send  # type: ignore[method-assign]

    override_settings(Settings(database_url=URL))
    bare_t, req_t, cpu_t = [], [], []
    with psycopg.connect(URL.replace("+psycopg", ""), autocommit=True) as bare, \
            bare.cursor() as cur, TestClient(create_api()) as client:
        for k in range(n + 10):
            ind = f"bench_{k % 20:02d}"
            t0 = time.perf_counter()
            cur.execute(BARE, (ind, 60))
            cur.fetchall()
            t1, c1 = time.perf_counter(), time.process_time()
            sent.clear()
            r = client.get(f"/api/v1/indicators/{ind}/comparison")
            t2, c2 = time.perf_counter(), time.process_time()
            assert r.status_code == 200, r.text[:200]
            if commands and k >= 2:
                print(f"{tree}: {len(sent)} round trips: {sent}")
                return
            if k >= 10:
                bare_t.append((t1 - t0) * 1000)
                req_t.append((t2 - t1) * 1000)
                cpu_t.append((c2 - c1) * 1000)
    b, m = statistics.median(bare_t), statistics.median(req_t)
    print(f"{tree:24s} load {os.getloadavg()[0]:4.2f}  bare {b:5.2f} ms  in process "
          f"{m:6.2f} ms = {m / b:.2f}x  cpu {statistics.median(cpu_t):6.2f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=80)
    ap.add_argument("--commands", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.requests, args.commands)
        return
    for _ in range(1 if args.commands else args.rounds):
        for tree in args.trees:
            cmd = [sys.executable, __file__, str(Path(tree).resolve()), "--child",
                   str(Path(tree).resolve()), "--requests", str(args.requests)]
            subprocess.run(cmd + (["--commands"] if args.commands else []), check=True)


if __name__ == "__main__":
    main()
