"""fetch_value_columns (values-only query joined in numpy to the organisation directory, packed
into one binary value on PostgreSQL) returns exactly what the one joined SELECT ordered by code
returned; the directory is cached per data version and read again for an unknown organisation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from core.errors import InvalidParameter
from core.models import Load, Organisation
from core.services.data_periods import PeriodRef, resolve_period
from core.services.indicators import get_indicator
from core.services.organisations import org_directory
from core.services.peers import PeerSet
from core.services.query import fetch_all, frame_from_rows
from core.services.values import VALUE_COLUMNS, fetch_values, values_statement
from tests.core.services.factories import add_org, add_values, build_network, period_id

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _reference(session: Session, indicator_id: str, period: PeriodRef,
               peers: PeerSet) -> pd.DataFrame:
    """The previous implementation: the joined SELECT, ordered by code, as a frame."""
    stmt = values_statement(indicator_id, [period.id], peers).order_by(Organisation.code)
    return frame_from_rows(fetch_all(session, stmt), VALUE_COLUMNS)


def _finish_load(session: Session) -> None:
    load = Load(file_name="v.csv", sha256="0" * 64, kind="values", status="loaded",
                started_at=NOW, finished_at=NOW, options={})
    session.add(load)
    session.commit()


@pytest.fixture
def net(session: Session):  # type: ignore[no-untyped-def]
    net = build_network(session, months=2)
    last = period_id(session, net.months[-1])
    # published-only values (no counts) with their interval, a NULL everywhere, a nation row
    add_values(session, [
        {"org_id": net.org_ids["PCN1"], "indicator_id": "imm", "period_id": last,
         "numerator": None, "denominator": None, "value": 88.5, "lower_ci": 80.1,
         "upper_ci": 93.0},
        {"org_id": net.org_ids["PCN2"], "indicator_id": "imm", "period_id": last,
         "numerator": None, "denominator": None, "value": None},
    ])
    session.commit()
    return net


def test_value_columns_equal_the_joined_select(session: Session, net) -> None:  # type: ignore[no-untyped-def]
    ids = net.org_ids
    for indicator_id in ("imm", "ae_los", "prev"):
        period = resolve_period(session, get_indicator(session, indicator_id),
                                     net.months[-1])
        peer_sets = [
            PeerSet(None, "all", "all", None, None),
            PeerSet(None, "all", "all", None, None, active_only=False),
            PeerSet(None, "all", "all", "pcn", None),
            PeerSet(None, "all", "all", "nation", None),
            PeerSet(None, "parent", "p", "practice",
                    (ids["A81001"], ids["A81003"], ids["A89999"], ids["PCN1"])),
            PeerSet(None, "group", "g", None, (ids["A81010"], ids["A89999"]),
                    active_only=False),
            PeerSet(None, "group", "g", None, ()),
        ]
        for peers in peer_sets:
            if peers.kind == "all" and peers.org_type is not None:
                if not len(_reference(session, indicator_id, period, peers)):
                    with pytest.raises(InvalidParameter, match="organisations have"):
                        fetch_values(session, indicator_id, period, peers)
                    continue
            got, settled = fetch_values(session, indicator_id, period, peers)
            ref_peers = settled if peers.kind == "all" else peers
            ref = _reference(session, indicator_id, period, ref_peers)
            pd.testing.assert_frame_equal(got, ref)
            if peers.kind == "all" and peers.org_type is None:
                assert settled.org_type == "practice"


def test_directory_follows_the_data_version(engine, session: Session, net) -> None:  # type: ignore[no-untyped-def]
    period = resolve_period(session, get_indicator(session, "imm"), net.months[-1])
    everyone = PeerSet(None, "all", "all", None, None, active_only=False)
    session.rollback()
    first = org_directory(session)
    assert org_directory(session) is first  # cached
    session.execute(update(Organisation).where(Organisation.code == "A81001")
                    .values(name="Renamed Surgery"))
    session.commit()
    # a rename outside a load is not seen until the version changes (bounded by the TTL) ...
    frame, _ = fetch_values(session, "imm", period, everyone)
    assert "Renamed Surgery" not in frame["org_name"].tolist()
    # ... a finished load changes the version: the directory is read again
    _finish_load(session)
    frame, _ = fetch_values(session, "imm", period, everyone)
    assert "Renamed Surgery" in frame["org_name"].tolist()
    assert org_directory(session) is not first
    # an organisation written outside a load that has values is found (directory re-read)
    new_id = add_org(session, "A80000", "Hand-written Practice", "practice", "PCN1")
    add_values(session, [{"org_id": new_id, "indicator_id": "imm", "period_id": period.id,
                          "numerator": 5.0, "denominator": 10.0, "value": 50.0}])
    session.commit()
    frame, _ = fetch_values(session, "imm", period, everyone)
    row = frame.set_index("org_code").loc["A80000"]
    assert row["org_name"] == "Hand-written Practice"
    assert row["numerator"] == 5.0
    assert frame["org_code"].tolist() == sorted(frame["org_code"].tolist())
    assert np.isin(new_id, org_directory(session).ids)


def test_published_values_only_without_counts(session: Session, net) -> None:  # type: ignore[no-untyped-def]
    """``published="without_counts"`` reads the same ids, counts and suppression, and the
    published value and interval of every row without finite counts and a positive
    denominator (on PostgreSQL the others are not read: NaN); a comparison built from it is
    the one built from every stored value."""
    from sqlalchemy import select

    from core.models import IndicatorValue, ikey_of
    from core.services import comparison as cmp
    from core.services.values import _without_counts, fetch_value_arrays

    ids = net.org_ids
    period = resolve_period(session, get_indicator(session, "imm"), net.months[-1])
    # a zero denominator and a missing denominator, both with a published value and interval
    for code, den in (("A81001", 0.0), ("A81003", None)):
        session.execute(
            update(IndicatorValue)
            .where(IndicatorValue.org_id == ids[code], IndicatorValue.period_id == period.id,
                   IndicatorValue.ikey == select(ikey_of("imm")).scalar_subquery())
            .values(denominator=den, value=41.5, lower_ci=30.25, upper_ci=52.0))
    session.commit()
    for org_ids in (None, (ids["A81001"], ids["A81003"], ids["A81010"], ids["PCN1"])):
        a_ids, a_vals, a_sup = fetch_value_arrays(session, "imm", period.id, org_ids)
        b_ids, b_vals, b_sup = fetch_value_arrays(session, "imm", period.id, org_ids,
                                                  "without_counts")
        assert a_ids.tolist() == b_ids.tolist()
        assert a_sup.tolist() == b_sup.tolist()
        np.testing.assert_array_equal(a_vals[:, :2], b_vals[:, :2])
        without = _without_counts(a_vals)
        assert without.sum() >= 3  # PCN1's, A81001's, A81003's
        np.testing.assert_array_equal(a_vals[without], b_vals[without])
        if session.get_bind().dialect.name == "postgresql":
            assert np.isnan(b_vals[~without, 2:]).all()
        else:
            np.testing.assert_array_equal(a_vals, b_vals)
    narrow = cmp.comparison(session, "imm", period=net.months[-1], org_type="practice")
    orig = cmp.fetch_value_positions
    try:
        cmp.fetch_value_positions = lambda *a, **k: orig(*a, **{**k, "published": "all"})  # type: ignore[assignment]
        full = cmp.comparison(session, "imm", period=net.months[-1], org_type="practice")
    finally:
        cmp.fetch_value_positions = orig  # type: ignore[assignment]
    assert narrow.columns.keys() == full.columns.keys()
    for k, v in full.columns.items():
        got = narrow.columns[k]
        if v.dtype.kind == "f":
            np.testing.assert_array_equal(got, v)
        else:
            assert got.tolist() == v.tolist(), k
    codes = full.columns["org_code"].tolist()
    assert full.columns["value"][codes.index("A81001")] == 41.5  # the published value shown


def test_indicator_series_equal_a_plain_select(session: Session, net) -> None:  # type: ignore[no-untyped-def]
    """An indicator's whole series (what a load's alerts read: packed into one binary value
    on PostgreSQL) holds exactly the stored rows, NULL counts as NaN, a NULL load as 0."""
    from sqlalchemy import text

    from core.services.values import fetch_indicator_series

    _finish_load(session)
    load_id = session.execute(text("SELECT max(id) FROM loads")).scalar()
    assert load_id is not None
    session.execute(text("UPDATE indicator_values SET load_id = :l WHERE org_id = :o"),
                    {"l": load_id, "o": net.org_ids["A81001"]})  # NULL elsewhere
    session.commit()
    for indicator_id in ("imm", "ae_los", "prev"):
        got = fetch_indicator_series(session, indicator_id)
        rows = session.execute(text(
            "SELECT v.org_id, v.period_id, v.numerator, v.denominator, v.value, v.suppressed, "
            "v.load_id FROM indicator_values v JOIN indicators i ON i.ikey = v.ikey "
            "WHERE i.id = :i"), {"i": indicator_id}).all()
        assert len(rows) == len(got["org_id"]) > 0
        order = np.lexsort((got["org_id"], got["period_id"]))
        rows.sort(key=lambda r: (r[1], r[0]))
        for name, j in (("org_id", 0), ("period_id", 1), ("numerator", 2),
                        ("denominator", 3), ("value", 4)):
            want = np.array([np.nan if r[j] is None else r[j] for r in rows], dtype=float)
            np.testing.assert_array_equal(got[name][order].astype(float), want)
        assert got["suppressed"][order].tolist() == [bool(r[5]) for r in rows]
        assert got["load_id"][order].tolist() == [r[6] or 0 for r in rows]
        assert got["org_id"].dtype == got["load_id"].dtype == np.int64
        assert load_id in got["load_id"]
