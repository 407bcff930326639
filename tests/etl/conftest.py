"""Fixtures for the ETL tests: small files written on the fly, and a seeded database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from etl.pipeline import run_load

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"

ORGS = """org_code,name,org_type,parent_code,list_size
P1,Practice One,practice,PCN1,5000
P2,Practice Two,practice,PCN1,7000
PCN1,Network One,pcn,ENG,
ENG,England,nation,,
"""

INDICATORS = """indicator_id,name,value_type,multiplier,polarity,target,thresholds,frequency
mmr1,MMR1 by 24 months,proportion,100,higher_is_better,95,90;95,financial_year
rate,Admissions per 1000,rate,1000,lower_is_better,,,
"""


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text, encoding="utf-8") -> Path of a file in a temporary folder."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return _write


@pytest.fixture
def seeded(engine: Engine, write) -> Engine:
    """A database with two practices under a PCN under England, and two indicators."""
    for kind, name, content in (("organisations", "orgs.csv", ORGS),
                                ("indicators", "inds.csv", INDICATORS)):
        result = run_load(engine, write(name, content), kind=kind)
        assert result.status == "loaded", result.as_json()
    return engine


def values_rows(engine: Engine) -> list[tuple]:
    """(org code, indicator, period label, numerator, denominator, value, suppressed, load)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT o.code, i.id, p.label, v.numerator, v.denominator, v.value, "
            "v.suppressed, v.load_id FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
            "JOIN organisations o ON o.id = v.org_id JOIN periods p ON p.id = v.period_id "
            "ORDER BY o.code, i.id, p.label"))]


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def counted(engine: Engine) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """(what ``value_counts`` holds, what the values table holds): indicator key -> (values,
    organisations with a value)."""
    with engine.connect() as conn:
        kept = {int(k): (int(n), int(o)) for k, n, o in conn.execute(text(
            "SELECT ikey, n_values, n_orgs FROM value_counts")).all()}
        real = {int(k): (int(n), int(o)) for k, n, o in conn.execute(text(
            "SELECT ikey, COUNT(*), COUNT(DISTINCT org_id) FROM indicator_values "
            "GROUP BY ikey")).all()}
    return kept, real
