"""A load's alerts read each indicator's series one ahead of the computation (PostgreSQL: in a
worker thread on the load's connection, while Python computes the alerts of the last one).
The alerts are those of reading in line; a read that fails fails the computation and leaves
no read running on the connection. On the bundled real demo data (West Sussex practices'
immunisations: 15 indicators read back), on both databases."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import text

from core.services import alerts as alert_service
from etl.demo import run_demo


@pytest.fixture
def demo(engine):  # type: ignore[no-untyped-def]
    results = run_demo(engine)
    imm = next(r for r in results if r.kind == "values" and "immunisations" in r.file_name)
    return engine, imm.load_id


def _alerts(engine, load_id: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        found = alert_service.compute_load_alerts(conn, load_id)
    return found.sort_values(["indicator_id", "org_id", "period_id", "kind"]).reset_index(
        drop=True)


def test_alerts_read_ahead_equal_alerts_read_in_line(demo, backend, monkeypatch) -> None:
    engine, load_id = demo
    threads: list[tuple[str, str]] = []
    read = alert_service.fetch_indicator_series

    def watched(conn, indicator_id):  # type: ignore[no-untyped-def]
        threads.append((indicator_id, threading.current_thread().name))
        return read(conn, indicator_id)

    monkeypatch.setattr(alert_service, "fetch_indicator_series", watched)
    ahead = _alerts(engine, load_id)
    read_order = [i for i, _ in threads]
    assert len(read_order) >= 10
    assert read_order == sorted(set(read_order))  # each once, in order
    names = {name for _, name in threads}
    if backend == "postgresql":
        assert all(n.startswith("qidash-alert-read") for n in names), names
    else:
        assert names == {threading.current_thread().name}
    assert not [t for t in threading.enumerate() if t.name.startswith("qidash-alert-read")]
    threads.clear()
    monkeypatch.setattr(alert_service, "READ_AHEAD", False)
    in_line = _alerts(engine, load_id)
    assert {name for _, name in threads} == {threading.current_thread().name}
    assert len(ahead) > 0
    pd.testing.assert_frame_equal(ahead, in_line)


def test_a_failed_read_fails_the_alerts_and_leaves_the_connection_free(demo, monkeypatch
                                                                      ) -> None:
    engine, load_id = demo
    read = alert_service.fetch_indicator_series
    seen: list[str] = []

    def failing(conn, indicator_id):  # type: ignore[no-untyped-def]
        seen.append(indicator_id)
        if len(seen) == 3:
            raise RuntimeError(f"read of {indicator_id} failed")
        return read(conn, indicator_id)

    monkeypatch.setattr(alert_service, "fetch_indicator_series", failing)
    with engine.connect() as conn:
        with pytest.raises(RuntimeError, match="read of .* failed"):
            alert_service.compute_load_alerts(conn, load_id)
        assert len(seen) == 3  # nothing read after the failure
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("qidash-alert-read")]
