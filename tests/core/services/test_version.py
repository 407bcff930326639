"""Data version and versioned caches: every load, revert, group or annotation write changes
the version; caches answer only under the version they were filled in."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from core.db import make_engine
from core.models import Annotation, Indicator, Load, PeerGroup, PeerGroupMember, ikey_of
from core.services.data_periods import periods_with_data
from core.services.indicators import get_indicator
from core.services.version import (
    PEER_TTL,
    VersionedLRU,
    current_version,
    data_version,
    engine_cache,
    load_version,
)
from tests.core.services.factories import build_network

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _load(session: Session) -> int:
    row = Load(file_name="v.csv", sha256="0" * 64, kind="values", status="running",
               started_at=NOW, options={})
    session.add(row)
    session.flush()
    return row.id


def _finished_load(engine) -> int:
    """A load row started and finished in a transaction of its own (no values)."""
    with Session(engine) as s:
        load_id = _load(s)
        s.execute(update(Load).where(Load.id == load_id).values(status="loaded",
                                                                finished_at=NOW))
        s.commit()
    return load_id


def test_version_changes_with_every_kind_of_write(session):
    net = build_network(session, months=3)
    seen = [data_version(session)]

    def changed() -> None:
        v = data_version(session)
        assert v != seen[-1], f"the data version did not change: {v}"
        seen.append(v)

    load_id = _load(session)
    changed()  # a load started
    session.execute(update(Load).where(Load.id == load_id)
                    .values(status="loaded", finished_at=NOW))
    changed()  # it finished (same transaction as its values)
    session.execute(update(Load).where(Load.id == load_id)
                    .values(status="reverted", reverted_at=NOW))
    changed()  # reverted
    group = PeerGroup(name="locality", created_at=NOW)
    session.add(group)
    session.flush()
    changed()
    session.add(PeerGroupMember(group_id=group.id, org_id=net.org_ids["A81001"]))
    session.flush()
    changed()
    note = Annotation(org_id=net.org_ids["A81001"], indicator_id="imm",
                      date=dt.date(2024, 1, 1), text="recall", created_at=NOW)
    session.add(note)
    session.flush()
    changed()
    session.execute(delete(Annotation).where(Annotation.id == note.id))
    changed()
    # the same annotations as before the note: the same version (the same data)
    assert seen[-1] == seen[-3]
    # SQLite may give a new row the deleted highest id: its creation time still differs
    again = Annotation(org_id=net.org_ids["A81001"], indicator_id="imm",
                       date=dt.date(2024, 1, 1), text="other",
                       created_at=NOW + dt.timedelta(seconds=1))
    session.add(again)
    session.flush()
    changed()
    assert seen[-1] not in seen[:-1]  # not the version of the deleted note
    session.execute(delete(PeerGroupMember))
    changed()
    session.execute(delete(PeerGroup))
    changed()


def test_current_version_is_read_once_per_transaction(engine):
    with Session(engine) as s:
        build_network(s, months=2)
        s.commit()
    with Session(engine) as s:
        v1 = current_version(s)
        _load(s)
        assert current_version(s) == v1  # memoised within the transaction
        s.commit()
        assert current_version(s) != v1  # a new transaction reads it again


def test_indicator_metadata_cached_until_a_load_changes_the_version(engine):
    with Session(engine) as s:
        build_network(s, months=2)
        s.commit()
    with Session(engine) as s:
        assert get_indicator(s, "imm").name == "Childhood immunisation"
        periods = periods_with_data(s, "imm", period_type="month")
    with Session(engine) as s:
        # a change that bypasses loads is not seen (documented; bounded by the TTL) ...
        s.execute(update(Indicator).where(Indicator.id == "imm").values(name="Renamed"))
        s.commit()
    with Session(engine) as s:
        assert get_indicator(s, "imm").name == "Childhood immunisation"
        assert periods_with_data(s, "imm", period_type="month") == periods
    _finished_load(engine)  # ... and a finished load makes every cache read again
    with Session(engine) as s:
        assert get_indicator(s, "imm").name == "Renamed"


def test_caches_are_per_engine(engine, database_factory, backend):
    url = database_factory.create(backend)
    other = make_engine(url)
    try:
        with Session(engine) as s:
            a = engine_cache(s, "indicator_meta")
            assert engine_cache(s, "indicator_meta") is a
            assert engine_cache(s, "periods_with_data") is not a
        with other.connect() as conn:
            assert engine_cache(conn, "indicator_meta") is not a
    finally:
        other.dispose()
        database_factory.drop(url)


def test_lru_bounds_versions_and_ttl():
    c = VersionedLRU(2, maxbytes=100, ttl=60)
    v1, v2 = ("1",), ("2",)
    c.put("a", v1, "A", size=10)
    c.put("b", v1, "B", size=10)
    assert c.get("a", v1) == "A"  # a is now the most recently used
    c.put("c", v1, "C", size=10)  # evicts b (least recently used), not a
    assert c.get("b", v1) is None
    assert c.get("a", v1) == "A"
    assert c.get("a", v2) is None  # another version: a miss, and the entry is dropped
    assert c.get("a", v1) is None
    c.put("big", v1, "X", size=101)  # larger than the whole budget: not stored
    assert c.get("big", v1) is None
    c.put("d", v1, "D", size=60)
    c.put("e", v1, "E", size=60)  # over 100 bytes: the older entries go
    assert c.get("d", v1) is None
    assert c.get("e", v1) == "E"
    assert c.nbytes == 60
    short = VersionedLRU(4, ttl=0.01)
    short.put("k", v1, 1)
    time.sleep(0.02)
    assert short.get("k", v1) is None
    off = VersionedLRU(0)
    off.put("k", v1, 1)
    assert off.get("k", v1) is None


def test_profile_peer_stats_shared_across_profiles_until_a_load(engine):
    """Every practice's profile needs the same national comparisons: the second profile
    reads them from the cache (same rows as computed afresh), and a finished load that
    changes a peer's value makes the next profile compute them again."""
    from core.models import IndicatorValue
    from core.services import profile as prof

    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    with Session(engine) as s:
        first = prof.profile(s, "A81001").rows
        cache = engine_cache(s, "peer_summary")
        misses = cache.misses
        second = prof.profile(s, "A81006").rows
        assert cache.misses == misses  # all of A81006's comparisons came from the cache
    cache.clear()
    with Session(engine) as s:
        fresh = prof.profile(s, "A81006").rows
    pd.testing.assert_frame_equal(fresh, second)
    imm = first.set_index("indicator_id").loc["imm"]
    with Session(engine) as s:
        # another practice's latest imm value changes, through a finished load (which
        # stamps the rows it changes with its id, as etl does)
        load_id = _load(s)
        s.execute(update(IndicatorValue)
                  .where(IndicatorValue.org_id == net.org_ids["A81010"],
                         IndicatorValue.ikey == ikey_of("imm"),
                         IndicatorValue.period_id.in_(
                             s.query(IndicatorValue.period_id)
                             .filter(IndicatorValue.ikey == ikey_of("imm"))
                             .order_by(IndicatorValue.period_id.desc()).limit(1)))
                  .values(numerator=0, load_id=load_id))
        s.execute(update(Load).where(Load.id == load_id).values(status="loaded",
                                                                finished_at=NOW))
        s.commit()
    with Session(engine) as s:
        again = prof.profile(s, "A81001").rows.set_index("indicator_id").loc["imm"]
    assert again["period"] == imm["period"]
    assert again["benchmark"] < imm["benchmark"]  # the pooled value saw the new zero


def test_load_version_changes_with_loads_only(session):
    """The loads' part of the version: a load's start, finish and revert change it; a peer
    group, a member and an annotation change the data version but not it."""
    net = build_network(session, months=3)
    assert load_version(session) == data_version(session)[:4]
    seen = [load_version(session)]
    session.commit()  # load_version is read once per transaction
    load_id = _load(session)
    session.execute(update(Load).where(Load.id == load_id)
                    .values(status="loaded", finished_at=NOW))
    session.commit()
    assert load_version(session) != seen[-1]
    seen.append(load_version(session))
    before = data_version(session)
    group = PeerGroup(name="locality", created_at=NOW)
    session.add(group)
    session.flush()
    session.add(PeerGroupMember(group_id=group.id, org_id=net.org_ids["A81001"]))
    session.add(Annotation(org_id=net.org_ids["A81001"], indicator_id="imm",
                           date=dt.date(2024, 1, 1), text="recall", created_at=NOW))
    session.flush()
    session.commit()  # a new transaction reads the version again
    assert data_version(session) != before
    assert load_version(session) == seen[-1]
    session.execute(update(Load).where(Load.id == load_id)
                    .values(status="reverted", reverted_at=NOW))
    session.commit()
    assert load_version(session) != seen[-1]


def test_profile_peer_summaries_survive_writes_that_are_not_loads(engine):
    """At a thousand indicators the first profile of a version rebuilds every national peer
    summary (seconds): an annotation or a peer group (which change the data version, not
    the values) must not make the next profile do it again; a finished load still does. The
    profile's peer caches keep entries for PEER_TTL, not the 5 minutes of the others."""
    from core.services import profile as prof

    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    with Session(engine) as s:
        prof.profile(s, "A81001")
        cache = engine_cache(s, "peer_summary")
        assert cache.ttl == PEER_TTL == 3600.0
        misses, hits = cache.misses, cache.hits
    with Session(engine) as s:
        s.add(Annotation(org_id=net.org_ids["A81006"], indicator_id="imm",
                         date=dt.date(2024, 1, 1), text="recall", created_at=NOW))
        group = PeerGroup(name="locality", created_at=NOW)
        s.add(group)
        s.flush()
        s.add(PeerGroupMember(group_id=group.id, org_id=net.org_ids["A81001"]))
        s.commit()
    with Session(engine) as s:
        rows = prof.profile(s, "A81006").rows
        assert len(rows) > 0
        assert cache.misses == misses  # every summary came from the cache
        assert cache.hits > hits
    _finished_load(engine)
    with Session(engine) as s:
        prof.profile(s, "A81006")
        assert cache.misses > misses  # a load: built again


def test_profile_rebuilds_only_the_summaries_a_load_changed(engine, tmp_path, built):
    """After a values load (through the loading pipeline) that changes one practice's
    ``ae_los`` in the latest month, the next profile builds that one peer summary again and
    reads the others' (``imm``'s latest period, the financial year, and ``prev``) from the
    cache: their pairs' fingerprints (row count, sum of load ids) did not move. The rows
    equal a profile computed with an empty cache. A revert of that load builds it again; an
    organisations load builds every one."""
    from core.services import profile as prof
    from etl.pipeline import run_load
    from etl.revert import revert_load

    with Session(engine) as s:
        net = build_network(s, months=3)
        s.commit()
    with Session(engine) as s:
        before = prof.profile(s, "A81001").rows.set_index("indicator_id")
    assert sorted(built) == ["ae_los", "imm", "prev"]
    latest = net.months[-1]
    values = tmp_path / "ae_los.csv"
    values.write_text("org_code,indicator_id,period,numerator,denominator\n"
                      f"A81006,ae_los,{latest},999,5000\n")
    result = run_load(engine, values, kind="values", migrate=False)
    assert result.status == "loaded", result.as_json()
    assert result.rows_updated == 1
    built.clear()
    with Session(engine) as s:
        after = prof.profile(s, "A81001").rows.set_index("indicator_id")
    assert built == ["ae_los"]  # imm and prev held
    assert after.loc["ae_los", "benchmark"] > before.loc["ae_los", "benchmark"]
    with Session(engine) as s:
        engine_cache(s, "peer_summary").clear()
        fresh = prof.profile(s, "A81001").rows.set_index("indicator_id")
    pd.testing.assert_frame_equal(after, fresh)

    revert_load(engine, result.load_id)
    built.clear()
    with Session(engine) as s:
        reverted = prof.profile(s, "A81001").rows.set_index("indicator_id")
    assert built == ["ae_los"]
    pd.testing.assert_frame_equal(reverted, before)

    orgs = tmp_path / "orgs.csv"
    orgs.write_text("org_code,name,org_type,parent_code\nA81099,New Practice,practice,PCN1\n")
    assert run_load(engine, orgs, kind="organisations", migrate=False).status == "loaded"
    built.clear()
    with Session(engine) as s:
        prof.profile(s, "A81001")
    assert sorted(built) == ["ae_los", "imm", "prev"]  # the peers may have changed


def test_lru_keeps_a_stale_entry_for_peek_when_asked():
    """``get(..., keep_stale=True)`` misses on another version but leaves the entry for
    :meth:`peek` (a caller that can tell it still holds puts it back under the new one);
    a plain ``get`` drops it; an expired entry is gone either way."""
    cache = VersionedLRU(4)
    cache.put("k", ("1",), "old")
    assert cache.get("k", ("2",), keep_stale=True) is None
    assert cache.peek("k") == "old"
    cache.put("k", ("2",), cache.peek("k"))
    assert cache.get("k", ("2",)) == "old"
    assert cache.get("k", ("3",)) is None
    assert cache.peek("k") is None
    short = VersionedLRU(4, ttl=0.01)
    short.put("k", ("1",), "v")
    time.sleep(0.02)
    assert short.peek("k") is None
    assert short.get("k", ("2",), keep_stale=True) is None
