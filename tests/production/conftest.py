"""Fixtures for the production-readiness tests (faults, fuzzing, outages, security): databases
prepared once and cloned per trial, a TCP proxy that can be cut, a server that never answers.

The plain helpers these tests share with ``bench/bench_faults.py`` (the real base data and
generated national values, the :func:`~tests.production.faults.data_state` atomicity oracle,
loaders in child processes) are in :mod:`tests.production.faults`."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from core.db import make_engine


# databases that can be cloned cheaply --------------------------------------------------------
@dataclass
class Clonable:
    """A database prepared once, copied for each trial (PostgreSQL TEMPLATE, SQLite file copy)."""

    url: str
    backend: str
    factory: Any

    def clone(self) -> str:
        """A new database holding exactly what this one holds; drop it with ``drop``."""
        import shutil
        import uuid

        if self.backend == "sqlite":
            src = make_url(self.url).database or ""
            dst = f"{src}.{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(src, dst)
            return f"sqlite:///{dst}"
        name = make_url(self.url).database
        new = f"{name}_c{uuid.uuid4().hex[:8]}"
        with self.factory._admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{new}" TEMPLATE "{name}"'))
        self.factory._created_pg.append(new)
        return make_url(self.url).set(database=new).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        self.factory.drop(url)


@pytest.fixture
def clonable(database_factory: Any, module_database: Callable[[str], str],
             backend: str) -> Iterator[Callable[[Callable[[Engine], None]], Clonable]]:
    """``clonable(prepare)`` -> a :class:`Clonable` database prepared by ``prepare(engine)``."""
    made: list[str] = []

    def make(prepare: Callable[[Engine], None]) -> Clonable:
        url = module_database(backend)
        made.append(url)
        engine = make_engine(url)
        try:
            prepare(engine)
        finally:
            engine.dispose()
        return Clonable(url, backend, database_factory)

    yield make
    for url in made:
        database_factory.drop(url)



# a TCP proxy we can cut: the database "goes away" and comes back -----------------------------
class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to the PostgreSQL server; ``cut()`` drops every connection and
    refuses new ones, ``restore()`` accepts again. Runs in daemon threads."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # the "database" refuses: the connection closes at once
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        socks = [a, b]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 1.0)
                if self._stop:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            # cut() closes the sockets under this thread: select then sees a closed socket
            # (OSError) or its descriptor already -1 (ValueError); either way the pair is gone
            return
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every proxied connection and refuse new ones."""
        self.up = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def close(self) -> None:
        self._stop = True
        self.cut()
        self.listener.close()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: a database host
    that is up but hung (or a firewall that swallows the handshake)."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(conn)  # kept open, never read from or written to

    def close(self) -> None:
        self.listener.close()
        for c in self._held:
            c.close()
