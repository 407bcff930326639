"""Time each named importer on the real files in ../shared/data, and QOF and Fingertips at
national practice scale.

Both national-scale files are *constructed* from real files, and measure reading speed only:

* QOF: the real 2019-20 CCG workbook's sheets (all 27, same headers, notes and footnotes), with
  the CCG code header renamed "Practice code" and each CCG row repeated 50 times under made-up
  practice codes (P00001...; the same codes on every sheet), giving 6,750 rows per sheet
  (England has about 6,500 practices) and 749,250 loaded values. Its numbers are the CCGs'
  repeated. Written with openpyxl (write-only), which takes about a minute.
* Fingertips: the real IMD 2019 practice export (6,547 rows: 6,545 practices and England
  twice) repeated for 8 indicator ids (93553, 94553, ...) x 8 years (2015-2022): 419,008 rows,
  418,944 values. Every copy carries the 2019 scores; no count or denominator, as in the real
  file.

Figures are wall-clock and CPU seconds of this process; the machine is shared, so the CPU
figure is the one to compare between runs. ``--openpyxl`` also times the QOF workbook through
the openpyxl fallback (the reader before python-calamine; 40-100 s).

Run: ``.venv/bin/python bench/bench_importers.py [--openpyxl]``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"

from etl.formats import fingertips, list_sizes, nhse_ae, ods_practices, qof  # noqa: E402

FILES = [
    (fingertips, DATA / "gp_practice_national" / "fingertips_93553_imd_score_by_practice.csv"),
    (qof, DATA / "qof_ccg_2019_20" / "qof-1920-prev-ach-pca-ccg.xlsx"),
    (nhse_ae, DATA / "ae_attendances" / "ae_attendances.csv"),
    (ods_practices, DATA / "gp_practice_national" / "epraccur.csv"),
    (list_sizes, DATA / "gp_practice_national" / "gp-reg-pat-prac-all_jan2021.csv"),
]


def practice_scale_qof(repeat: int = 50) -> bytes:
    """The real CCG workbook with each CCG row repeated under practice codes (see docstring)."""
    import openpyxl

    src = openpyxl.load_workbook(FILES[1][1], read_only=True, data_only=True)
    out = openpyxl.Workbook(write_only=True)
    for name in src.sheetnames:
        ws = out.create_sheet(name)
        serial = 0  # the same practices on every sheet
        for row in src[name].iter_rows(values_only=True, max_col=120):
            cells = list(row)
            if cells and cells[0] == "CCG ODS code (practice parent)":
                cells[0], cells[2] = "Practice code", "Practice name"
            if name != "Title sheet" and cells and isinstance(cells[0], str) \
                    and len(cells[0]) == 3 and cells[0].isalnum() and cells[0].upper() == cells[0]:
                for _ in range(repeat):
                    serial += 1
                    ws.append([f"P{serial:05d}", cells[1], f"practice {serial}", *cells[3:]])
                continue
            ws.append(cells)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def national_fingertips(indicators: int = 8, years: range = range(2015, 2023)) -> bytes:
    """The real IMD practice export repeated over indicator ids and years (see docstring)."""
    import pandas as pd

    raw = pd.read_csv(FILES[0][1], dtype=str, keep_default_na=False)
    parts = []
    for k in range(indicators):
        for year in years:
            part = raw.copy()
            part["Indicator ID"] = str(93553 + 1000 * k)
            part["Indicator Name"] = part["Indicator Name"] + f" (copy {k + 1})"
            part["Time period"] = str(year)
            part["Time period Sortable"] = f"{year}0000"
            parts.append(part)
    return pd.concat(parts, ignore_index=True).to_csv(index=False).encode()


def _time(label: str, fn) -> None:
    t, c = time.perf_counter(), time.process_time()
    e = fn()
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    n = 0 if e.values is None else len(e.values)
    orgs = 0 if e.organisations is None else len(e.organisations)
    print(f"{label:55s} {dt:7.2f} s ({cpu:6.2f} s CPU)  rows read {e.rows_read:>8,}  "
          f"values {n:>8,}  organisations {orgs:>6,}  errors {len(e.errors)}")


def main() -> None:
    for module, path in FILES:
        _time(f"{module.FORMAT:14s} {path.name}", lambda m=module, p=path: m.read(p))

    t = time.perf_counter()
    csv = national_fingertips()
    print(f"(built the national Fingertips export: {len(csv) / 1e6:.1f} MB in "
          f"{time.perf_counter() - t:.1f} s)")
    _time("fingertips     national practice export (constructed)",
          lambda: fingertips.read((csv, "fingertips-national.csv")))

    t = time.perf_counter()
    data = practice_scale_qof()
    print(f"(built the practice-scale QOF workbook: {len(data) / 1e6:.1f} MB in "
          f"{time.perf_counter() - t:.1f} s)")
    _time("qof            practice-scale workbook (constructed)",
          lambda: qof.read((data, "qof-practice-scale.xlsx")))
    if "--openpyxl" in sys.argv:
        from etl.formats import _importer_util

        def refuse(self):
            raise RuntimeError("timing the openpyxl fallback")

        _importer_util.XlsxBook._open_calamine = refuse
        _time("qof            practice-scale, openpyxl fallback",
              lambda: qof.read((data, "qof-practice-scale.xlsx")))


if __name__ == "__main__":
    main()
