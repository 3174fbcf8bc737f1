"""Collect ``bench_*.py`` here, so ``pytest benchmarks`` runs the micro-benchmarks.

The project's ``testpaths`` is ``tests``, so a plain ``pytest`` never runs
them; the benchmark files are not named ``test_*.py`` for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)  # named on the command line: collected already
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
