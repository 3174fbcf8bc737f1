"""Choose the compiled core or its pure-Python twin, once, at import time.

``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1`` forces the pure-Python twin,
silently.  When the compiled module is missing for any other reason, a single
``RuntimeWarning`` says so at import, with the reason and the two variables;
``SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1`` turns that case into an
``ImportError``.  :data:`FALLBACK_REASON` keeps the reason for later messages.
The rest of the package imports the hot paths from here and nowhere else.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS"))
if sys.implementation.name != "cpython" and not REQUIRE_EXTENSIONS:
    # the compiled core is built for CPython only
    NO_EXTENSIONS = True

#: why the compiled core is not used although nobody asked for the pure-Python
#: twin (the ImportError), or None
FALLBACK_REASON: str | None = None


def _fallback_message(reason: str) -> str:
    return (
        "socketio-redis-adapter: the compiled core (socketio_redis_adapter._fastpath) "
        f"could not be imported ({reason}), so the pure-Python implementation is used: "
        "the same behaviour, slower. Set SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1 to use the "
        "pure-Python implementation on purpose without this warning, or "
        "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1 to make a missing compiled core an "
        "error; reinstalling with a C compiler available builds it."
    )


if TYPE_CHECKING or NO_EXTENSIONS:
    from . import _fastpath_py as _core

    FASTPATH = False
else:
    try:
        from . import _fastpath as _core  # type: ignore[attr-defined]

        FASTPATH = True
    except ImportError as exc:  # pragma: no cover - depends on the build
        FALLBACK_REASON = f"{type(exc).__name__}: {exc}"
        if REQUIRE_EXTENSIONS:
            raise ImportError(
                "socketio-redis-adapter: SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS is set but "
                f"the compiled core (socketio_redis_adapter._fastpath) could not be imported "
                f"({FALLBACK_REASON})"
            ) from exc
        # One message, through the warnings machinery only (not also a log record, which
        # would print it twice where logging is not configured): shown once, attributed
        # to this module (so -W ignore::RuntimeWarning:socketio_redis_adapter.fastpath
        # matches it whoever imported it first).
        warnings.warn(_fallback_message(FALLBACK_REASON), RuntimeWarning, stacklevel=1)
        from . import _fastpath_py as _core

        FASTPATH = False

ChannelRouter = _core.ChannelRouter
DeliveryCache = _core.DeliveryCache
DirectLinks = _core.DirectLinks
LINK_AIOHTTP: int = _core.LINK_AIOHTTP
LINK_UVICORN: int = _core.LINK_UVICORN
LINK_WEBSOCKETS: int = _core.LINK_WEBSOCKETS
PushParser = _core.PushParser
RespError = _core.RespError
RoomIndex = _core.RoomIndex
deliver = _core.deliver
encode_event = _core.encode_event
json_value_text = _core.json_value_text
pack_broadcast = _core.pack_broadcast
parse_broadcast = _core.parse_broadcast
unpack_broadcast = _core.unpack_broadcast

__all__ = (
    "FALLBACK_REASON",
    "FASTPATH",
    "ChannelRouter",
    "DeliveryCache",
    "DirectLinks",
    "LINK_AIOHTTP",
    "LINK_UVICORN",
    "LINK_WEBSOCKETS",
    "PushParser",
    "RespError",
    "RoomIndex",
    "deliver",
    "encode_event",
    "json_value_text",
    "pack_broadcast",
    "parse_broadcast",
    "unpack_broadcast",
)
