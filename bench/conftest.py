"""Fixtures of the pytest-benchmark suite: one real local server for the whole session.

The suite lives outside ``tests/`` (plain ``pytest`` does not collect it) because it measures rather than
checks: run it with ``pytest bench/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iobench.measure.server import LocalServer

#: Enough concurrent requests for the largest pool any benchmark here uses.
SERVER_CAPACITY = 64


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """Started once (about a second): every benchmark talks to the same gunicorn, as a sweep does."""
    with LocalServer(max_concurrency=SERVER_CAPACITY) as local:
        yield local
