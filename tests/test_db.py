"""The db workload against a real PostgreSQL: the embedded server the sweep starts, and one given by --db-url.

One sweep (per-thread connections and psycopg_pool's default pool of 4, N = 1, 4, 8, d = 0.05 s) serves
the checks on speedup, pool waits and the pool's knee; the external-server checks point --db-url at an
embedded server this module starts itself, with a password in the URL (trust authentication accepts it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from iobench.analysis.stats import PointStats, analyze
from iobench.cli import main
from iobench.errors import ServerError, UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.postgres import EmbeddedPostgres, check_connections, create_tables, drop_tables
from iobench.measure.sweep import run_sweep
from iobench.measure.workloads import make_workload
from iobench.present.report import render_markdown
from iobench.results import ResultsWriter, load_results
from iobench.results.model import Results

SECRET = "s3cretpw"
DELAY = 0.05


def _points(results: Results, strategy: str) -> dict[int, PointStats]:
    [stats] = [s for s in analyze(results) if not s.is_baseline and s.series.session_strategy == strategy]
    return {point.workers: point for point in stats.points}


@pytest.fixture(scope="module")
def db_sweep(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Per-thread connections and a pool of 4 on the embedded server, N = 1, 4, 8: about 10 s."""
    strategies = ("per-thread", "shared-default")
    series = tuple(SeriesSpec("db", {"delay": DELAY}, "threads", strategy) for strategy in strategies)
    config = SweepConfig(series=series, workers=(1, 4, 8), rounds=3, waves=4)
    return run_sweep(config, ResultsWriter(tmp_path_factory.mktemp("db") / "db.json"))


@pytest.fixture(scope="module")
def database() -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(max_connections=8) as server:
        yield server


def test_threads_multiply_the_throughput_of_database_queries(db_sweep: Results) -> None:
    assert db_sweep.status == "complete"
    assert db_sweep.database is not None and db_sweep.database.kind == "embedded-postgresql"
    assert db_sweep.database.version and db_sweep.database.startup_seconds > 0
    eight = _points(db_sweep, "per-thread")[8]
    assert eight.errors == 0
    assert eight.speedup.value >= 3, f"8 threads ran queries only {eight.speedup.value:.1f}x faster"
    assert eight.connections_opened == 8  # one connection per thread, counted as each opened


def test_a_pool_smaller_than_the_threads_queues_them_and_caps_throughput(db_sweep: Results) -> None:
    pooled = _points(db_sweep, "shared-default")
    assert pooled[8].connections_opened == 4  # psycopg_pool's default size
    assert pooled[8].pool_wait_per_task is not None and pooled[8].pool_wait_per_task > DELAY / 4
    assert pooled[4].pool_wait_per_task is not None and pooled[4].pool_wait_per_task < pooled[8].pool_wait_per_task
    growth = pooled[8].throughput.value / pooled[4].throughput.value
    assert growth < 1.3, f"past the pool's 4 connections throughput still grew {growth:.2f}x from N = 4 to 8"
    unpooled = _points(db_sweep, "per-thread")
    assert unpooled[8].throughput.value > 1.5 * pooled[8].throughput.value
    assert all(point.pool_wait_per_task is None for point in unpooled.values())


def test_the_servers_cpu_is_read_while_the_batch_clock_runs(db_sweep: Results) -> None:
    # The client waits at each end of its clock while the harness reads PostgreSQL's CPU. Read after the
    # batch closed its connections instead, backends exiting during the reading went missing from it: a
    # batch's server CPU came out negative.
    [series] = [s for s in db_sweep.series if s.executor == "threads" and s.session_strategy == "per-thread"]
    [eight] = [point for point in series.points if point.workers == 8]
    per_query = [sample.server_cpu_seconds / eight.tasks for sample in eight.rounds]  # type: ignore[operator]
    assert all(0 < cpu < 0.002 for cpu in per_query), per_query


def test_the_report_names_the_pool_as_the_bottleneck(db_sweep: Results) -> None:
    report = render_markdown(db_sweep)
    assert "pool wait ms/task" in report
    assert "for a free pooled connection at N = 8" in report


def test_a_lookup_and_write_task_runs_on_tables_the_sweep_creates(tmp_path: Path) -> None:
    spec = SeriesSpec("db", {"mode": "lookup-write", "round_trip": 0.01}, "threads")
    results = run_sweep(SweepConfig(series=(spec,), workers=(1, 4), rounds=1, waves=2),
                        ResultsWriter(tmp_path / "r.json"))  # fmt: skip
    assert results.status == "complete"
    for series in results.series:
        for point in series.points:
            assert all(sample.errors == {} for sample in point.rounds), series.label


def test_tables_live_in_a_schema_of_their_own_that_is_dropped(database: EmbeddedPostgres) -> None:
    schema, conninfo = create_tables(database)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM iobench_items").fetchone() == (10_000,)
    drop_tables(database, schema)
    with psycopg.connect(database.conninfo) as connection:
        found = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    assert found is None


def test_the_preflight_refuses_more_connections_than_the_server_holds(database: EmbeddedPostgres) -> None:
    with pytest.raises(ServerError, match=r"cannot hold 500 connections: max_connections = 100") as caught:
        check_connections(database, 500)
    assert "\n" not in str(caught.value)


def test_an_external_servers_password_never_reaches_the_results_or_the_output(
    database: EmbeddedPostgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    socket = psycopg.conninfo.conninfo_to_dict(database.conninfo)["host"]
    url = f"postgresql://postgres:{SECRET}@/postgres?host={socket}"
    out = tmp_path / "external.json"
    code = main(["run", "--config", str(_db_sweep_file(tmp_path)), "--db-url", url, "--workers", "1,2", "--rounds",
                 "1", "--out", str(out), "--plots", ""])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert SECRET not in out.read_text() and SECRET not in captured.out + captured.err
    results = load_results(out)
    assert results.database is not None and results.database.kind == "external-postgresql"
    assert results.config["db_url"] == "postgresql:///postgres"
    assert results.series[1].points[0].rounds[0].errors == {}


def _db_sweep_file(folder: Path) -> Path:
    path = folder / "db.toml"
    path.write_text(f'[[series]]\nworkload = "db"\nparams = {{ delay = {DELAY} }}\n')
    return path


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://bob:{SECRET}@127.0.0.1:1/nodb"
    code = main(["run", "--config", str(_db_sweep_file(tmp_path)), "--db-url", url, "--workers", "1,2", "--rounds",
                 "1", "--out", str(tmp_path / "bad.json"), "--plots", ""])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and SECRET not in err
    assert "cannot connect to the database at postgresql://127.0.0.1:1/nodb" in err


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"mode": "sleep", "round_trip": 0.1}, "round_trip applies only"),
        ({"mode": "lookup-write", "delay": 0.1}, "delay applies only"),
        ({"mode": "scan"}, "mode must be one of"),
        ({"delay": -1}, "delay must be from 0"),
        ({"delay": 0.1, "rows": 5}, "rows is not a parameter of db"),
    ],
)
def test_bad_db_parameters_are_refused_before_anything_starts(params: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        make_workload("db", params)


@pytest.mark.parametrize(
    ("executor", "strategy", "words"),
    [("processes", None, "without HTTP or a database"), ("asyncio", None, "runs only http-delay")],
)
def test_executors_that_cannot_run_db_work_say_so(executor: str, strategy: str | None, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        SeriesSpec("db", {"delay": DELAY}, executor, strategy)


@pytest.mark.parametrize("url", ["mysql://db/x", "http://db/x", "postgresql://db:port/x"])
def test_a_db_url_that_is_not_postgresql_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(UsageError, match="--db-url") as caught:
        SweepConfig(series=(SeriesSpec("db", {"delay": DELAY}),), db_url=url)
    assert "db/x" not in str(caught.value)
