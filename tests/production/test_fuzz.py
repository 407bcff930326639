"""Fuzzing the loading pipeline and the upload route with malformed CSV and XLSX files.

Hypothesis mutates real rows (the West Sussex immunisation values of ``etl/demo_data``): truncation,
wrong encodings, binary junk, huge fields, formula cells, mismatched columns, damaged and
oversized workbooks, zip bombs. Whatever the input:

- ``run_load`` raises only the documented errors (FileError, UsageError, FormatError) with a
  message that names the file, or returns loaded / unchanged / rejected;
- a rejected file or an error leaves the data exactly as it was (values, history,
  organisations, indicators, periods): never a partial load;
- a loaded file wrote exactly the rows it counted;
- the upload route answers 200, 413 or 422 in the one error shape, never 500.
"""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from core import auth
from core.db import session_scope
from etl.extract import FileError
from etl.pipeline import FormatError, UsageError, run_load
from tests.production.faults import DEMO, comparable, data_state, load_demo_base

_LINES = (DEMO / "values_immunisations.csv").read_text().splitlines()
HEADER = _LINES[0]
#: 30 real rows, with counts changed so that loading them would update the stored values
BASE_ROWS = [
    ",".join([*r.split(",")[:3], str(int(r.split(",")[3]) // 2), r.split(",")[4]])
    for r in _LINES[1:31]
]
FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "=HYPERLINK(\"http://x\")",
            "\t=1", "\r=1"]
_FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.data_too_large])


def _csv(rows: list[list[str]], header: list[str] | None = None) -> str:
    head = header if header is not None else HEADER.split(",")
    return "\n".join([",".join(head), *(",".join(r) for r in rows)]) + "\n"


@st.composite
def csv_rows(draw) -> list[list[str]]:  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, len(BASE_ROWS)))
    rows = [r.split(",") for r in BASE_ROWS[:n]]
    # cell-level damage: formulas, huge fields, junk text, blanks, extra/missing cells
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, n - 1))
        action = draw(st.sampled_from(
            ["formula", "huge", "junk", "blank", "extra", "missing", "negative", "text"]))
        j = draw(st.integers(0, 4))
        row = rows[i]
        while len(row) < 5:  # an earlier "missing" shortened it: damage what is there
            row.append("")
        if action == "formula":
            row[j] = draw(st.sampled_from(FORMULAS))
        elif action == "huge":
            row[j] = "9" * draw(st.sampled_from([1_000, 100_000, 1_000_000]))
        elif action == "junk":
            row[j] = draw(st.text(min_size=1, max_size=30)).replace(",", ";")
        elif action == "blank":
            row[j] = ""
        elif action == "extra":
            row.append(draw(st.sampled_from(["x", "", "1"])))
        elif action == "missing":
            del row[j:]
        elif action == "negative":
            row[3] = "-5"
        else:
            row[4] = "lots"
    return rows


@st.composite
def malformed_csv(draw) -> bytes:  # type: ignore[no-untyped-def]
    rows = draw(csv_rows())
    header = HEADER.split(",")
    hdr = draw(st.sampled_from(["ok", "dup", "drop", "extra", "blank", "none"]))
    if hdr == "dup":
        header = [*header, header[0]]
    elif hdr == "drop":
        header = header[1:]
    elif hdr == "extra":
        header = [*header, "surprise"]
    elif hdr == "blank":
        header = [*header[:2], "", *header[2:]]
    text_ = _csv(rows, header) if hdr != "none" else _csv(rows)[len(HEADER) + 1:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"]))
    if encoding in ("cp1252", "latin-1"):
        text_ = text_.replace("Practice", "Pr\u00e6ctice")
    data = text_.encode(encoding, errors="replace")
    damage = draw(st.sampled_from(["none", "truncate", "junk_prefix", "junk_inside", "nul",
                                   "binary", "quote"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "junk_prefix":
        data = draw(st.binary(min_size=1, max_size=64)) + data
    elif damage == "junk_inside":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    elif damage == "nul":
        data = data.replace(b",", b"\x00,", 1)
    elif damage == "binary":
        data = draw(st.binary(min_size=0, max_size=2048))
    elif damage == "quote":
        data = data.replace(b",", b',"', 1)  # an unterminated quoted field
    return data


def _xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:  # Excel itself cannot hold control characters in a cell
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (30 * 1024 * 1024))
    return buf.getvalue()


BOMB = _bomb()


@st.composite
def malformed_xlsx(draw) -> bytes:  # type: ignore[no-untyped-def]
    rows: list[list[object]] = [list(r) for r in draw(csv_rows())]
    for r in rows:  # numbers as numbers where they parse, like a real sheet
        for j, v in enumerate(r):
            if isinstance(v, str) and v.isdigit() and len(v) < 12:
                r[j] = int(v)
    data = _xlsx([HEADER.split(","), *rows])
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "bomb", "not_book"]))
    # workbooks carry timestamps, so positions are drawn as fractions of the length
    where = draw(st.integers(0, 9_999)) * len(data) // 10_000
    if damage == "truncate":
        data = data[:where]
    elif damage == "flip":
        data = data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1:]
    elif damage == "bomb":
        data = BOMB
    elif damage == "not_book":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("values.csv", _csv(rows and [[str(c) for c in r] for r in rows]))
        data = buf.getvalue()
    return data


# the property ----------------------------------------------------------------------------------
def _check_one(engine: Engine, data: bytes, name: str) -> str:
    before = data_state(engine)
    try:
        result = run_load(engine, data, kind="values", file_name=name, migrate=False)
    except (FileError, UsageError, FormatError) as exc:
        message = str(exc)
        assert message.startswith(name.rsplit(".", 1)[0]), message
        assert comparable(data_state(engine))["values"] == comparable(before)["values"]
        _assert_nothing_written(before, data_state(engine))
        return "error"
    assert result.status in ("loaded", "unchanged", "rejected"), result.as_json()
    after = data_state(engine)
    assert after["running_refs"] == 0
    assert after["running_loads"] == 0
    if result.status == "rejected":
        assert result.errors
        assert all(e.message for e in result.errors)
        _assert_nothing_written(before, after)
    elif result.status == "unchanged":
        _assert_nothing_written(before, after)
    else:
        with engine.connect() as c:
            written = c.execute(text("SELECT COUNT(*) FROM indicator_values WHERE load_id = :i"),
                                {"i": result.load_id}).scalar_one()
        assert written == result.rows_inserted + result.rows_updated
        assert result.rows_read == (result.rows_inserted + result.rows_updated
                                    + result.rows_unchanged)
    return result.status


def _assert_nothing_written(before: dict, after: dict) -> None:  # type: ignore[type-arg]
    for key in ("values", "value_count", "history", "organisations", "indicators", "periods"):
        assert after[key] == before[key], f"{key} changed although nothing was loaded"


@pytest.fixture
def base_engine(engine: Engine) -> Engine:
    """The demo organisations and indicators, and 300 real immunisation values, loaded."""
    load_demo_base(engine)
    first = "\n".join(_LINES[:301]).encode()
    assert run_load(engine, first, kind="values", file_name="first.csv").status == "loaded"
    return engine


def test_fuzz_csv_through_run_load(base_engine: Engine) -> None:
    """Malformed CSVs: a clear error or a whole-file rejection, never a partial load."""
    outcomes: list[str] = []

    @_FUZZ
    @given(data=malformed_csv())
    def run(data: bytes) -> None:
        outcomes.append(_check_one(base_engine, data, "fuzz.csv"))

    run()
    print("csv outcomes:", {o: outcomes.count(o) for o in set(outcomes)})
    # the generator must exercise both kinds of refusal, not only one
    assert {"error", "rejected"} <= set(outcomes), outcomes


def test_fuzz_xlsx_through_run_load(base_engine: Engine) -> None:
    """Malformed and hostile workbooks: the same guarantees."""
    outcomes: list[str] = []

    @settings(_FUZZ, max_examples=20)
    @given(data=malformed_xlsx())
    def run(data: bytes) -> None:
        outcomes.append(_check_one(base_engine, data, "fuzz.xlsx"))

    run()
    print("xlsx outcomes:", {o: outcomes.count(o) for o in set(outcomes)})
    assert {"error", "rejected"} <= set(outcomes), outcomes


def test_fuzz_upload_route(base_engine: Engine) -> None:
    """The same inputs through POST /api/v1/loads: 200, 413 or 422, never 500; one shape."""
    from api.app import create_api
    from core.settings import Settings, get_settings, override_settings

    override_settings(Settings(database_url=get_settings().database_url, max_upload_mb=1))
    with session_scope(base_engine) as s:
        _info, token = auth.create_token(s, "fuzzer", "analyst")
    client = TestClient(create_api(), raise_server_exceptions=False)
    statuses: list[int] = []

    @settings(_FUZZ, max_examples=20)
    @given(data=st.one_of(malformed_csv(), malformed_xlsx()),
           name=st.sampled_from(["v.csv", "v.xlsx", "../../v.csv", "v", "C:\\x\\v.txt"]))
    def run(data: bytes, name: str) -> None:
        before = data_state(base_engine)
        r = client.post("/api/v1/loads", headers={"Authorization": f"Bearer {token}"},
                        files={"file": (name, data)}, data={"kind": "values"})
        statuses.append(r.status_code)
        assert r.status_code in (200, 413, 422), (r.status_code, r.text[:500])
        if r.status_code != 200:
            err = r.json()["error"]
            assert err["status"] == r.status_code
            assert err["message"]
            _assert_nothing_written(before, data_state(base_engine))

    run()
    print("upload statuses:", {o: statuses.count(o) for o in set(statuses)})
    assert 413 in statuses or 422 in statuses
