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
from tests.production.faults import DEMO, load_demo_base


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_checks_all_against_running_server(module_database, database_factory,  # type: ignore[no-untyped-def]
                                           tmp_path) -> None:
    """``schemathesis run --checks all`` (every check: undocumented statuses and methods,
    OPTIONS and ``Allow``, schema-valid requests rejected, schema-violating ones accepted,
    auth ignored...) against ``qidash serve`` on the demo data, as an operator would run it.
    Bounded: 3 examples per operation and phase (the coverage phase adds about 1,000 of its
    own), deterministic, one worker. The few routes that check what no schema can express
    (upload content, codes that must exist) are listed, with the reason, in
    ``tests/production/schemathesis.toml``."""
    import re
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from core import auth
    from core.db import session_scope
    from etl.demo import run_demo
    from tests.production.faults import PY, child_env

    url = module_database("sqlite")
    engine = make_engine(url)
    try:
        run_demo(engine)
        with session_scope(engine) as s:
            _info, token = auth.create_token(s, "schemathesis", "analyst")
    finally:
        engine.dispose()
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")  # a pipe nobody reads would fill and stall it
    server = subprocess.Popen([PY, "-m", "qidash.cli", "serve", "--port", str(port)],
                              env=child_env(url), stdout=log, stderr=log, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "qidash serve did not answer in 120 s"
            time.sleep(0.5)
        st = Path(sys.executable).parent / "schemathesis"
        config = Path(__file__).parent / "schemathesis.toml"
        started = time.monotonic()
        run = subprocess.run(
            [str(st), "--config-file", str(config), "run", f"{base}/api/openapi.json",
             "--checks", "all", "--max-examples", "3", "--generation-deterministic",
             "--workers", "1", "--exclude-path-regex", "/exports/", "--no-color",
             "--request-timeout", "30", "-H", f"Authorization: Bearer {token}"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        database_factory.drop(url)
    out = run.stdout + run.stderr
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    print(f"schemathesis: {counts.group(0) if counts else '?'} in {took:.0f} s")
    assert run.returncode == 0, out[-6000:]
    assert counts is not None, out[-3000:]
    assert int(counts.group(1)) == int(counts.group(2)) >= 200, counts.group(0)
