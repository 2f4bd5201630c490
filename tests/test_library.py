"""The README's library snippet runs as printed: a sweep, its analysis and its plots, without argv."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _library_snippet() -> str:
    section = (ROOT / "README.md").read_text().split("## Library", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's Library section has no Python snippet"
    return found.group(1)


def test_the_readme_library_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_library_snippet(), "README.md", "exec"), {"__name__": "readme"})
    lines = printed.getvalue().splitlines()
    threads = next(line for line in lines if line.startswith("http-delay(delay=0.05) / threads:"))
    speedup = float(re.search(r"speedup ([0-9.]+)x", threads).group(1))  # type: ignore[union-attr]
    assert speedup > 2, f"16 threads should beat one request at a time by far: {threads}"
    assert len(list((tmp_path / "results").glob("iobench-*.json"))) == 1
    assert {path.name for path in (tmp_path / "plots").iterdir()} >= {"speedup.png", "speedup.svg"}
