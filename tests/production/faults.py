"""Helpers shared by the production tests and ``bench/bench_faults.py`` (plain functions, no
fixtures; pytest collects nothing here).

* the real base data and generated national values (:func:`national_practices`,
  :func:`write_national_base`, :func:`write_national_values`, :func:`month_labels`);
* the atomicity oracle: :func:`data_state`, a checksum of everything a load writes with
  surrogate ids replaced by natural keys, so that states of two databases can be compared;
* loaders in other processes (:func:`child_env`, :func:`load_in_child`) and the serial-order
  oracle of concurrent loads (:func:`read_values`, :func:`db_values`, :func:`replay`).

The data are real: organisations and indicator definitions from ``etl/demo_data`` (derived from
the West Sussex COVER and NHS England A&E files in ``../shared/data``, see ``data/README.md``),
and for large loads the real national practice list (NHS Digital "Patients Registered at a GP
Practice, January 2021", ``../shared/data/gp_practice_national``) with generated monthly values:
no public file holds a national practice-level numerator and denominator, so the counts are
generated from each practice's real list size, and the files say so in their note column.

They live here rather than in ``conftest.py`` or a test module so that the benchmark imports
no test module's private names (it used to import ``_child``, ``_replay`` ... from
``test_concurrency.py``); both run the same checks.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

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


def child_env(url: str) -> dict[str, str]:
    """The environment of a loader subprocess pointed at ``url``."""
    env = dict(os.environ)
    env["QIDASH_DATABASE_URL"] = url
    env["PYTHONPATH"] = str(REPO)
    env.pop("QIDASH_LOG_JSON", None)
    return env


Key = tuple[str, str, str]


def read_values(path: Path) -> dict[Key, tuple[float, float]]:
    """A canonical values file as ``{(org, indicator, period): (numerator, denominator)}``."""
    with path.open(newline="") as fh:
        return {(r["org_code"], r["indicator_id"], r["period"]):
                (float(r["numerator"]), float(r["denominator"])) for r in csv.DictReader(fh)}


def load_in_child(url: str, path: str, queue: Any) -> None:
    """A loader process: load ``path`` into ``url`` and put (path, status, load id, message)
    on ``queue`` (an exception is reported there too)."""
    from core.db import make_engine as _make

    engine = _make(url)
    try:
        r = run_load(engine, path, kind="values", user=Path(path).stem)
        queue.put((path, r.status, r.load_id, r.message))
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put((path, "exception", None, f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def db_values(engine) -> tuple[dict[Key, tuple[float, float, int | None]], set[Any]]:  # type: ignore[no-untyped-def]
    """The values (with their load id) and the history rows, keyed by natural keys."""
    with engine.connect() as c:
        values = {(o, i, p): (n, d, lid) for o, i, p, n, d, lid in c.execute(text(
            "SELECT o.code, i.id, p.label, v.numerator, v.denominator, v.load_id "
            "FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
            "JOIN organisations o ON o.id = v.org_id "
            "JOIN periods p ON p.id = v.period_id"))}
        history = {(lid, (o, i, p), a, pn, pd, plid) for lid, o, i, p, a, pn, pd, plid in
                   c.execute(text(
                       "SELECT h.load_id, o.code, i.id, p.label, h.action, "
                       "h.prev_numerator, h.prev_denominator, h.prev_load_id "
                       "FROM value_history h JOIN indicators i ON i.ikey = h.ikey "
                       "JOIN organisations o ON o.id = h.org_id "
                       "JOIN periods p ON p.id = h.period_id"))}
    return values, history


def replay(start: dict[Key, tuple[float, float, int | None]],
            files: list[tuple[int, dict[Key, tuple[float, float]]]]):  # type: ignore[no-untyped-def]
    """The values and history that loading ``files`` one after another onto ``start``
    gives (the serial order the concurrent loads must equal)."""
    state = dict(start)
    history = set()
    for load_id, rows in files:
        for key, (n, d) in rows.items():
            old = state.get(key)
            if old is None:
                pass  # an inserted value records no history (revert deletes it by load id)
            elif (old[0], old[1]) != (n, d):
                history.add((load_id, key, "update", old[0], old[1], old[2]))
            else:
                continue
            state[key] = (n, d, load_id)
    return state, history
