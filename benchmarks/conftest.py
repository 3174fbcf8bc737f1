"""Collect ``bench_*.py`` here, so ``pytest benchmarks`` runs the micro-benchmarks.

The project's ``testpaths`` is ``tests``, so a plain ``pytest`` never runs
them; the benchmark files are not named ``test_*.py`` for the same reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# ``pytest benchmarks`` puts only this directory on sys.path; the benchmarks also
# import the test suite's helpers (``tests.support.twins``) from the repository root
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)  # named on the command line: collected already
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
