"""The soak command's short mode: three servers under churn, then every table back to empty.

Runs ``benchmarks/soak.py --short`` (about 40 s per flavour) as CI would;
its own pass criterion (tables back to their baseline after the load, caches
within their limits, RSS flat between mid-load and end, the load really
exercised timeouts, remote callbacks and remote disconnects) decides.
Marked ``soak``: deselect with ``-m "not soak"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


@pytest.mark.soak
@pytest.mark.timeout(150)
@pytest.mark.parametrize("flavour", ["classic", "sharded"])
def test_short_soak_leaves_every_table_as_it_found_it(flavour: str, tmp_path: Path) -> None:
    figures = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--short", "--flavour", flavour, "--json", str(figures)],
        capture_output=True, text=True, timeout=140,
    )
    assert run.returncode == 0, f"soak failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    result = json.loads(figures.read_text())
    assert result["failures"] == []
    baseline, after = result["samples"]["baseline"], result["samples"]["after"]
    for before, later in zip(baseline, after, strict=True):
        # the state the load filled is empty again (the criterion checks every table)
        for name in ("sockets", "rooms", "callbacks", "pending_requests", "pending_acks",
                     "delivery_records", "background_tasks"):
            assert later["tables"][name] == before["tables"][name] == 0, name
    under_load = result["samples"]["mid"]
    assert sum(sample["tables"]["sockets"] for sample in under_load) > 0
