"""Fixtures for the export tests: a database of real NHS data per backend (module scoped, so
it is loaded once per backend), and helpers to read a deck back with python-pptx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from core.db import make_engine
from core.settings import Settings, override_settings
from exports.render import find_browser
from tests.exports.demo_data import load_all


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pack_db(request: pytest.FixtureRequest, module_database, database_factory) -> Iterator[str]:
    """URL of a migrated database holding 4 immunisation indicators (81 practices, 3 years)
    and A&E 4-hour performance (20 trusts, 36 months); the settings point at it."""
    url = module_database(request.param)
    engine = make_engine(url)
    load_all(engine, items=4, trusts=20)
    engine.dispose()
    override_settings(Settings(database_url=url))
    try:
        yield url
    finally:
        override_settings(None)
        from core.db import _engine_for

        _engine_for.cache_clear()
        database_factory.drop(url)


@pytest.fixture
def pack_session(pack_db: str) -> Iterator[Session]:
    """A session on the module's data (read only: packs never write)."""
    engine = make_engine(pack_db)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser charts are drawn with; the tests that draw charts need it."""
    path = find_browser()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium): charts cannot "
                    "be drawn")
    return path


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice, for the PDF tests."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        pytest.skip("LibreOffice is not installed (apt-get install -y --no-install-recommends "
                    "libreoffice-impress poppler-utils): PDF export cannot be tested")
    return path
