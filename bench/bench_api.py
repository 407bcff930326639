"""Benchmark of the comparison endpoint on national-scale data in PostgreSQL.

    python bench/bench_api.py [--requests 200] [--concurrency 16] [--seconds 10] [--rebuild]

Data: every open GP practice in England with its REAL January 2021 list size (ODS epraccur and
NHS Digital's registered-patients file in ../shared/data/gp_practice_national, read by
bench/generate_national.py), about 6,500 practices x 20 indicators x 60 months = ~7.8 million
values. The indicator VALUES ARE GENERATED (seeded binomial draws around a practice-specific
rate): no public file holds national practice-level numerators and denominators. They are
written straight into the migrated schema with PostgreSQL COPY into database
``qidash_bench_api`` (``QIDASH_BENCH_API_DB`` names another; kept between runs and migrated to
the current schema when reused; ``--rebuild`` makes it again).

Prints, for ``GET /api/v1/indicators/{id}/comparison`` (6,500 rows, default latest period),
first with the response cache off (the honest figures), then with it warm:
* median and p95 latency for one client, in process (Starlette TestClient, no network) and
  against uvicorn on 127.0.0.1 (httpx, sequential);
* the same rows fetched with raw SQL (psycopg, the one SELECT behind the endpoint) and the
  ratio of the two medians (target: at most 3x; median target under 30 ms);
* the same rows fetched by an indexed raw SELECT from a bare table (a copy of the values with
  one index on (indicator, period), no join, no order) and the ratio (target: at most 2x);
  and from a bare table that also holds each row's organisation code and name, which the
  endpoint's rows show (the issue's "the same rows"; both ratios are printed);
* the HTTP floor (``bench/http_floor.py``): a one-route FastAPI app that answers with the
  bare fetch's rows (codes and names included) written as JSON by msgspec, nothing else;
  timed interleaved with the endpoint, request by request, in process and under uvicorn, and
  the endpoint printed as a ratio to it (what qidash adds over any service that answers with
  the same rows: its statistics, roles, data version and disclosure control);
* the split of one request: service (queries + statistics) and JSON serialisation;
* throughput with ``--concurrency`` clients against uvicorn (2 workers) on 127.0.0.1,
  bounded by ``--seconds`` and a request cap.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

PG_ADMIN = os.environ.get("QIDASH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("QIDASH_BENCH_API_DB", "qidash_bench_api")
N_INDICATORS = 20
N_MONTHS = 60


def _url(db: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + db


def build(rebuild: bool) -> tuple[str, int]:
    """Create (or reuse) the benchmark database; returns its URL and the number of values."""
    from sqlalchemy import create_engine, text

    from core.db import make_engine, migrate

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                              {"d": DB_NAME}).first()
        if exists and rebuild:
            conn.execute(text(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    url = _url(DB_NAME)
    engine = make_engine(url)
    with engine.connect() as conn:
        has = conn.execute(text(
            "SELECT to_regclass('indicator_values') IS NOT NULL")).scalar()
        n = conn.execute(text("SELECT count(*) FROM indicator_values")).scalar() if has else 0
    if n:
        print(f"reusing {DB_NAME}: {n:,} values (--rebuild to regenerate)")
        migrate(engine)  # an older schema is upgraded with its data
        engine.dispose()
        return url, int(n)
    migrate(engine)
    engine.dispose()
    t0 = time.perf_counter()
    n = _generate(url)
    print(f"generated {n:,} values in {time.perf_counter() - t0:.1f} s (COPY)")
    return url, n


def _generate(url: str) -> int:
    import json

    import pandas as pd
    import psycopg
    from generate_national import practices

    from core.periods import parse_period

    prac = practices()
    rng = np.random.default_rng(20261126)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO organisations (id, code, name, org_type, parent_id, is_active, "
                    "attributes, updated_at) VALUES (1, 'E92000001', 'England', 'nation', NULL, "
                    "true, '{}', now())")
        ccgs = sorted(prac["ccg"].unique())
        ccg_id = {c: 2 + i for i, c in enumerate(ccgs)}
        with cur.copy("COPY organisations (id, code, name, org_type, parent_id, is_active, "
                      "attributes, updated_at) FROM STDIN") as cp:
            for c, i in ccg_id.items():
                cp.write_row((i, f"CCG{c}", f"CCG {c}", "sub_icb", 1, True, "{}", "now"))
            base = 2 + len(ccgs)
            for k, r in enumerate(prac.itertuples()):
                cp.write_row((base + k, r.org_code, str(r.name).title(), "practice",
                              ccg_id[r.ccg], True, json.dumps({"list_size": int(r.list_size)}),
                              "now"))
        org_ids = np.arange(base, base + len(prac))
        for i in range(N_INDICATORS):
            cur.execute(
                "INSERT INTO indicators (id, name, value_type, multiplier, polarity, target, "
                "thresholds, tags, decimals, frequency, updated_at) VALUES (%s, %s, "
                "'proportion', 100, 'higher_is_better', 90, '[]', '[]', 1, 'month', now())",
                (f"bench_{i:02d}", f"Benchmark indicator {i} (generated values)"),
            )
        cur.execute("SELECT id, ikey FROM indicators")
        ikeys = dict(cur.fetchall())
        labels = [f"{2020 + m // 12:04d}-{m % 12 + 1:02d}" for m in range(N_MONTHS)]
        for pid, lab in enumerate(labels, start=1):
            p = parse_period(lab)
            cur.execute("INSERT INTO periods (id, label, period_type, start_date, end_date) "
                        "VALUES (%s, %s, 'month', %s, %s)", (pid, lab, p.start, p.end))
        sizes = prac["list_size"].to_numpy(dtype=float)
        total = 0
        # as the loader's bulk path: keys, index and foreign keys built once after the copy
        cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                    "conrelid = 'indicator_values'::regclass ORDER BY contype = 'f'")
        constraints = cur.fetchall()
        cur.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM "
                    "pg_index WHERE indrelid = 'indicator_values'::regclass AND NOT indisprimary")
        indexes = cur.fetchall()
        for name, _ in reversed(constraints):
            cur.execute(f'ALTER TABLE indicator_values DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for i in range(N_INDICATORS):
            share = 0.01 + 0.02 * (i % 10)
            rate = np.clip(rng.normal(0.55 + 0.02 * i, 0.08, len(prac)), 0.05, 0.98)
            den = np.maximum(np.round(sizes * share / 12), 5).astype(np.int64)
            buf = io.StringIO()
            for pid in range(1, N_MONTHS + 1):
                num = rng.binomial(den, rate)
                frame = pd.DataFrame({"i": ikeys[f"bench_{i:02d}"], "p": pid, "o": org_ids,
                                      "n": num, "d": den, "v": num / den * 100, "s": "f"})
                frame.to_csv(buf, sep="\t", header=False, index=False)
                total += len(frame)
            buf.seek(0)
            with cur.copy("COPY indicator_values (ikey, period_id, org_id, numerator, "
                          "denominator, value, suppressed) FROM STDIN") as cp:
                while chunk := buf.read(1 << 20):
                    cp.write(chunk)
            print(f"  indicator {i + 1}/{N_INDICATORS} copied", flush=True)
        cur.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in constraints:
            cur.execute(f'ALTER TABLE indicator_values ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cur.execute(definition)
        # the counts a load keeps (value_counts), as ``qidash loads recount`` makes them
        cur.execute("DELETE FROM value_counts")
        cur.execute("INSERT INTO value_counts (ikey, n_values, n_orgs) SELECT ikey, COUNT(*), "
                    "COUNT(DISTINCT org_id) FROM indicator_values GROUP BY ikey")
        cur.execute("SELECT setval(pg_get_serial_sequence('organisations', 'id'), "
                    "(SELECT max(id) FROM organisations))")
        cur.execute("SELECT setval(pg_get_serial_sequence('periods', 'id'), "
                    "(SELECT max(id) FROM periods))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    return total


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def _cache_env(cache: bool) -> dict[str, str]:
    # QIDASH_RESPONSE_CACHE_MB=0 turns the response cache off (api/cache.py)
    return {"QIDASH_RESPONSE_CACHE_MB": "64" if cache else "0"}


def in_process(url: str, n: int, cache: bool = False) -> tuple[list[float], int]:
    """Sequential requests cycling over the 20 indicators; with ``cache`` the first round
    fills the response cache and is excluded with the warm-up."""
    from fastapi.testclient import TestClient

    from api.app import create_api
    from core.settings import Settings, override_settings

    override_settings(Settings(database_url=url))
    os.environ.update(_cache_env(cache))
    times, rows = [], 0
    warm = N_INDICATORS if cache else 10
    with TestClient(create_api()) as c:
        for k in range(n + warm):
            ind = f"bench_{k % N_INDICATORS:02d}"
            t0 = time.perf_counter()
            r = c.get(f"/api/v1/indicators/{ind}/comparison")
            dt_ms = (time.perf_counter() - t0) * 1000
            assert r.status_code == 200, r.text[:300]
            assert r.headers.get("x-cache") == ("hit" if cache and k >= warm else
                                                "miss" if cache else None), r.headers
            if k >= warm:  # warm-up excluded
                times.append(dt_ms)
            rows = len(r.json()["rows"]) if k == warm else rows
    return times, rows


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def paired_in_process(url: str, n: int) -> tuple[list[float], list[float]]:
    """The comparison endpoint and the HTTP floor (:mod:`http_floor`), each through its own
    TestClient, one request of each in turn (so that both see the same moments of a shared
    machine); response cache off. Returns the two lists of milliseconds."""
    import http_floor
    from fastapi.testclient import TestClient

    from api.app import create_api
    from core.settings import Settings, override_settings

    override_settings(Settings(database_url=url))
    os.environ.update(_cache_env(False))
    ours, floor = [], []
    with TestClient(create_api()) as c, TestClient(http_floor.create(_dsn(url))) as f:
        for k in range(n + 10):
            ind = f"bench_{k % N_INDICATORS:02d}"
            for client, path, out in ((c, f"/api/v1/indicators/{ind}/comparison", ours),
                                      (f, f"/floor/{ind}", floor)):
                t0 = time.perf_counter()
                r = client.get(path)
                dt_ms = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text[:300]
                if k >= 10:
                    out.append(dt_ms)
    return ours, floor


def _serve(args: list[str], env: dict[str, str], port: int, probe: str) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "2", "--log-level", "warning"],
        cwd=REPO, env=env, start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"uvicorn {args[0]} did not answer on port {port}")


def paired_served(url: str, n: int) -> tuple[list[float], list[float]]:
    """As :func:`paired_in_process`, against two uvicorn servers on loopback (qidash's app
    and the floor's, 2 workers each), one sequential client alternating between them."""
    import httpx

    env = dict(os.environ, QIDASH_DATABASE_URL=url, PYTHONPATH=str(REPO),
               QIDASH_BENCH_FLOOR_DSN=_dsn(url), **_cache_env(False))
    ports = _free_port(), _free_port()
    procs = [_serve(["api.app:create_api"], env, ports[0], "/api/v1/health")]
    try:
        procs.append(_serve(["--app-dir", "bench", "http_floor:create"], env, ports[1],
                            "/floor/bench_00"))
        ours, floor = [], []
        with httpx.Client(timeout=30) as client:
            for k in range(n + 20):
                ind = f"bench_{k % N_INDICATORS:02d}"
                for path, out in (
                        (f"http://127.0.0.1:{ports[0]}/api/v1/indicators/{ind}/comparison", ours),
                        (f"http://127.0.0.1:{ports[1]}/floor/{ind}", floor)):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    dt_ms = (time.perf_counter() - t0) * 1000
                    assert r.status_code == 200, r.text[:300]
                    if k >= 20:  # both workers of each server warmed
                        out.append(dt_ms)
        return ours, floor
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


def split(url: str, n: int = 50) -> tuple[float, float]:
    """Median ms of the service call (a new session each time, its reads in autocommit on
    PostgreSQL, as a request's: :func:`api.deps.autocommit_reads`) and of the JSON
    serialisation of its result (the route's, :func:`comparison_json`)."""
    from sqlalchemy.orm import Session

    from api.deps import autocommit_reads
    from api.routes.indicators import comparison_json
    from core.db import make_engine
    from core.services.comparison import comparison

    engine = make_engine(url)
    svc, ser = [], []
    for k in range(n):
        t0 = time.perf_counter()
        with Session(engine) as s:
            autocommit_reads(s)
            res = comparison(s, f"bench_{k % N_INDICATORS:02d}")
        t1 = time.perf_counter()
        comparison_json(res)  # the route's own serialisation of the result
        t2 = time.perf_counter()
        svc.append((t1 - t0) * 1000)
        ser.append((t2 - t1) * 1000)
    engine.dispose()
    return statistics.median(svc), statistics.median(ser)


def raw_sql(url: str, n: int) -> list[float]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    sql = ("SELECT o.id, o.code, o.name, o.org_type, o.parent_id, v.numerator, v.denominator, "
           "v.value, v.lower_ci, v.upper_ci, v.suppressed FROM indicator_values v JOIN "
           "organisations o ON o.id = v.org_id WHERE v.ikey = "
           "(SELECT ikey FROM indicators WHERE id = %s) AND v.period_id = %s "
           "AND o.is_active ORDER BY o.code")
    times = []
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for k in range(n + 10):
            t0 = time.perf_counter()
            cur.execute(sql, (f"bench_{k % N_INDICATORS:02d}", N_MONTHS))
            rows = cur.fetchall()
            if k >= 10:
                times.append((time.perf_counter() - t0) * 1000)
    assert rows
    return times


def raw_bare(url: str, n: int, names: bool = False) -> list[float]:
    """The same rows by an indexed SELECT from a bare table: a copy of the values (made once,
    kept) with one index on (indicator, period), no join, no ORDER BY, no foreign keys.

    ``names``: from a bare table that also holds each row's organisation code and name (what
    the endpoint's rows show beside the numbers), ``bench_bare_rows``; otherwise ids and
    numbers only, ``bench_bare_values``."""
    import psycopg

    table = "bench_bare_rows" if names else "bench_bare_values"
    org_cols = "o.code AS org_code, o.name AS org_name, " if names else ""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT to_regclass('{table}') IS NOT NULL")
        row = cur.fetchone()
        if not (row and row[0]):
            cur.execute(f"CREATE TABLE {table} AS SELECT i.id AS indicator_id, "
                        f"v.period_id, v.org_id, {org_cols}v.numerator, v.denominator, "
                        "v.value, v.lower_ci, v.upper_ci, v.suppressed FROM indicator_values v "
                        "JOIN indicators i ON i.ikey = v.ikey JOIN organisations o ON "
                        "o.id = v.org_id ORDER BY i.id, v.period_id")
            cur.execute(f"CREATE INDEX ON {table} (indicator_id, period_id)")
            cur.execute(f"VACUUM ANALYZE {table}")
        sql = (f"SELECT org_id, {'org_code, org_name, ' if names else ''}numerator, "
               f"denominator, value, lower_ci, upper_ci, suppressed "
               f"FROM {table} WHERE indicator_id = %s AND period_id = %s")
        times = []
        for k in range(n + 10):
            t0 = time.perf_counter()
            cur.execute(sql, (f"bench_{k % N_INDICATORS:02d}", N_MONTHS))
            rows = cur.fetchall()
            if k >= 10:
                times.append((time.perf_counter() - t0) * 1000)
    assert rows
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _load(
    port: int, concurrency: int, seconds: float, cap: int
) -> tuple[int, float, list[float]]:
    import httpx

    done = 0
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        async def worker(w: int) -> None:
            nonlocal done
            k = w
            while time.perf_counter() < stop and done < cap:
                t0 = time.perf_counter()
                r = await client.get(
                    f"/api/v1/indicators/bench_{k % N_INDICATORS:02d}/comparison")
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
                done += 1
                k += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return done, elapsed, lat


def _sequential(port: int, n: int) -> list[float]:
    import httpx

    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for k in range(n):
            t0 = time.perf_counter()
            r = client.get(f"/api/v1/indicators/bench_{k % N_INDICATORS:02d}/comparison")
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    return times


def served(
    url: str, n: int, concurrency: int, seconds: float, cap: int, cache: bool = False
) -> tuple[list[float], tuple[int, float, list[float]]]:
    """Start uvicorn (2 workers) on loopback; one sequential client, then ``concurrency``."""
    import httpx

    port = _free_port()
    env = dict(os.environ, QIDASH_DATABASE_URL=url, PYTHONPATH=str(REPO), **_cache_env(cache))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_api", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        cwd=REPO, env=env, start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        _sequential(port, 2 * N_INDICATORS if cache else 20)  # warm both workers
        one = _sequential(port, n)
        return one, asyncio.run(_load(port, concurrency, seconds, cap))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()

    url, n = build(args.rebuild)
    print(f"load average before measuring (2 cores shared): "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    times, rows = in_process(url, args.requests)
    raw = raw_sql(url, args.requests)
    bare = raw_bare(url, args.requests)
    bare_named = raw_bare(url, args.requests, names=True)
    pair_ours, pair_floor = paired_in_process(url, args.requests)
    served_ours, served_floor = paired_served(url, args.requests)
    svc, ser = split(url)
    warm_times, _ = in_process(url, args.requests, cache=True)
    one, (done, elapsed, lat) = served(url, args.requests, args.concurrency, args.seconds,
                                       cap=5000)
    warm_one, (wdone, welapsed, wlat) = served(url, args.requests, args.concurrency,
                                               args.seconds, cap=20000, cache=True)
    raw_med = pct(raw, 50)
    print(f"\nnational-scale data: {n:,} values; comparison response: {rows:,} rows")
    bare_med = pct(bare, 50)
    print(f"raw SQL fetch of the same rows (psycopg): median {raw_med:.1f} ms, "
          f"p95 {pct(raw, 95):.1f} ms")
    named_med = pct(bare_named, 50)
    print(f"indexed raw fetch of the same rows from a bare table (psycopg): median "
          f"{bare_med:.1f} ms, p95 {pct(bare, 95):.1f} ms; with each row's organisation code "
          f"and name in the bare table, as the endpoint's rows show them: median "
          f"{named_med:.1f} ms")
    print("UNCACHED (response cache off; every request runs the queries, the statistics and "
          "the serialisation):")
    for label, xs in (("in process (TestClient)", times), ("uvicorn on 127.0.0.1", one)):
        print(f"  comparison endpoint, 1 client, {label}: median {pct(xs, 50):.1f} ms, "
              f"p95 {pct(xs, 95):.1f} ms, {pct(xs, 50) / raw_med:.2f}x raw SQL, "
              f"{pct(xs, 50) / bare_med:.2f}x the bare indexed fetch "
              f"({pct(xs, 50) / named_med:.2f}x with codes and names)   "
              "[targets: median < 30 ms, <= 3x raw SQL, <= 2x the bare fetch]")
    print("  the endpoint against the HTTP floor (bench/http_floor.py: FastAPI answering with "
          "the bare fetch's named rows as msgspec JSON, nothing else), request by request in "
          "turn:")
    for label, xs, fl in (("in process (TestClient)", pair_ours, pair_floor),
                          ("uvicorn on 127.0.0.1", served_ours, served_floor)):
        ratios = [a / b for a, b in zip(xs, fl, strict=True)]
        print(f"    {label}: endpoint median {pct(xs, 50):.1f} ms, floor median "
              f"{pct(fl, 50):.1f} ms = {pct(fl, 50) / named_med:.2f}x the named bare fetch; "
              f"endpoint / floor: {pct(xs, 50) / pct(fl, 50):.2f}x (median of the paired "
              f"ratios {statistics.median(ratios):.2f}x)")
    print(f"  split of one request (in process): service (queries + statistics) {svc:.1f} ms, "
          f"JSON (msgspec rows in an orjson body) {ser:.1f} ms")
    print(f"  uvicorn (2 workers), {args.concurrency} concurrent clients: {done} requests in "
          f"{elapsed:.1f} s = {done / elapsed:.0f} requests/s; latency median "
          f"{pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms")
    print("WARM RESPONSE CACHE (same 20 requests repeated; each still reads the data version):")
    for label, xs in (("in process (TestClient)", warm_times), ("uvicorn on 127.0.0.1", warm_one)):
        print(f"  comparison endpoint, 1 client, {label}: median {pct(xs, 50):.1f} ms, "
              f"p95 {pct(xs, 95):.1f} ms")
    print(f"  uvicorn (2 workers), {args.concurrency} concurrent clients: {wdone} requests in "
          f"{welapsed:.1f} s = {wdone / welapsed:.0f} requests/s; latency median "
          f"{pct(wlat, 50):.0f} ms, p95 {pct(wlat, 95):.0f} ms")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
