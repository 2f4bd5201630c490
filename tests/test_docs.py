"""`iobench docs`: the README's figures and tables come from committed results, and stay true."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from iobench.cli import command_help, main
from iobench.errors import UsageError
from iobench.present.claims import cpu_bound, oversized_pool, ten_requests
from iobench.present.docs import INPUTS, README, DocsInputs, regenerate, render_readme

from .conftest import edit_rounds, synthetic_results

ROOT = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_every_figure_the_readme_links_exists() -> None:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / README).read_text())
    assert any(link.startswith("plots/") for link in links), "the README shows no figure"
    for link in links:
        assert (ROOT / link).is_file(), f"README links {link}, which does not exist"


def test_the_committed_readme_is_what_docs_generates() -> None:
    """Run `iobench docs` and commit when this fails: the README must say what its results files say."""
    text = (ROOT / README).read_text()
    assert render_readme(text, DocsInputs(ROOT, command_help())) == text


def test_docs_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    shutil.copy(ROOT / README, tmp_path / README)
    shutil.copytree(ROOT / "results", tmp_path / "results", ignore=shutil.ignore_patterns("iobench-*"))
    regenerate(tmp_path, command_help())
    first = _snapshot(tmp_path)
    regenerate(tmp_path, command_help())
    assert _snapshot(tmp_path) == first
    drawn = [name for name in first if name.startswith("plots/docs/")]
    assert {"plots/docs/speedup.png", "plots/docs/speedup.svg"} <= set(drawn)


def test_a_missing_input_becomes_a_todo_naming_its_command(tmp_path: Path) -> None:
    (tmp_path / README).write_text("<!-- iobench:docs:verdict -->\nold\n<!-- /iobench:docs:verdict -->\n"
                                   "<!-- iobench:docs:claims -->\n<!-- /iobench:docs:claims -->\n")  # fmt: skip
    done = regenerate(tmp_path, command_help())
    text = (tmp_path / README).read_text()
    assert "old" not in text and "**TODO**" in text
    assert INPUTS["threads"].command in text and INPUTS["ten-requests"].command in text
    assert any(line.startswith("missing results/docs-threads.json") for line in done)
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize(
    ("readme", "message"),
    [
        ("<!-- iobench:docs:no-such-region -->\n<!-- /iobench:docs:no-such-region -->\n", "does not generate"),
        ("<!-- iobench:docs:verdict -->\nnever closed\n", "no closing"),
    ],
)
def test_bad_regions_are_one_line_usage_errors(tmp_path: Path, readme: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_readme(readme, DocsInputs(tmp_path))


def test_docs_outside_a_checkout_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "--root", str(tmp_path)]) == 2
    assert "README.md: not found" in capsys.readouterr().err


def test_ten_one_second_requests_on_ten_threads_take_about_a_second() -> None:
    measured, verdict = ten_requests(synthetic_results(delay=1.0, workers=(10,), waves=1, overhead=0.01))
    assert verdict == "holds" and "10 requests on 10 threads: **1.01 s**" in measured

    slow, verdict = ten_requests(synthetic_results(delay=1.0, workers=(10,), waves=1, overhead=0.5))
    assert verdict == "slower than claimed", slow


@pytest.mark.parametrize(
    ("loss", "verdict"),
    [(0.0, "no loss seen up to N = 128"), (0.05, "a small loss here (5% at N = 128)"), (0.2, "holds")],
)
def test_the_oversized_pool_claim_names_the_loss_at_the_largest_pool(loss: float, verdict: str) -> None:
    # 3 ms of client CPU per task caps throughput at 333/s from N = 64 on (100 ms waits): the largest
    # pool would run at that peak but for the loss planted in its rounds.
    results = synthetic_results(workers=(1, 4, 16, 64, 128), client_cpu=0.003, noise=0.0)
    slower = 1 / (1 - loss)
    edit_rounds(results, lambda point, sample: {"steady_seconds": sample.steady_seconds * slower}
                if point.workers == 128 else {}, series=1)  # fmt: skip
    measured, said = oversized_pool(results)
    assert said == verdict and f"{loss:.0%} below the peak" in measured


def test_cpu_bound_claim_reads_the_speedup() -> None:
    # Every batch costs M x 10 ms of client CPU whatever N is: threads buy nothing.
    results = synthetic_results(delay=0.0, workers=(1, 2, 4), client_cpu=0.01, noise=0.0)
    measured, verdict = cpu_bound(results)
    assert verdict == "no gain, little loss" and "1.00× at N = 4" in measured


def test_an_auto_run_as_the_default_input_gives_the_verdict_with_its_interval(tmp_path: Path) -> None:
    """The lead measures results/docs-default.json with plain `iobench run` (an auto search) after merging."""
    from .test_search import knee_at_48, simulate

    shutil.copytree(ROOT / "results", tmp_path / "results", ignore=shutil.ignore_patterns("iobench-*"))
    auto = simulate(knee_at_48, seed=0).results
    (tmp_path / INPUTS["default"].path).write_text(json.dumps(auto.to_json()))
    text = render_readme((ROOT / README).read_text(), DocsInputs(tmp_path, command_help()))
    verdict = text.split("<!-- iobench:docs:verdict -->")[1].split("<!-- /iobench:docs:verdict -->")[0]
    assert re.search(r"beyond about N = \d+ \(95 % CI \d+–\d+\) more threads stopped helping", verdict), verdict
    assert "where the demands measured before the sweep predicted N ≈ 4" in verdict
    saturation = text.split("<!-- iobench:docs:saturation -->")[1]
    assert "Search (--workers auto)" in saturation and "Recommendation: N = " in saturation
    assert render_readme(text, DocsInputs(tmp_path, command_help())) == text, "a second run changes nothing"
