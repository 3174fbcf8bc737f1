"""What importing the package says when its compiled core is missing.

Each test imports the package in a child interpreter whose import system refuses
``socketio_redis_adapter._fastpath`` (as a compiled module built for another
interpreter fails), with the package's two switches set as the test says and nothing else of
this process' environment's switches: one ``RuntimeWarning`` naming the package,
the reason and both variables; ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1``
silences it; ``SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1`` makes it an
``ImportError``.  The wheels themselves are tested in tests/test_packaging.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SWITCHES = ("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS", "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS")
CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys, warnings

    class HideCompiledCore(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "socketio_redis_adapter._fastpath":
                # what a compiled module built for another interpreter says
                raise ImportError(f"{name}: undefined symbol: _Py_hidden (hidden)", name=name)
            return None

    sys.meta_path.insert(0, HideCompiledCore())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import socketio_redis_adapter
            from socketio_redis_adapter import fastpath
            import socketio_redis_adapter.adapter  # imports fastpath again: no second warning
        except ImportError as exc:
            print(json.dumps({"import_error": str(exc)}))
            sys.exit(0)
    print(json.dumps({
        "FASTPATH": socketio_redis_adapter.FASTPATH,
        "FALLBACK_REASON": fastpath.FALLBACK_REASON,
        "router_module": fastpath.ChannelRouter.__module__,
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }))
    """
)


def _import_without_core(**switches: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env.update(switches)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _runtime_warnings(result: dict) -> list[str]:
    return [message for category, message in result["warnings"] if category == "RuntimeWarning"]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="the core is built for CPython")
def test_a_missing_core_warns_once_with_the_reason_and_the_switches() -> None:
    result = _import_without_core()
    assert result["FASTPATH"] is False
    assert result["router_module"] == "socketio_redis_adapter._fastpath_py.router"
    assert result["FALLBACK_REASON"].startswith("ImportError: "), result
    assert "(hidden)" in result["FALLBACK_REASON"], result
    runtime = _runtime_warnings(result)
    assert len(runtime) == 1, result["warnings"]
    message = runtime[0]
    for part in (
        "socketio-redis-adapter",
        "socketio_redis_adapter._fastpath",
        "(hidden)",  # the ImportError's own words
        "pure-Python implementation",
        "SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1",
        "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1",
    ):
        assert part in message, (part, message)


def test_no_extensions_uses_the_twin_silently() -> None:
    result = _import_without_core(SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS="1")
    assert result["FASTPATH"] is False
    assert result["FALLBACK_REASON"] is None
    assert _runtime_warnings(result) == [], result["warnings"]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="the core is built for CPython")
def test_require_extensions_makes_a_missing_core_an_import_error() -> None:
    result = _import_without_core(SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS="1")
    message = result.get("import_error")
    assert message is not None, result
    assert "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS" in message, message
    assert "(hidden)" in message, message


def test_no_extensions_wins_over_require_extensions() -> None:
    """Asking for the twin is a choice: the twin is used, with no error and no warning."""
    result = _import_without_core(
        SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS="1", SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS="1"
    )
    assert result["FASTPATH"] is False
    assert _runtime_warnings(result) == [], result["warnings"]
