"""The two twins of the fast path, as the tests and the benchmarks select them.

``PURE`` is the pure-Python twin ``socketio_redis_adapter._fastpath_py`` and
``COMPILED`` the compiled ``socketio_redis_adapter._fastpath``, or None when
it cannot be imported (``COMPILED_ERROR`` says why).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest

from socketio_redis_adapter import _fastpath_py

PURE: ModuleType = _fastpath_py

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"))

try:
    COMPILED: ModuleType | None = importlib.import_module("socketio_redis_adapter._fastpath")
    COMPILED_ERROR: str = ""
except ImportError as exc:
    COMPILED = None
    COMPILED_ERROR = f"{type(exc).__name__}: {exc}"

NOT_BUILT = (
    "the compiled extension socketio_redis_adapter._fastpath was not built "
    "({}); build it with `pip install -e . --no-build-isolation` (needs Cython "
    "and a C compiler) or set SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 to test "
    "the pure-Python twin only"
)


class _NotBuilt(ModuleType):
    """Stands in for the missing extension: any use fails the test itself."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(NOT_BUILT.format(COMPILED_ERROR), pytrace=False)


def twin_params(*, built_only: bool = False) -> list[Any]:
    """The twins as ``pytest.param``s, ids ``py`` and ``c``.

    The tests (the default) always have ``c``, unless
    ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS`` is set and the compiled module
    is missing: a missing one is the param ``None``, which ``twin`` turns
    into a module whose every use fails.  The benchmarks (``built_only``)
    compare what is there: no ``c`` when it is missing.
    """
    params = [pytest.param(PURE, id="py")]
    if COMPILED is not None or not (NO_EXTENSIONS or built_only):
        params.append(pytest.param(COMPILED, id="c"))
    return params


def twin(param: ModuleType | None) -> ModuleType:
    """The module of a ``twin_params`` param."""
    if param is None:
        return _NotBuilt("socketio_redis_adapter._fastpath")
    return param
