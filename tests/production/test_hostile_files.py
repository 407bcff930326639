"""Hostile and broken files that a reliability probe found to crash the loader (issue 14), each
pushed through the CLI (``qidash load``, in a subprocess: text and ``--json``) and the upload
route, on SQLite and PostgreSQL.

For every file: a clear message that names the file and the line (and the column, for a row
error), a non-zero exit code with no traceback, one JSON object with ``--json``, a 4xx answer
in the one error shape from ``POST /api/v1/loads`` (never a 500), no load left ``running``,
and the data exactly as before. Well-formed files of the same shapes (Windows-1252 throughout,
UTF-8 throughout, fractional counts of a rate) still load, so the checks refuse only what they
should.

The base rows are real: the NHS England A&E values of ``etl/demo_data`` (first ~70 KiB, so
that the hostile byte sits after the 64 KiB that format sniffing reads).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from core import auth
from core.db import session_scope
from tests.production.faults import DEMO, PY, child_env, data_state, load_demo_base

HEADER = "org_code,indicator_id,period,numerator,denominator"
_AE = (DEMO / "values_ae.csv").read_text().splitlines()
assert _AE[0] == HEADER
#: real A&E rows (unique keys) making a file of just over 64 KiB
BULK = []
_size = len(HEADER) + 1
for _row in _AE[1:]:
    BULK.append(_row)
    _size += len(_row) + 1
    if _size > 70_000:
        break
#: the line the first row after BULK has (header = line 1)
NEXT_LINE = len(BULK) + 2
ORG_HEADER = "org_code,name,org_type,parent_code"
#: a rate indicator (fractional counts allowed) that declares no frequency, for the rules
EXTRA_INDICATORS = (
    "indicator_id,name,value_type,multiplier,polarity\n"
    "rate_test,Admissions per 1000 person-years (test),rate,1000,lower_is_better\n"
)


def _values(*rows: str, bulk: bool = False) -> bytes:
    lines = [HEADER, *(BULK if bulk else []), *rows]
    return ("\n".join(lines) + "\n").encode()


def _zip_version_185() -> bytes:
    """A real workbook whose zip entries declare 'version needed to extract' 18.5."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append(["R0A", "ae_4hr_all", "2018-05", 1, 2])
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    for sig, at in ((b"PK\x01\x02", 6), (b"PK\x03\x04", 4)):
        i = data.find(sig)
        while i >= 0:
            data[i + at:i + at + 2] = (185).to_bytes(2, "little")
            i = data.find(sig, i + 4)
    return bytes(data)


@dataclass(frozen=True)
class Hostile:
    id: str
    kind: str
    name: str
    data: Callable[[], bytes]
    #: a whole-file error: text the message holds (besides the file name)
    says: str | None = None
    #: a row error: the line and column it names, and text its message holds
    line: int | None = None
    column: str | None = None


CASES = [
    # user text is never a template: str.format on '2018{05' crashed, and '{value...}' ran
    Hostile("brace_in_period", "values", "brace.csv",
            lambda: _values("R0A,ae_4hr_all,2018{05,1,2"), line=2, column="period",
            says="'2018{05' is not a period"),
    Hostile("template_in_period", "values", "template.csv",
            lambda: _values("R0A,ae_4hr_all,{value.__class__.__mro__},1,2"), line=2,
            column="period", says="'{value.__class__.__mro__}' is not a period"),
    Hostile("zip_version_18_5", "values", "version.xlsx", _zip_version_185,
            says="not a readable XLSX workbook"),
    Hostile("orgs_header_only_extra_column", "organisations", "orgs.csv",
            lambda: f"{ORG_HEADER},list_size\n".encode(), says="header but no data rows"),
    Hostile("indicators_header_only", "indicators", "inds.csv",
            lambda: b"indicator_id,name,value_type,multiplier,polarity,unit\n",
            says="header but no data rows"),
    # past the 64 KiB that sniffing reads
    Hostile("nul_after_64k", "values", "nul.csv",
            lambda: _values("R0A,ae_4hr_all,2030-01,1,\x002", bulk=True),
            says=f"line {NEXT_LINE} holds binary data (byte 0x00)"),
    Hostile("cp1252_byte_in_utf8_after_64k", "organisations", "mixed.csv",
            lambda: (ORG_HEADER + "\n" + "".join(
                f"ZZ{i:05d},Trust R\u00e9 {i},trust,\n" for i in range(2500))).encode()
            + b"ZZX,Trust R\xe9 cp1252,trust,\n",
            says="line 2502 is not UTF-8 (byte 0xe9) although line 2 is"),
    # numbers (docs/loading.md: what a count is)
    Hostile("subnormal_count", "values", "tiny.csv",
            lambda: _values("R0A,ae_4hr_all,2030-01,4.9e-324,2"), line=2, column="numerator",
            says="above 0 but below 1e-06"),
    Hostile("underflowing_count", "values", "under.csv",
            lambda: _values("R0A,ae_4hr_all,2030-01,1e-400,2"), line=2, column="numerator",
            says="too large or too small"),
    Hostile("huge_denominator", "values", "huge.csv",
            lambda: _values("R0A,ae_4hr_all,2030-01,1,1e308"), line=2, column="denominator",
            says="is above 1,000,000,000,000"),
    Hostile("rate_with_subnormal_denominator", "values", "rate.csv",
            lambda: _values("R0A,rate_test,2030-01,5,4.9e-324"), line=2, column="denominator",
            says="above 0 but below 1e-06"),
    Hostile("quarter_into_monthly", "values", "quarter.csv",
            lambda: _values("R0A,ae_4hr_all,2018-Q1,1,2"), line=2, column="period",
            says="is a quarter, but this indicator is declared month"),
    Hostile("year_into_monthly", "values", "year.csv",
            lambda: _values("R0A,ae_4hr_all,2018,1,2"), line=2, column="period",
            says="is a year, but this indicator is declared month"),
    Hostile("quarter_into_undeclared_monthly_series", "values", "undeclared.csv",
            lambda: _values("R0A,rate_test,2019-Q1,5,1000"), line=2, column="period",
            says="declares no frequency and its values in the database are all month"),
]


@pytest.fixture
def base(engine: Engine, tmp_path: Path) -> Engine:
    """Demo organisations and indicators, a rate indicator with no frequency and monthly values,
    and real A&E values."""
    from etl.pipeline import run_load

    load_demo_base(engine)
    assert run_load(engine, EXTRA_INDICATORS.encode(), kind="indicators",
                    file_name="extra.csv").status == "loaded"
    first = _values(*BULK[:200], "R0A,rate_test,2019-01,3,2000.5")
    r = run_load(engine, first, kind="values", file_name="first.csv")
    assert r.status == "loaded", r.as_json()
    return engine


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "qidash.cli", *args], env=child_env(url), text=True,
                          capture_output=True, timeout=300)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _cli_in_process(*args: str) -> Ran:
    """``qidash`` in this process (a subprocess costs seconds to start on this machine; the
    subprocess test below runs the real command for two of the files)."""
    from typer.testing import CliRunner

    from qidash.cli import app

    res = CliRunner().invoke(app, list(args))
    # an exception escaping the command (a traceback for a user) is never a clean exit
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return Ran(res.exit_code, res.stdout, res.stderr)


def _unchanged(before: dict, after: dict) -> None:  # type: ignore[type-arg]
    for key in ("values", "value_count", "history", "organisations", "indicators", "periods"):
        assert after[key] == before[key], f"{key} changed although the file was refused"
    assert after["running_loads"] == 0
    assert after["running_refs"] == 0


def _check_errors(case: Hostile, errors: list[dict], message: str) -> None:  # type: ignore[type-arg]
    if case.line is None:
        assert case.says is not None
        text_ = message + " ".join(str(e.get("message")) for e in errors)
        assert case.says in text_, text_
        return
    hits = [e for e in errors if e["line"] == case.line and e["column"] == case.column]
    assert hits, errors
    assert case.says is None or any(case.says in e["message"] for e in hits), hits


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file(base: Engine, database_url: str, tmp_path: Path, case: Hostile) -> None:
    """CLI (text and --json) and upload route: refused clearly, nothing written, no 500."""
    from api.app import create_api

    path = tmp_path / case.name
    path.write_bytes(case.data())
    before = data_state(base)

    # the CLI
    for as_json in (True, False):
        proc = _cli_in_process("load", case.kind, str(path), *(["--json"] if as_json else []))
        _check_cli(case, proc, as_json)
    _unchanged(before, data_state(base))

    # the upload route
    with session_scope(base) as s:
        _info, token = auth.create_token(s, f"hostile-{case.id}"[:60], "analyst")
    client = TestClient(create_api(), raise_server_exceptions=False)
    r = client.post("/api/v1/loads", headers={"Authorization": f"Bearer {token}"},
                    files={"file": (case.name, case.data())}, data={"kind": case.kind})
    assert r.status_code == 422, (r.status_code, r.text[:1000])
    err = r.json()["error"]
    assert err["status"] == 422
    assert err["message"]
    _check_errors(case, err["details"].get("errors", []), err["message"])
    _unchanged(before, data_state(base))
    with base.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM loads WHERE status = 'running'")
                         ).scalar_one() == 0


def _check_cli(case: Hostile, proc: Ran | subprocess.CompletedProcess[str],
               as_json: bool) -> None:
    assert proc.returncode in (1, 2), (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    if as_json:
        lines = proc.stdout.strip().splitlines()
        assert len(lines) == 1, proc.stdout
        out = json.loads(lines[0])
        if out["status"] == "error":  # the file as a whole
            assert proc.returncode == 2
            assert out["message"].startswith(case.name), out
            _check_errors(case, [], out["message"])
        else:
            assert (proc.returncode, out["status"]) == (1, "rejected"), out
            _check_errors(case, out["errors"], "")
    else:
            shown = proc.stdout + proc.stderr
            assert case.name in shown, shown
            if case.line is None:  # one line on stderr
                assert case.says in shown, shown
            else:  # the table of errors (its cells wrap): the line and the column
                assert "rejected" in shown, shown
                assert case.column in shown, shown
                assert any(row.split()[1:2] == [str(case.line)] for row in shown.splitlines()
                           if row.startswith("│")), shown


@pytest.mark.parametrize("case_id", ["nul_after_64k", "brace_in_period"])
def test_hostile_file_real_command(base: Engine, database_url: str, tmp_path: Path,
                                   case_id: str) -> None:
    """The real ``qidash load ... --json`` process: one JSON line, exit 1 or 2, no traceback."""
    case = next(c for c in CASES if c.id == case_id)
    path = tmp_path / case.name
    path.write_bytes(case.data())
    before = data_state(base)
    _check_cli(case, _cli(database_url, "load", case.kind, str(path), "--json"), True)
    _unchanged(before, data_state(base))


CONTROLS = [
    # Windows-1252 throughout (an older NHS export): read as such, the accent intact
    ("cp1252_throughout", "organisations", lambda: (ORG_HEADER + "\n" + "".join(
        f"ZZ{i:05d},Trust R\u00e9 {i},trust,\n" for i in range(2500))).encode("cp1252"),
     "Trust R\u00e9 2499"),
    ("utf8_throughout", "organisations", lambda: (ORG_HEADER + "\n" + "".join(
        f"ZZ{i:05d},Trust R\u00e9 {i},trust,\n" for i in range(2500))).encode(),
     "Trust R\u00e9 2499"),
]


@pytest.mark.parametrize("case", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_well_formed_controls_load(base: Engine, case: tuple) -> None:  # type: ignore[type-arg]
    """The whole-file text checks refuse mixed files only: one encoding throughout loads."""
    from etl.pipeline import run_load

    _id, kind, data, name = case
    r = run_load(base, data(), kind=kind, file_name=f"{_id}.csv")
    assert r.status == "loaded", r.as_json()
    with base.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM organisations WHERE name = :n"),
                         {"n": name}).scalar_one() == 1


def test_number_rules_accept_what_is_valid(base: Engine) -> None:
    """Whole counts of a proportion, fractional counts of a rate (person-years), 0/0, a count
    of exactly the bound, and a period of the indicator's type all load."""
    from etl.pipeline import run_load

    data = _values("R0A,ae_4hr_all,2030-01,0,0", "R0A,ae_4hr_all,2030-02,1e3,2.0E3",
                   "R0A,ae_4hr_all,2030-03,1,1000000000000",
                   "R0A,rate_test,2030-01,2.5,1234.75", "R0A,rate_test,2030-02,0,0.5")
    r = run_load(base, data, kind="values", file_name="ok.csv")
    assert r.status == "loaded", r.as_json()
    assert r.rows_inserted == 5


def test_nul_in_error_text_is_recorded(base: Engine) -> None:
    """A NUL that reaches an error (a reader other than CSV quoting a cell) is stored as the
    text ``\\x00``: PostgreSQL refused the INSERT INTO load_errors, leaving the load running."""
    from core.models import LoadError
    from etl.extract import RowError
    from etl.pipeline import _error_rows, run_load

    r = run_load(base, CASES[0].data(), kind="values", file_name="brace.csv")
    assert r.status == "rejected"
    assert r.load_id is not None
    e = RowError("Data:7", "period\x00", "20\x0018", "'20\x0018' is not a period")
    assert "\x00" not in "".join([e.ref or "", e.column or "", e.value or "", e.message])
    with base.begin() as c:
        c.execute(LoadError.__table__.insert(), _error_rows(r.load_id, [e]))
    with base.connect() as c:
        assert c.execute(text("SELECT value FROM load_errors WHERE load_id = :i AND sheet = "
                              "'Data'"), {"i": r.load_id}).scalar_one() == "20\\x0018"
