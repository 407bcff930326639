"""Fixtures for the export tests: the bundled demo (real NHS data) loaded through the product's
own pipeline (``qidash demo``: :func:`etl.demo.run_demo`) once per backend and module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from core.db import make_engine
from core.settings import Settings, override_settings
from etl.demo import run_demo
from exports.render import find_browser
from tests.conftest import skip_unless_ci


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pack_db(request: pytest.FixtureRequest, module_database, database_factory) -> Iterator[str]:
    """URL of a migrated database holding the demo: 15 immunisation indicators (81 West Sussex
    practices in 21 PCNs, 3 years) and A&E 4-hour performance (trusts, 36 months); the
    settings point at it."""
    url = module_database(request.param)
    engine = make_engine(url)
    run_demo(engine)
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
        skip_unless_ci("Chromium is not installed (apt-get install -y chromium): charts "
                       "cannot be drawn", "chart")
    return path


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice, for the PDF tests."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        pytest.skip("LibreOffice is not installed (apt-get install -y --no-install-recommends "
                    "libreoffice-impress poppler-utils): PDF export cannot be tested")
    return path
