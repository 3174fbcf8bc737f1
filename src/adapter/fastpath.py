"""Choose the compiled core or its pure-Python twin, once, at import time.

``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1`` forces the pure-Python twin.  When
the compiled module is missing for any other reason a single
``RuntimeWarning`` says so.  The rest of the package imports the hot paths
from here and nowhere else.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS")) or (
    sys.implementation.name != "cpython"
)

if TYPE_CHECKING or NO_EXTENSIONS:
    from . import _fastpath_py as _core

    FASTPATH = False
else:
    try:
        from . import _fastpath as _core  # type: ignore[attr-defined]

        FASTPATH = True
    except ImportError as exc:  # pragma: no cover - depends on the build
        warnings.warn(
            f"socketio_redis_adapter: compiled fast path unavailable ({exc}); "
            "using the pure-Python implementation",
            RuntimeWarning,
            stacklevel=2,
        )
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
