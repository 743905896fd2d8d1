"""Helpers shared by the benchmark scripts: logging, atomic result files, machine facts,
scratch databases."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

import alembic
import sqlalchemy as sa
from sqlalchemy.engine import URL

import shopmig
from shopmig.db import parse_url


def log(message: str) -> None:
    """Progress on stderr (stdout carries the results table)."""
    print(message, file=sys.stderr, flush=True)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, so a result file is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def server_version(url: URL) -> str:
    """The server's own version string."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SHOW server_version" if url.get_backend_name() == "postgresql" else (
                "SELECT VERSION()"
            )
            return str(conn.exec_driver_sql(query).scalar_one())
    finally:
        engine.dispose()


def server_cache(url: URL) -> str:
    """How much of the tables the server itself keeps in memory: PostgreSQL's
    ``shared_buffers`` (the OS page cache comes on top), MariaDB's InnoDB buffer pool."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                return f"shared_buffers {conn.exec_driver_sql('SHOW shared_buffers').scalar_one()}"
            size = conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one()
            return f"innodb_buffer_pool_size {int(size) // 2**20} MB"
    finally:
        engine.dispose()


def machine_info(servers: dict[str, URL], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cores, platform, library and server versions, for the results file."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
        "alembic": alembic.__version__,
        "shopmig": shopmig.__version__,
        **(extra or {}),
    }
    for backend, url in servers.items():
        info[backend] = server_version(url)
        info[f"{backend}_cache"] = server_cache(url)
    return info


class Scratch:
    """A benchmark's own databases on one backend, named ``<prefix>_<name>`` (SQLite: files in
    ``folder``), dropped first if an earlier run left them and all dropped by :meth:`drop_all`."""

    def __init__(self, backend: str, server_url: URL | None, folder: Path, prefix: str) -> None:
        self.backend, self.server_url, self.folder, self.prefix = (
            backend, server_url, folder, prefix)
        self.created: list[URL] = []

    def url(self, name: str, backend: str | None = None) -> URL:
        """Where scratch database ``name`` lives, on this backend or on ``backend``."""
        database = f"{self.prefix}_{name}"
        if (backend or self.backend) == "sqlite":
            return parse_url(f"sqlite:///{self.folder / database}.db")
        assert self.server_url is not None
        return self.server_url.set(database=database)

    def fresh(self, name: str, backend: str | None = None) -> URL:
        """The URL of scratch database ``name``, dropped first if an earlier run left it."""
        url = self.url(name, backend)
        shopmig.drop_database(url)
        self.created.append(url)
        return url

    def drop(self, url: URL) -> None:
        shopmig.drop_database(url)
        if url in self.created:
            self.created.remove(url)

    def drop_all(self) -> None:
        for url in reversed(self.created):
            with contextlib.suppress(Exception):
                shopmig.drop_database(url)
        self.created.clear()
