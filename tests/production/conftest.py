"""Fixtures and helpers for the production-readiness tests (faults, fuzzing, outages, security).

The data are real: organisations and indicator definitions from ``etl/demo_data`` (derived from the
West Sussex COVER and NHS England A&E files in ``../shared/data``, see ``data/README.md``), and
for large loads the real national practice list (NHS Digital "Patients Registered at a GP
Practice, January 2021", ``../shared/data/gp_practice_national``) with generated monthly values:
no public file holds a national practice-level numerator and denominator, so the counts are
generated from each practice's real list size, and the files say so in their note column.

:func:`data_state` is the oracle for atomicity: a checksum of everything a load writes, with
surrogate ids replaced by natural keys, so that states of two databases can be compared.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from core.db import make_engine
from etl.pipeline import run_load
from tests.conftest import DATA, REPO

DEMO = REPO / "etl" / "demo_data"
NATIONAL_LIST = DATA / "gp_practice_national" / "gp-reg-pat-prac-all_jan2021.csv"
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else "python"

#: an indicator for the generated national values (a monthly proportion)
NATIONAL_INDICATORS_CSV = (
    "indicator_id,name,value_type,multiplier,polarity,frequency,source\n"
    "nat_bp_control,Blood pressure controlled (generated counts on real list sizes),proportion,"
    "100,higher_is_better,month,generated for load tests from NHS Digital list sizes Jan 2021\n"
)


# loading the real base data -----------------------------------------------------------------
def load_demo_base(engine: Engine) -> None:
    """Organisations and indicator definitions of the demo (real data) through the pipeline."""
    r = run_load(engine, DEMO / "organisations.csv", kind="organisations")
    assert r.status == "loaded", r.as_json()
    r = run_load(engine, DEMO / "indicators", kind="indicators")
    assert r.status == "loaded", r.as_json()


def national_practices(limit: int | None = None) -> list[tuple[str, str, int]]:
    """(practice code, CCG code, list size) from the real January 2021 list-size file."""
    import csv

    out = []
    with NATIONAL_LIST.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            out.append((row["CODE"], row["CCG_CODE"], int(row["NUMBER_OF_PATIENTS"])))
    out.sort()
    return out[:limit] if limit else out


def write_national_base(folder: Path, practices: list[tuple[str, str, int]]) -> tuple[Path, Path]:
    """Organisations (practices under their CCGs) and one indicator, as canonical CSVs."""
    orgs = folder / "national_orgs.csv"
    lines = ["org_code,name,org_type,parent_code,parent_name,parent_type,list_size"]
    for code, ccg, size in practices:
        lines.append(f"{code},Practice {code},practice,{ccg},CCG {ccg},sub_icb,{size}")
    orgs.write_text("\n".join(lines) + "\n")
    inds = folder / "national_indicators.csv"
    inds.write_text(NATIONAL_INDICATORS_CSV)
    return orgs, inds


def write_national_values(path: Path, practices: list[tuple[str, str, int]], months: list[str],
                          seed: int, *, share: float = 1.0) -> int:
    """Monthly values for each practice: denominator ~ 15% of the real list size, numerator a
    seeded binomial-like draw. ``share`` < 1 keeps a random subset of rows (overlapping files).
    Returns the number of rows written."""
    rng = random.Random(seed)
    n = 0
    with path.open("w") as fh:
        fh.write("org_code,indicator_id,period,numerator,denominator\n")
        for code, _ccg, size in practices:
            den = max(1, size * 15 // 100)
            for m in months:
                if share < 1.0 and rng.random() > share:
                    continue
                num = min(den, int(den * (0.55 + 0.3 * rng.random())))
                fh.write(f"{code},nat_bp_control,{m},{num},{den}\n")
                n += 1
    return n


def month_labels(start_year: int, count: int) -> list[str]:
    """``count`` consecutive month labels from January of ``start_year`` (``2015-01``...)."""
    return [f"{start_year + i // 12}-{i % 12 + 1:02d}" for i in range(count)]


# the oracle: a normalised snapshot of everything a load writes -------------------------------
def _digest(rows: list[tuple[Any, ...]]) -> str:
    h = hashlib.sha256()
    for r in sorted(rows, key=repr):
        h.update(repr(r).encode())
    return h.hexdigest()


def data_state(engine: Engine) -> dict[str, Any]:
    """A comparable snapshot of the data: values, history, organisations, indicators, periods
    and finished loads, with load ids replaced by the loaded file's sha256 and status.

    Loads left ``running`` (a killed loader) are listed separately; ``running_refs`` counts rows
    that point at such a load and must always be 0 (a crashed load must not count as data).
    """
    with engine.connect() as c:
        loads = {i: (sha, kind, status) for i, sha, kind, status in c.execute(text(
            "SELECT id, sha256, kind, status FROM loads"))}
        running = {i for i, (_s, _k, st) in loads.items() if st == "running"}

        def lid(i: int | None) -> Any:
            return None if i is None else loads.get(i, ("missing", i))[:2]

        values = c.execute(text(
            "SELECT o.code, i.id, p.period_type, p.label, v.numerator, v.denominator, "
            "v.value, v.lower_ci, v.upper_ci, v.suppressed, v.note, v.load_id "
            "FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
            "JOIN organisations o ON o.id = v.org_id "
            "JOIN periods p ON p.id = v.period_id")).all()
        history = c.execute(text(
            "SELECT h.load_id, i.id, h.period_id, o.code, h.action, h.prev_numerator, "
            "h.prev_denominator, h.prev_value, h.prev_suppressed, h.prev_load_id "
            "FROM value_history h JOIN organisations o ON o.id = h.org_id "
            "JOIN indicators i ON i.ikey = h.ikey")).all()
        periods = {pid: (t, lab) for pid, t, lab in c.execute(text(
            "SELECT id, period_type, label FROM periods"))}
        orgs = c.execute(text(
            "SELECT o.code, o.name, o.org_type, p.code, o.is_active, o.load_id "
            "FROM organisations o LEFT JOIN organisations p ON p.id = o.parent_id")).all()
        inds = c.execute(text(
            "SELECT id, name, value_type, multiplier, polarity, frequency, load_id "
            "FROM indicators")).all()
        errors = c.execute(text("SELECT load_id, COUNT(*) FROM load_errors GROUP BY load_id")
                           ).all()
    running_refs = sum(1 for r in values if r[-1] in running)
    running_refs += sum(1 for r in history if r[0] in running or r[-1] in running)
    running_refs += sum(1 for r in orgs if r[-1] in running)
    running_refs += sum(1 for r in inds if r[-1] in running)
    running_refs += sum(1 for r in errors if r[0] in running)
    return {
        "values": _digest([(*r[:-1], lid(r[-1])) for r in values]),
        "value_count": len(values),
        "history": _digest([(lid(r[0]), r[1], periods.get(r[2]), *r[3:-1], lid(r[-1]))
                            for r in history]),
        "organisations": _digest([(*r[:-1], lid(r[-1])) for r in orgs]),
        "indicators": _digest([(*r[:-1], lid(r[-1])) for r in inds]),
        "periods": _digest(list(periods.values())),
        "loads": sorted((v for i, v in loads.items() if i not in running), key=repr),
        "running_loads": len(running),
        "running_refs": running_refs,
    }


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The parts of a state that must equal the before or the after state exactly."""
    return {k: v for k, v in state.items() if k not in ("running_loads", "running_refs")}


# databases that can be cloned cheaply --------------------------------------------------------
@dataclass
class Clonable:
    """A database prepared once, copied for each trial (PostgreSQL TEMPLATE, SQLite file copy)."""

    url: str
    backend: str
    factory: Any

    def clone(self) -> str:
        """A new database holding exactly what this one holds; drop it with ``drop``."""
        import shutil
        import uuid

        if self.backend == "sqlite":
            src = make_url(self.url).database or ""
            dst = f"{src}.{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(src, dst)
            return f"sqlite:///{dst}"
        name = make_url(self.url).database
        new = f"{name}_c{uuid.uuid4().hex[:8]}"
        with self.factory._admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{new}" TEMPLATE "{name}"'))
        self.factory._created_pg.append(new)
        return make_url(self.url).set(database=new).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        self.factory.drop(url)


@pytest.fixture
def clonable(database_factory: Any, module_database: Callable[[str], str],
             backend: str) -> Iterator[Callable[[Callable[[Engine], None]], Clonable]]:
    """``clonable(prepare)`` -> a :class:`Clonable` database prepared by ``prepare(engine)``."""
    made: list[str] = []

    def make(prepare: Callable[[Engine], None]) -> Clonable:
        url = module_database(backend)
        made.append(url)
        engine = make_engine(url)
        try:
            prepare(engine)
        finally:
            engine.dispose()
        return Clonable(url, backend, database_factory)

    yield make
    for url in made:
        database_factory.drop(url)


def child_env(url: str) -> dict[str, str]:
    """The environment of a loader subprocess pointed at ``url``."""
    env = dict(os.environ)
    env["QIDASH_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(REPO)
    env.pop("QIDASH_LOG_JSON", None)
    return env


# a TCP proxy we can cut: the database "goes away" and comes back -----------------------------
class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to the PostgreSQL server; ``cut()`` drops every connection and
    refuses new ones, ``restore()`` accepts again. Runs in daemon threads."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the "database" refuses: the connection closes at once
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        socks = [a, b]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 1.0)
                if self._stop:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every proxied connection and refuse new ones."""
        self.up = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def close(self) -> None:
        self._stop = True
        self.cut()
        self.listener.close()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: a database host
    that is up but hung (or a firewall that swallows the handshake)."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(conn)  # kept open, never read from or written to

    def close(self) -> None:
        self.listener.close()
        for c in self._held:
            c.close()
