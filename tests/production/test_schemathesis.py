"""schemathesis against /api/openapi.json: generated requests to every operation of the
in-process app on the real demo data (SQLite): no server error, and every response conforms to
the schema the API documents. Bounded to a few examples per operation; slide-pack exports
(Chromium rendering, seconds per request) are left to tests/exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from core.db import _engine_for, make_engine
from core.settings import Settings, override_settings
from etl.pipeline import run_load
from tests.production.conftest import DEMO, load_demo_base


@pytest.fixture(scope="module")
def api_schema(module_database, database_factory) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """The OpenAPI schema of an app serving the demo data."""
    from api.app import create_api

    url = module_database("sqlite")
    engine = make_engine(url)
    load_demo_base(engine)
    for name in ("values_immunisations.csv", "values_ae.csv"):
        assert run_load(engine, DEMO / name, kind="values").status == "loaded"
    engine.dispose()
    override_settings(Settings(database_url=url))
    try:
        schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_api())
        yield schema.exclude(path_regex="/exports/")
    finally:
        override_settings(None)
        _engine_for(url).dispose()
        _engine_for.cache_clear()
        database_factory.drop(url)


def test_api_conforms_to_its_schema(api_schema) -> None:  # type: ignore[no-untyped-def]
    """Every operation: no 5xx, and the body matches the documented schema for its status.

    Driven through schemathesis's Python API (its pytest plugin does not load under pytest 9
    here: ``'Function' object has no attribute '_nodeid'``)."""
    from hypothesis import given

    failures: list[str] = []
    operations = 0
    calls = {"n": 0}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            calls["n"] += 1
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations > 20
    assert calls["n"] > operations
    assert not failures, "\n\n".join(failures)
