"""What the fuzz harnesses share: importing both twins and comparing what they did.

A harness is run by ``scripts/fuzz.sh`` under atheris (libFuzzer) with the
compiled core built with AddressSanitizer and ``FUZZ_REQUIRE_COMPILED=1``; any
uncaught exception, a disagreement between the compiled core and its
pure-Python twin, or an ASan report is a crash.
"""

from __future__ import annotations

import math
import os
import sys
from types import ModuleType
from typing import Any

import atheris

with atheris.instrument_imports(include=["socketio_redis_adapter"]):
    from socketio_redis_adapter import _fastpath_py, fastpath
    from socketio_redis_adapter.protocol import notepack, parsers, requests, sharded, sharded_codec
    from socketio_redis_adapter.protocol.classic import ClassicCodec
    from socketio_redis_adapter.protocol.errors import MalformedMessage

try:
    from socketio_redis_adapter import _fastpath as compiled  # type: ignore[attr-defined]
except ImportError:
    if os.environ.get("FUZZ_REQUIRE_COMPILED"):
        raise
    compiled = None  # run the harness on the pure twin alone

if os.environ.get("FUZZ_REQUIRE_COMPILED") and not fastpath.FASTPATH:
    raise SystemExit("the compiled core is not the one in use")

pure: ModuleType = _fastpath_py
#: the twins to run each input on (the compiled one first)
TWINS: list[ModuleType] = [m for m in (compiled, pure) if m is not None]


def same(left: Any, right: Any) -> bool:
    """Equal values, NaN equal to NaN, exceptions by class name and args, containers
    item by item."""
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, BaseException) and isinstance(right, BaseException):
        # each twin has its own RespError class; exceptions compare by identity
        return type(left).__name__ == type(right).__name__ and same(left.args, right.args)
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if hasattr(left, "__slots__") and not isinstance(left, (str, bytes)):
        return all(same(getattr(left, n), getattr(right, n)) for n in left.__slots__)
    return bool(left == right)


def outcome(function: Any, *args: Any, expected: tuple[type[BaseException], ...]) -> Any:
    """``("ok", result)`` or ``("raised", class name)`` for an expected exception."""
    try:
        return ("ok", function(*args))
    except expected as exc:
        return ("raised", type(exc).__name__)


def agree(what: str, results: list[Any], data: bytes) -> None:
    """Raise when the twins did not do the same with ``data``."""
    first = results[0]
    for other in results[1:]:
        if not same(first, other):
            raise AssertionError(
                f"{what}: the twins disagree on {data[:200]!r}: {first!r:.500} != {other!r:.500}"
            )


def run(test_one_input: Any) -> None:
    """Start libFuzzer on ``test_one_input`` with the command line's options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


__all__ = [
    "MalformedMessage", "ClassicCodec", "TWINS", "agree", "compiled", "notepack", "outcome",
    "parsers", "pure", "requests", "run", "same", "sharded", "sharded_codec",
]
