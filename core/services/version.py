"""The data version: a cheap fingerprint of what the read services can show, and small caches
keyed by it.

Every write that changes what a read returns goes through a load (values, organisations,
indicators: :mod:`etl.pipeline` records a ``loads`` row, finishes it in the same transaction
as the data, and marks reverts), a saved peer group, an annotation or an improvement action.
:func:`data_version` reads counters of those tables in one query of scalar sub-selects on small
tables (about 0.5 ms): a finished load, a revert, a new or deleted group, member, annotation or
action, or a changed action each change it. Each worker process reads it per request, so a load
or a revert made through any worker (or the CLI) invalidates every worker's caches on its next
request.

Writes that bypass these paths (hand-written SQL against the database) are not seen; the caches
also expire entries after a time-to-live (:data:`DEFAULT_TTL`) to bound that case.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.models import (
    Action,
    Annotation,
    Load,
    PeerGroup,
    PeerGroupMember,
    Rebase,
)

Conn = Session | Connection

#: seconds an entry of a versioned cache lives at most (bounds staleness after writes that
#: bypass loads, groups and annotations, e.g. hand-written SQL)
DEFAULT_TTL = 300.0


#: how many of :func:`data_version`'s leading fields are the loads' (:func:`load_version`)
LOAD_FIELDS = 4
#: seconds an entry of the profile's peer caches lives at most: they cost seconds to rebuild
#: at a thousand indicators, and change only with loads, which the version catches
PEER_TTL = 3600.0


def _version_select() -> Any:
    return select(
        # the loads' fields first (LOAD_FIELDS of them: load_version)
        select(func.count()).select_from(Load).scalar_subquery(),
        select(func.max(Load.id)).scalar_subquery(),
        select(func.count(Load.finished_at)).scalar_subquery(),
        select(func.count(Load.reverted_at)).scalar_subquery(),
        select(func.count()).select_from(PeerGroup).scalar_subquery(),
        select(func.max(PeerGroup.id)).scalar_subquery(),
        select(func.max(PeerGroup.created_at)).scalar_subquery(),
        select(func.count()).select_from(PeerGroupMember).scalar_subquery(),
        select(func.count()).select_from(Annotation).scalar_subquery(),
        select(func.max(Annotation.id)).scalar_subquery(),
        select(func.max(Annotation.created_at)).scalar_subquery(),
        # improvement actions are drawn on SPC charts (core.services.actions)
        select(func.count()).select_from(Action).scalar_subquery(),
        select(func.max(Action.updated_at)).scalar_subquery(),
        # accepted rebases change every SPC view (core.services.rebases): a new one, and a
        # withdrawal (the record stays)
        select(func.max(Rebase.id)).scalar_subquery(),
        select(func.count(Rebase.withdrawn_at)).scalar_subquery(),
    )


@lru_cache(maxsize=32)
def _version_sql(dialect: Any) -> str:
    # built and compiled once per dialect: building the sub-selects and executing them
    # through SQLAlchemy cost about 1 ms a request, the query itself about 0.2 ms
    return str(_version_select().compile(dialect=dialect))


def driver_rows(c: Connection, sql: str, bound: Any = None) -> list[tuple[Any, ...]]:
    """Every row of compiled ``sql`` (with ``bound`` parameters in the driver's paramstyle)
    on the driver's own cursor of ``c``, in its transaction: no SQLAlchemy result processing
    (binary results with psycopg, so numbers arrive without text parsing)."""
    driver = c.connection.driver_connection
    if c.dialect.driver == "psycopg":
        cur = driver.cursor(binary=True)  # type: ignore[union-attr]
    else:
        cur = driver.cursor()  # type: ignore[union-attr]
    try:
        if bound is None:
            cur.execute(sql)
        else:
            cur.execute(sql, bound)
        return cur.fetchall()
    finally:
        cur.close()


def data_version(conn: Conn) -> tuple[str, ...]:
    """A fingerprint of the data, changed by every finished load, revert, peer-group or
    annotation write (one query).

    * loads: count, max id, how many have finished (``finished_at`` is set in the same
      transaction as the data a load writes) and how many were reverted;
    * peer groups and annotations: count, max id and latest creation time (with SQLite's
      reuse of a deleted highest id, the creation time still differs);
    * peer group members: count.

    Values are compared, never parsed: they are the driver's values as text.
    """
    c = conn.connection() if isinstance(conn, Session) else conn
    if not c.in_transaction():
        c.begin()  # as executing through SQLAlchemy would (its autobegin)
    (row,) = driver_rows(c, _version_sql(c.dialect))
    return tuple(str(v) for v in row)


_TX_KEY = "qidash_data_version"


def current_version(conn: Conn) -> tuple[str, ...]:
    """:func:`data_version`, read once per transaction of ``conn`` (memoised in its ``info``
    with the transaction it was read in, so a new transaction reads it again)."""
    memo = conn.info.get(_TX_KEY)
    tx = conn.get_transaction()
    if memo is not None and tx is not None and memo[0] is tx:
        return memo[1]
    version = data_version(conn)
    conn.info[_TX_KEY] = (conn.get_transaction(), version)
    return version


def load_version(conn: Conn) -> tuple[str, ...]:
    """The loads' part of :func:`current_version` (count, max id, finished, reverted): what
    changes values, organisations and indicator definitions, and nothing else. Caches of
    what depends on those alone (the profile's national peer summaries) key on it, so that
    an annotation, an improvement action, a peer group or a rebase does not make the next
    profile rebuild a thousand indicators' summaries."""
    return current_version(conn)[:LOAD_FIELDS]


class VersionedLRU:
    """A thread-safe LRU cache whose entries belong to one data version.

    ``get(key, version)`` returns None unless the entry was stored under the same version
    and is younger than ``ttl`` seconds. Bounded by ``maxsize`` entries and, when given,
    ``maxbytes`` (the sum of the sizes passed to :meth:`put`), evicting least recently used
    entries first.
    """

    def __init__(self, maxsize: int, *, maxbytes: int | None = None,
                 ttl: float = DEFAULT_TTL) -> None:
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self.ttl = ttl
        self._data: OrderedDict[Hashable, tuple[tuple[str, ...], float, int, Any]] = (
            OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Sum of the sizes of the entries held."""
        return self._bytes

    def get(self, key: Hashable, version: tuple[str, ...], *, keep_stale: bool = False,
            max_age: float | None = None) -> Any:
        """The value stored for ``key`` under ``version``, or None. An entry of another
        version is dropped, unless ``keep_stale`` (for :meth:`peek`); ``max_age``: an entry
        older than that many seconds (sooner than the cache's ``ttl``) counts as expired."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            ver, stored, size, value = entry
            ttl = self.ttl if max_age is None else min(max_age, self.ttl)
            expired = time.monotonic() - stored > ttl
            if ver != version and keep_stale and not expired:
                self.misses += 1
                return None
            if ver != version or expired:
                del self._data[key]
                self._bytes -= size
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def peek(self, key: Hashable, *, max_age: float | None = None) -> Any:
        """The value stored for ``key`` under whatever version, if younger than ``ttl`` (or
        ``max_age``; None otherwise), for a caller that can tell whether it still holds
        under the current version (it then :meth:`put` s it again). Counts neither a hit nor
        a miss."""
        ttl = self.ttl if max_age is None else min(max_age, self.ttl)
        with self._lock:
            entry = self._data.get(key)
            if entry is None or time.monotonic() - entry[1] > ttl:
                return None
            return entry[3]

    def put(self, key: Hashable, version: tuple[str, ...], value: Any, size: int = 0) -> None:
        """Store ``value`` for ``key`` under ``version`` (``size`` counts toward maxbytes)."""
        if self.maxsize <= 0 or (self.maxbytes is not None and size > self.maxbytes):
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._data[key] = (version, time.monotonic(), size, value)
            self._bytes += size
            while len(self._data) > self.maxsize or (
                self.maxbytes is not None and self._bytes > self.maxbytes
            ):
                _, (_, _, s, _) = self._data.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()
            self._bytes = 0


_engine_caches: weakref.WeakKeyDictionary[Engine, dict[str, VersionedLRU]] = (
    weakref.WeakKeyDictionary()
)
_registry_lock = threading.Lock()


def _engine(conn: Conn) -> Engine:
    bind = conn.get_bind() if isinstance(conn, Session) else conn.engine
    return bind if isinstance(bind, Engine) else bind.engine


def engine_cache(conn: Conn, name: str, maxsize: int = 512,
                 maxbytes: int | None = None, ttl: float = DEFAULT_TTL) -> VersionedLRU:
    """The cache ``name`` of the database ``conn`` is bound to (one per engine, so that two
    databases with the same version never share entries; dropped with the engine); its
    bounds and time-to-live are set by the first call."""
    engine = _engine(conn)
    with _registry_lock:
        caches = _engine_caches.setdefault(engine, {})
        cache = caches.get(name)
        if cache is None:
            cache = caches[name] = VersionedLRU(maxsize, maxbytes=maxbytes, ttl=ttl)
        return cache


def cache_stats(engine: Engine, name: str) -> tuple[int, int] | None:
    """(hits, misses) of the cache ``name`` of ``engine`` in this process, if it was made."""
    with _registry_lock:
        cache = _engine_caches.get(engine, {}).get(name)
    return (cache.hits, cache.misses) if cache is not None else None


__all__ = [
    "DEFAULT_TTL",
    "LOAD_FIELDS",
    "PEER_TTL",
    "VersionedLRU",
    "cache_stats",
    "current_version",
    "data_version",
    "driver_rows",
    "engine_cache",
    "load_version",
]
