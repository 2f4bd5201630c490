"""Executors and HTTP session strategies against the real server, and the combinations they refuse."""

from __future__ import annotations

import pytest

from iobench.errors import UsageError
from iobench.measure.executors import executor_named, run_batch, steady_cpu_seconds
from iobench.measure.server import LocalServer
from iobench.measure.workloads import make_workload

from . import user_tasks


@pytest.fixture
def probe() -> user_tasks.ConcurrencyProbe:
    user_tasks.probe.reset()
    return user_tasks.probe


@pytest.mark.parametrize("executor", ["threads", "threads-map", "thread-per-task"])
def test_thread_executors_run_every_task_with_at_most_n_at_once(
    executor: str, probe: user_tasks.ConcurrencyProbe
) -> None:
    sample = run_batch(make_workload("task", {"function": "tests.user_tasks:probe"}), executor, 4, 16, None)
    assert sample.errors == {} and len(sample.latencies) == 16
    assert sorted(probe.indexes) == list(range(16))
    assert 2 <= probe.peak <= 4
    if executor == "thread-per-task":
        assert len(probe.threads) == 16, "a new thread for every task"
    else:
        assert len(probe.threads) <= 4


def test_asyncio_keeps_n_requests_in_flight_on_n_connections(httpbin_server: LocalServer) -> None:
    sample = run_batch(make_workload("http-delay", {"delay": 0.05}), "asyncio", 8, 16, httpbin_server.url)
    assert sample.errors == {} and len(sample.latencies) == 16
    assert 1 <= sample.connections_opened <= 8
    assert sample.wall_seconds < 16 * 0.05 / 2, "requests overlapped"


def test_the_steady_window_opens_at_the_nth_start_by_the_wall_clock() -> None:
    starts = [(3.0, 0.30), (1.0, 0.10), (2.0, 0.12), (4.0, 0.50)]  # (wall clock, CPU clock), as threads append them
    assert steady_cpu_seconds(starts, 2) == pytest.approx(0.50 - 0.12)
    assert steady_cpu_seconds(starts, 4) is None, "one wave: the pool is never full with tasks waiting"


def test_a_thread_pool_records_its_cpu_while_the_pool_was_full(httpbin_server: LocalServer) -> None:
    sample = run_batch(make_workload("http-delay", {"delay": 0.05}), "threads", 8, 64, httpbin_server.url)
    assert sample.steady_seconds is not None and sample.steady_cpu_seconds is not None
    per_request = sample.steady_cpu_seconds / (64 - 8)
    # The window leaves out starting 8 threads, their sessions and connections, so a request there costs no
    # more than a task of the whole batch; the batch's CPU over the window's 56 tasks would be 64/56 of it.
    assert 0 < per_request < 1.1 * sample.cpu_seconds / 64


def test_tasks_in_worker_processes_have_no_steady_cpu_of_the_client() -> None:
    sample = run_batch(make_workload("cpu", {"cpu": 0.002}), "processes", 2, 8, None)
    assert sample.errors == {} and sample.steady_seconds is not None and sample.steady_cpu_seconds is None


def test_connections_a_users_task_opens_itself_are_counted(httpbin_server: LocalServer) -> None:
    # A task that makes a new requests.Session for every request, not using the executor's: 8 connections.
    task = make_workload("task", {"function": "tests.user_tasks:new_session_each_time"})
    sample = run_batch(task, "threads", 4, 8, httpbin_server.url)
    assert sample.errors == {} and sample.connections_opened == 8
    reused = run_batch(
        make_workload("task", {"function": "tests.user_tasks:fetch_get"}), "threads", 4, 8, httpbin_server.url
    )
    assert reused.errors == {} and reused.connections_opened <= 4, "the executor's per-thread Sessions keep theirs"


def test_failures_are_counted_by_kind_not_raised() -> None:
    sample = run_batch(make_workload("task", {"function": "tests.user_tasks:always_fails"}), "threads", 2, 4, None)
    assert sample.errors == {"ConnectionError": 4}


def test_session_strategies_at_32_workers(httpbin_server: LocalServer) -> None:
    """Per-thread and sized pools keep every connection; requests' default pool of 10 cannot.

    At the end of each burst all 32 threads hand their connection back and urllib3 discards all but
    10 of them. Per-request opens one connection per task.
    """
    workload = make_workload("http-delay", {"delay": 0.05})
    samples = {strategy: run_batch(workload, "threads", 32, 64, httpbin_server.url, session_strategy=strategy)
               for strategy in ("per-thread", "shared-sized", "shared-default", "per-request")}  # fmt: skip
    assert all(sample.errors == {} for sample in samples.values())
    assert samples["per-thread"].pool_full_discards == samples["shared-sized"].pool_full_discards == 0
    assert samples["per-thread"].connections_opened <= 32
    trap = samples["shared-default"]
    assert trap.pool_full_discards >= 16 and trap.connections_opened > 10, trap
    assert samples["per-request"].connections_opened == 64


@pytest.mark.parametrize(
    ("workload", "params", "executor", "strategy", "words"),
    [
        ("cpu", {"cpu": 0.01}, "asyncio", "none", "asyncio"),
        ("task", {"function": "tests.user_tasks:fetch_get"}, "asyncio", "shared-sized", "synchronous"),
        ("http-delay", {"delay": 0.1}, "processes", "per-thread", "processes"),
        ("http-delay", {"delay": 0.1}, "asyncio", "per-thread", "session_strategy"),
        ("http-delay", {"delay": 0.1}, "threads", "pooled", "session_strategy"),
        ("cpu", {"cpu": 0.01}, "threads", "per-thread", "no HTTP"),
        ("cpu", {"cpu": 0.01}, "fibers", "none", "unknown executor"),
    ],
)
def test_impossible_combinations_are_refused_up_front(
    workload: str, params: dict, executor: str, strategy: str, words: str
) -> None:
    with pytest.raises(UsageError, match=words):
        executor_named(executor).check(make_workload(workload, params), strategy)
