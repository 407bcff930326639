"""Time each named importer on the real files in ../shared/data, and QOF at national practice
scale.

The practice-scale QOF workbook is *constructed*: the real CCG workbook's sheets, with each
CCG row repeated 50 times under made-up practice codes (P00001...), giving about 6,750 rows per
sheet (England has about 6,500 practices) and ~750,000 loaded values. Its numbers are the CCGs'
repeated, so it measures reading speed only. Run: ``.venv/bin/python bench/bench_importers.py``.
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


def _time(label: str, fn) -> None:
    t = time.perf_counter()
    e = fn()
    dt = time.perf_counter() - t
    n = 0 if e.values is None else len(e.values)
    orgs = 0 if e.organisations is None else len(e.organisations)
    print(f"{label:55s} {dt:7.2f} s  rows read {e.rows_read:>8,}  values {n:>8,}  "
          f"organisations {orgs:>6,}  errors {len(e.errors)}")


def main() -> None:
    for module, path in FILES:
        _time(f"{module.FORMAT:14s} {path.name}", lambda m=module, p=path: m.read(p))
    t = time.perf_counter()
    data = practice_scale_qof()
    print(f"(built the practice-scale QOF workbook: {len(data) / 1e6:.1f} MB in "
          f"{time.perf_counter() - t:.1f} s)")
    _time("qof            practice-scale workbook (constructed)",
          lambda: qof.read((data, "qof-practice-scale.xlsx")))


if __name__ == "__main__":
    main()
