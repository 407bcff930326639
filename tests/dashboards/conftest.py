"""Fixtures for the dashboard tests: the Dash app (pages registered once) and sample data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from sqlalchemy import Engine

from tests.dashboards.sample_data import load_sample


@pytest.fixture(scope="session")
def dash_app():
    """The Dash app; creating it registers every page."""
    from dashboards.app import create_dash

    return create_dash()


@pytest.fixture(scope="session")
def pages(dash_app) -> dict[str, ModuleType]:
    """Page modules by short name (``indicator``, ``trend`` ...)."""
    import dash

    return {p["module"].rsplit(".", 1)[-1]: sys.modules[p["module"]]
            for p in dash.page_registry.values()}


@pytest.fixture
def sample(engine: Engine) -> Iterator[Engine]:
    """A fresh database (SQLite and PostgreSQL in turn) with the real sample loaded."""
    load_sample(engine)
    return engine
