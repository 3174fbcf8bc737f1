"""The twins' exports, and which twin a default import picks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

from socketio_redis_adapter import _fastpath_py
from tests.support.twins import COMPILED, COMPILED_ERROR, NO_EXTENSIONS, NOT_BUILT

#: what the chooser itself says, not taken from either twin
CHOOSER_NAMES = frozenset({"FASTPATH", "FALLBACK_REASON"})

PUBLIC_FUNCTIONS = (
    "RoomIndex", "ChannelRouter", "encode_event", "deliver", "DeliveryCache",
    "pack_broadcast", "parse_broadcast", "unpack_broadcast",
)


def test_module_exports(impl: ModuleType) -> None:
    for name in PUBLIC_FUNCTIONS:
        assert callable(getattr(impl, name))
    # the compiled docstrings may start with an embedded signature
    for name in PUBLIC_FUNCTIONS:
        doc = inspect.cleandoc(getattr(_fastpath_py, name).__doc__)
        assert inspect.cleandoc(getattr(impl, name).__doc__).endswith(doc)
    for cls, method in [
        ("RoomIndex", "join"),
        ("RoomIndex", "select"),
        ("RoomIndex", "select_eio"),
        ("ChannelRouter", "route"),
        ("DeliveryCache", "forget"),
        ("DeliveryCache", "clear"),
    ]:
        doc = inspect.cleandoc(getattr(getattr(_fastpath_py, cls), method).__doc__)
        assert inspect.cleandoc(getattr(getattr(impl, cls), method).__doc__).endswith(doc)


# ---------------------------------------------------------------- the chooser


def test_default_import_uses_compiled_module() -> None:
    fastpath = importlib.import_module("socketio_redis_adapter.fastpath")
    if not NO_EXTENSIONS:
        assert COMPILED is not None, NOT_BUILT.format(COMPILED_ERROR)
        assert fastpath.FASTPATH is True
        assert fastpath.FALLBACK_REASON is None
        assert fastpath.RoomIndex is COMPILED.RoomIndex
        assert fastpath.ChannelRouter is COMPILED.ChannelRouter
        assert fastpath.encode_event is COMPILED.encode_event
        assert fastpath.deliver is COMPILED.deliver
        for name in fastpath.__all__:
            if name not in CHOOSER_NAMES:
                assert getattr(fastpath, name) is getattr(COMPILED, name), name
    else:
        assert fastpath.FASTPATH is False
        assert fastpath.RoomIndex is _fastpath_py.RoomIndex
        assert fastpath.encode_event is _fastpath_py.encode_event
        for name in fastpath.__all__:
            if name not in CHOOSER_NAMES:
                assert getattr(fastpath, name) is getattr(_fastpath_py, name), name
    try:
        package = importlib.import_module("socketio_redis_adapter")
    except ImportError:  # the package root may still be under construction
        return
    if hasattr(package, "FASTPATH"):
        assert package.FASTPATH is fastpath.FASTPATH


def test_twin_defines_no_public_name_the_compiled_core_lacks() -> None:
    """Every public function and class the pure twin's modules define exists in the
    compiled core (helpers are private in both)."""
    if COMPILED is None:
        assert NO_EXTENSIONS, NOT_BUILT.format(COMPILED_ERROR)
        return
    compiled = {name for name in dir(COMPILED) if not name.startswith("_")}
    for info in pkgutil.iter_modules(_fastpath_py.__path__):
        module = importlib.import_module(f"{_fastpath_py.__name__}.{info.name}")
        defined = {
            name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
        }
        assert defined <= compiled, (info.name, sorted(defined - compiled))
