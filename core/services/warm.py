"""Warm the profile's national peer summaries in the background (issue 18).

A profile puts an organisation's latest value of every indicator beside a summary of every
organisation of its type (:func:`core.services.profile.peer_summaries`), cached per serving
process and load version, an hour at most (:data:`core.services.version.PEER_TTL`). Built on
demand, the first profile after a process starts, after a load or revert, or after the hour
paid for them: 5-15 s at 1,000 indicators on a 2-core machine.

:class:`PeerWarmer` builds them before anyone asks: a daemon thread of each serving process
(started by the app's lifespan, ``QIDASH_WARM_INTERVAL`` seconds between checks, 0 turns it
off) that, when the load version is not the one it last warmed (at start, and after a load or
revert made through any process or the CLI), or when the summaries near the end of their
hour, builds the summaries a default profile reads (:func:`default_pairs`). After a load, the
summaries of the pairs it did not change are kept by their fingerprints, as a profile keeps
them; only the changed ones are read again. A profile asked while the warmer works builds
what it needs itself, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.services.data_periods import latest_period, periods_with_data
from core.services.indicators import IndicatorMeta, list_indicator_meta
from core.services.peers import org_types_with_data
from core.services.query import Conn
from core.services.version import PEER_TTL, cache_stats, load_version

log = logging.getLogger("qidash.warm")


#: per indicator, what :func:`default_pairs` found and what it rests on: the indicator's
#: kept counts (values, organisations) and the loads of organisations and indicators
Found = dict[str, tuple[tuple[Any, ...], int | None, tuple[str, ...]]]


def default_pairs(conn: Conn, found: Found | None = None,
                  metas: list[IndicatorMeta] | None = None) -> dict[str, list[tuple[str, int]]]:
    """Per organisation type, the (indicator id, period id) pairs whose peer summaries a
    default profile of its open members reads: each indicator's latest period with values
    (the latest end date, the finest kind on a tie, as a profile picks a member's latest),
    for every type with an open organisation holding a value in that period.

    ``found`` (kept by the caller between calls): an indicator whose counts of values and
    organisations (``value_counts``, kept by every load and revert) and the loads of
    organisations and indicators are as they were is not looked at again (a load inserting
    into a new period, or a revert deleting one, changes its counts). Finding an indicator's
    pair costs about 6 ms on PostgreSQL (its periods probed, then its organisations' types
    counted): 6 s for 1,000 indicators, where a monthly load changes only some. ``metas``:
    the indicators' metadata when the caller has read it."""
    from core.models import Indicator, ValueCount
    from core.services.profile import reference_loads

    reference = reference_loads(conn)
    counts = {slug: (n, o) for slug, n, o in conn.execute(
        select(Indicator.id, ValueCount.n_values, ValueCount.n_orgs)
        .join(ValueCount, ValueCount.ikey == Indicator.ikey)).all()}
    found = {} if found is None else found
    for slug in [s for s in found if s not in counts]:
        del found[slug]
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for meta in list_indicator_meta(conn) if metas is None else metas:
        if meta.id not in counts:
            continue
        basis = (counts[meta.id], reference)
        hit = found.get(meta.id)
        if hit is None or hit[0] != basis:
            periods = periods_with_data(conn, meta.id)
            latest = latest_period(periods).id if periods else None
            types = tuple(org_types_with_data(conn, meta.id, latest)) if latest else ()
            hit = found[meta.id] = (basis, latest, types)
        _, latest, types = hit
        if latest is not None:
            for org_type in types:
                out[org_type].append((meta.id, latest))
    return dict(out)


def warm_peer_summaries(conn: Conn, *, max_age: float | None = None,
                        found: Found | None = None) -> int:
    """Build (or keep, where still true) the peer summaries of :func:`default_pairs` in this
    process's cache; ``max_age``: rebuild those older than that many seconds; ``found``: see
    :func:`default_pairs`. Returns how many summaries the cache now holds for default
    profiles."""
    from core.services.profile import peer_summaries

    listed = list_indicator_meta(conn)
    metas = {m.id: m for m in listed}
    n = 0
    for org_type, pairs in default_pairs(conn, found, listed).items():
        n += len(peer_summaries(conn, metas, pairs, org_type, True, max_age=max_age))
    return n


@dataclass
class WarmState:
    """What the warmer last did (shown by ``/api/v1/health``)."""

    state: str = "starting"  # starting | warming | warm | failed | off
    summaries: int = 0
    seconds: float | None = None
    as_of: dt.datetime | None = None  # when the last warm-up read the load version
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PeerWarmer:
    """The background thread of one serving process (see the module docstring)."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        #: rebuild the summaries this long before their hour ends (a few checks' notice)
        self.refresh_after = max(PEER_TTL - max(10 * interval, 300.0), PEER_TTL / 2)
        self.status = WarmState()
        self._version: tuple[str, ...] | None = None
        self._built = 0.0  # time.monotonic() of the last full build
        self._found: Found = {}  # what default_pairs found, per indicator
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="qidash-warm", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = min(1.0, self.interval)  # let the server start answering first
        while not self._stop.wait(delay):
            delay = self.interval
            try:
                self.tick()
            except Exception as exc:  # a database outage: say so, try again next time
                self.status.state, self.status.error = "failed", f"{type(exc).__name__}: {exc}"
                log.warning("warming the profile's peer summaries failed: %s", exc)

    def tick(self) -> bool:
        """One check: warm when the load version moved or the summaries near their hour's
        end. Returns whether it warmed."""
        with self.engine.connect() as conn:
            as_of = dt.datetime.now(dt.UTC)
            version = load_version(conn)
            due = time.monotonic() - self._built > self.refresh_after
            if version == self._version and not due:
                return False
            self.status.state = "warming"
            started = time.perf_counter()
            if due:  # everything read again, the pairs too
                self._found.clear()
            n = warm_peer_summaries(conn, max_age=self.refresh_after if due else None,
                                    found=self._found)
            conn.rollback()
        seconds = time.perf_counter() - started
        self._version = version
        if due:
            self._built = time.monotonic()
        self.status = WarmState("warm", n, round(seconds, 3), as_of)
        log.info("profile peer summaries warm: %s in %.2f s", n, seconds)
        return True


_warmers: dict[int, PeerWarmer] = {}


def start_warmer(engine: Engine, interval: float) -> PeerWarmer | None:
    """Start this process's warmer for ``engine`` (none when ``interval`` is 0)."""
    if interval <= 0:
        return None
    warmer = PeerWarmer(engine, interval)
    _warmers[id(engine)] = warmer
    warmer.start()
    return warmer


def stop_warmer(warmer: PeerWarmer | None) -> None:
    if warmer is None:
        return
    warmer.stop()
    if _warmers.get(id(warmer.engine)) is warmer:
        del _warmers[id(warmer.engine)]


def warm_status(engine: Engine) -> dict[str, Any]:
    """The warmer's state for ``engine`` in this process (``off`` when none runs), with the
    hits and misses of the peer summaries' cache (a profile that found every summary built
    adds hits only)."""
    warmer = _warmers.get(id(engine))
    out = warmer.status.as_dict() if warmer is not None else WarmState("off").as_dict()
    out["hits"], out["misses"] = cache_stats(engine, "peer_summary") or (0, 0)
    return out
