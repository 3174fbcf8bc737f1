"""Pure-Python twin of the compiled core ``src/_fastpath.pyx``.

Both modules expose the same names, signatures and behaviour; the test suite
runs every test against both.  Nothing here does I/O: these are the
per-message and per-recipient hot paths of the adapter.

The twin has one module per layer, as the compiled core has one part per
layer in ``src/fastpath/``: ``rooms``, ``router``, ``json_text``, ``json_scan``,
``direct``, ``delivery``, ``resp_push`` and ``broadcast`` (the ``broadcast_*`` parts).
"""

from .broadcast import pack_broadcast, parse_broadcast, unpack_broadcast
from .delivery import DeliveryCache, deliver
from .direct import LINK_AIOHTTP, LINK_UVICORN, LINK_WEBSOCKETS, DirectLinks
from .json_scan import json_value_text
from .json_text import encode_event
from .resp_push import PushParser, RespError
from .rooms import Room, RoomIndex
from .router import ChannelRouter

__all__ = (
    "ChannelRouter",
    "DeliveryCache",
    "DirectLinks",
    "LINK_AIOHTTP",
    "LINK_UVICORN",
    "LINK_WEBSOCKETS",
    "PushParser",
    "RespError",
    "Room",
    "RoomIndex",
    "deliver",
    "encode_event",
    "json_value_text",
    "pack_broadcast",
    "parse_broadcast",
    "unpack_broadcast",
)
