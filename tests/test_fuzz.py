"""Generated bad input: the sweep-configuration parser and the results loader let nothing but UsageError out.

The generators stay close to the real shapes (right field names, plausible and implausible values) so
that most inputs get past the first check and exercise the deep ones, not just ``isinstance(dict)``.
What is accepted must also be usable: a configuration round-trips, a results file can be analysed and
reported. Run with ``--hypothesis-show-statistics`` to see how many inputs each property tried.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iobench.analysis.stats import analyze
from iobench.errors import UsageError
from iobench.measure.config import MAX_WORKERS, SweepConfig
from iobench.present.plots import caption
from iobench.present.report import render_markdown
from iobench.results import load_results

from .conftest import synthetic_results

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Any JSON-like value, NaN and infinities included.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: Values chosen to sit on type and range edges.
TRICKY = st.sampled_from([None, True, 0, -1, 1, 1025, 0.0, -0.5, 1e308, 10**400, "", "1", [], {}, [1], {"a": 1}])


#: Per field, values near its edges: right type, wrong range; near-miss names; malformed URLs.
EDGES: dict[str, st.SearchStrategy[Any]] = {
    "workload": st.sampled_from(["http-delay", "cpu", "HTTP-DELAY", ""]),
    "params": st.dictionaries(st.sampled_from(["delay", "dealy", "size"]), st.floats() | TRICKY, max_size=2),
    "executor": st.sampled_from(["threads", "sequential", "processes", "Threads"]),
    "series": st.lists(st.dictionaries(st.sampled_from(["workload", "params", "executor", "x"]), TRICKY), max_size=2),
    "workers": st.lists(st.integers(-2, MAX_WORKERS + 2) | st.floats(), max_size=4),
    "rounds": st.integers(-1, 3),
    "waves": st.integers(-1, 3),
    "warmup_rounds": st.integers(-2, 2),
    "seed": st.integers(-(2**70), 2**70),
    "target": st.sampled_from(["http://127.0.0.1:8000", "https://u:p@h.example/x", "ftp://h", "http://[::1",
                               "http://h:99999", "http://h/?q=1", "http://h/#f", "http://", "127.0.0.1:80"]),
    "timeout": st.floats() | st.integers(-1, 100),
}  # fmt: skip
SERIES_FIELDS = ("workload", "params", "executor")
CONFIG_FIELDS = ("series", "workers", "rounds", "waves", "warmup_rounds", "seed", "target", "timeout")


@st.composite
def configs(draw: st.DrawFn) -> Any:
    """A valid configuration with up to three fields deleted, replaced or added, at the top or in a series."""
    series = draw(st.lists(st.fixed_dictionaries({
        "workload": st.just("http-delay"),
        "params": st.fixed_dictionaries({"delay": st.floats(0, 10)}),
        "executor": st.sampled_from(["threads", "sequential"]),
    }), min_size=1, max_size=2))  # fmt: skip
    config: dict[str, Any] = {
        "series": series,
        "workers": draw(st.lists(st.integers(1, 64), min_size=1, max_size=3, unique=True)),
        "rounds": draw(st.integers(1, 5)),
        "timeout": draw(st.floats(0.1, 60)),
    }
    for _ in range(draw(st.integers(0, 3))):
        container, fields = draw(st.sampled_from([(config, CONFIG_FIELDS), *((s, SERIES_FIELDS) for s in series)]))
        field = draw(st.sampled_from([*fields, "surplus"]))
        if field in container and draw(st.booleans()):
            del container[field]
        else:
            container[field] = draw(EDGES.get(field, TRICKY) | TRICKY | JSON)
    return config


@settings(FUZZ, max_examples=400)
@given(data=configs() | JSON)
def test_the_config_parser_raises_only_usage_errors(data: Any) -> None:
    try:
        config = SweepConfig.from_dict(data)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert config.series and all(1 <= n <= MAX_WORKERS for n in config.workers)
    assert 0 < config.timeout < math.inf and config.rounds >= 1 and config.waves >= 1
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# --- results files ----------------------------------------------------------------------------------

BASE = synthetic_results(workers=(1, 2, 4), rounds=2).to_json()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "results.json"


def _load_and_present(path: Path) -> None:
    """The property: a one-line UsageError, or a document every presenter can use."""
    try:
        results = load_results(path)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    analyze(results)
    render_markdown(results)
    caption(results)


def _locations(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a JSON document, so a mutation can hit any field at any depth."""
    found: list[tuple[Any, Any]] = []
    keys = node.keys() if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
    for key in keys:
        found.append((node, key))
        found += _locations(node[key])
    return found


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_the_results_loader_survives_mutated_documents(scratch: Path, data: st.DataObject) -> None:
    document = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        locations = _locations(document)
        if not locations:
            break
        container, key = data.draw(st.sampled_from(locations), label="where")
        if data.draw(st.booleans(), label="delete"):
            del container[key]
        else:
            container[key] = data.draw(TRICKY | JSON, label="new value")
    scratch.write_text(json.dumps(document))
    _load_and_present(scratch)


@settings(FUZZ, max_examples=150)
@given(cut=st.integers(0, len(json.dumps(BASE))), noise=st.text(max_size=3))
def test_the_results_loader_survives_truncated_and_garbled_text(scratch: Path, cut: int, noise: str) -> None:
    text = json.dumps(BASE)
    scratch.write_text(text[:cut] + noise + text[cut + len(noise) :] if noise else text[:cut])
    _load_and_present(scratch)


@settings(FUZZ, max_examples=150)
@given(content=st.binary(max_size=200))
def test_the_results_loader_survives_arbitrary_bytes(scratch: Path, content: bytes) -> None:
    scratch.write_bytes(content)
    _load_and_present(scratch)
