"""The servers a sweep's workloads need, started before its first batch and stopped after its last.

HTTP workloads need an httpbin (the local one, or ``--target``); db workloads a PostgreSQL (the embedded
one, or ``--db-url``); cpu, hybrid and file-io need neither, and a sweep starts only what its series use.
Every batch is watched against all of them (any failure ends the sweep, see ``iobench.measure.health``)
and is charged the CPU of the server its own workload talks to. psycopg and the PostgreSQL machinery are
imported only by a sweep that has db series.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from iobench.measure.config import SweepConfig
from iobench.measure.server import Server
from iobench.measure.workloads import Db, Workload
from iobench.results.model import Results

if TYPE_CHECKING:
    from iobench.measure.postgres import Database


class Services:
    """The HTTP server (possibly none) and the database (possibly none) of one sweep, as one context manager.

    ``owns_http`` is False when the caller passed a running HTTP server in: then it is neither started
    nor stopped here. Stopping always tries both, whatever the first one raised.
    """

    def __init__(self, config: SweepConfig, http: Server, owns_http: bool = True) -> None:
        self.http = http
        self.owns_http = owns_http
        self.database: Database | None = _database_for(config)
        self._schema: str | None = None
        self._conninfo: str | None = None

    def __enter__(self) -> Services:
        try:
            if self.owns_http:
                self.http.__enter__()
            if self.database is not None:
                self.database.__enter__()
                self._conninfo = self.database.conninfo
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.database is not None:
                try:
                    if self._schema is not None:
                        from iobench.measure.postgres import drop_tables

                        drop_tables(self.database, self._schema)
                finally:
                    self.database.__exit__(None, None, None)
        finally:
            if self.owns_http:
                self.http.__exit__(None, None, None)

    def problem(self) -> str | None:
        """The first reason one of the servers cannot serve, or None while all of them can."""
        return self.http.problem() or (self.database.problem() if self.database is not None else None)

    def prepare_database(self, config: SweepConfig, workloads: list[Workload], results: Results) -> None:
        """The database's capacity preflight, its tables when a series needs them, and its record in ``results``."""
        if self.database is None:
            return
        from iobench.measure.postgres import check_connections, create_tables

        check_connections(self.database, config.max_database_workers)
        if any(isinstance(workload, Db) and workload.needs_tables for workload in workloads):
            self._schema, self._conninfo = create_tables(self.database)
        results.database = self.database.describe()

    def batch_arguments(self, workload: Workload) -> dict[str, Any]:
        """Where a batch of ``workload`` finds its servers: the HTTP target, the database's connection string."""
        return {"target": self.http.url, "database": self._conninfo if workload.uses_database else None}

    def cpu_seconds(self, workload: Workload) -> float | None:
        """The CPU so far of the server ``workload`` talks to; None where it is not visible or there is none."""
        if workload.uses_database:
            return self.database.cpu_seconds() if self.database is not None else None
        return self.http.cpu_seconds()


def _database_for(config: SweepConfig) -> Database | None:
    """The external database if given, else an embedded one with room for the largest pool; none without db work."""
    if not config.uses_database:
        return None
    from iobench.measure.postgres import EmbeddedPostgres, ExternalPostgres

    if config.db_url:
        return ExternalPostgres(config.db_url)
    return EmbeddedPostgres(max_connections=config.max_database_workers)
