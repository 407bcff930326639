"""Interleaved A/B of the first values load of the 1M-row national file between source trees.

    python bench/scratch/load_ab.py TREE [TREE ...] [--rounds 3] [--db pg,sqlite]
        [--alerts on,off]

Each round runs, for each database, alert setting and tree in turn, that tree's own
``bench/bench_load.py --child`` (reference files, then the timed first load and the same file
again) with that tree's ``.venv/bin/python`` in a fresh database, and on PostgreSQL a raw
``COPY`` of the file into a bare table right after (the unit of issue 18's 3x target). It
prints each load's seconds, its ratio to that round's ``COPY`` and the load average before
it. The file is ``bench_load.py``'s (``--dir``, made by a first ``bench/bench_load.py`` run).

On a shared 2-core machine one run says little: compare the trees within a round, over
several rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HERE)]

from bench_load import pg_database, raw_copy_seconds  # noqa: E402


def run(tree: Path, url: str, directory: Path, name: str, alerts: bool) -> dict:
    env = dict(os.environ, QIDASH_BENCH_ALERTS="on" if alerts else "off")
    python = tree / ".venv" / "bin" / "python"
    out = subprocess.run(
        [str(python), str(tree / "bench" / "bench_load.py"), "--child", url, str(directory),
         name], check=True, capture_output=True, text=True, cwd=tree, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="pg,sqlite")
    parser.add_argument("--alerts", default="on,off")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "qidash_bench")
    args = parser.parse_args()
    name = f"values_{args.rows}.csv"
    if not (args.dir / name).exists():
        sys.exit(f"{args.dir / name} is missing: run bench/bench_load.py --quick once")
    trees = [t.resolve() for t in args.trees]
    seconds: dict[tuple[str, str, str], list[float]] = {}
    for rnd in range(1, args.rounds + 1):
        for db in args.db.split(","):
            for setting in args.alerts.split(","):
                alerts = setting == "on"
                for tree in trees:
                    load = os.getloadavg()[0]
                    if db == "pg":
                        dbname = f"qidash_load_ab_{uuid.uuid4().hex[:8]}"
                        url = pg_database(dbname, create=True)
                        try:
                            res = run(tree, url, args.dir, name, alerts)
                            copy = raw_copy_seconds(url, args.dir / name)
                        finally:
                            pg_database(dbname, create=False)
                        ratio = f" = {res['seconds'] / copy:.1f}x a raw COPY ({copy:.2f} s)"
                    else:
                        with tempfile.TemporaryDirectory() as tmp:
                            res = run(tree, f"sqlite:///{tmp}/ab.db", args.dir, name, alerts)
                        ratio = ""
                    seconds.setdefault((db, setting, str(tree)), []).append(res["seconds"])
                    print(f"round {rnd} {db:6} alerts {setting:3} {tree}: {res['seconds']:.2f} s"
                          f"{ratio} ({res['status']}; again {res['again_seconds']:.2f} s "
                          f"{res['again_status']}; load average {load:.1f})", flush=True)
    print("medians:")
    for (db, setting, tree), values in seconds.items():
        print(f"  {db:6} alerts {setting:3} {tree}: {statistics.median(values):.2f} s "
              f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
