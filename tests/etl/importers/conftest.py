"""Fixtures for the named importers: the real files in ../shared/data, read once per session.

Paths resolve ``<repo>/../shared`` as tests/conftest.py does, because CI clones the repository
elsewhere with shared/ beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.extract import Extract

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"

FINGERTIPS = DATA / "gp_practice_national" / "fingertips_93553_imd_score_by_practice.csv"
QOF = DATA / "qof_ccg_2019_20" / "qof-1920-prev-ach-pca-ccg.xlsx"
AE = DATA / "ae_attendances" / "ae_attendances.csv"
EPRACCUR = DATA / "gp_practice_national" / "epraccur.csv"
LIST_SIZES = DATA / "gp_practice_national" / "gp-reg-pat-prac-all_jan2021.csv"
IMMS = DATA / "gp_immunisations_wsx" / "GP_immunisations.csv"
MESSY = DATA / "messy_extracts" / "hscic_prescribing_sample.csv"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared data file missing: {path} (CI must check out shared/ beside the repo)")
    return path


@pytest.fixture(scope="session")
def qof_extract() -> Extract:
    """The real QOF 2019-20 CCG workbook, read once."""
    from etl.formats import qof

    return qof.read(_require(QOF))


@pytest.fixture(scope="session")
def fingertips_extract() -> Extract:
    """The real Fingertips IMD export, read once."""
    from etl.formats import fingertips

    return fingertips.read(_require(FINGERTIPS))


@pytest.fixture(scope="session")
def ae_extract() -> Extract:
    """The real A&E attendances file, read once."""
    from etl.formats import nhse_ae

    return nhse_ae.read(_require(AE))
