"""A Redis client manager for python-socketio, wire-compatible with Node's
``@socket.io/redis-adapter`` 8.3, with a Cython fast path.

Names are imported on first use (PEP 562), so ``from socketio_redis_adapter
import SyncEmitter`` loads neither python-socketio nor python-engineio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "AdapterClosedError": ".core.waiters",
    "AsyncRedisAdapter": ".adapter",
    "AsyncShardedRedisAdapter": ".sharded_adapter",
    "Emitter": ".emitter",
    "FASTPATH": ".fastpath",
    "JsonParser": ".protocol.parsers",
    "MalformedMessage": ".protocol.errors",
    "MsgpackParser": ".protocol.parsers",
    "OfflineQueue": ".core.offline_queue",
    "OfflineQueueFull": ".core.offline_queue",
    "PubSubConnection": ".transport.base",
    "PubSubTransport": ".transport.base",
    "RawPubSub": ".transport.raw",
    "RedisAdapter": ".sync_adapter",
    "RedisPubSub": ".transport.redispy",
    "RedisRefusedError": ".transport.errors",
    "ShardedPubSub": ".transport.sharded",
    "ShardedTransport": ".transport.base",
    "RemoteSocket": ".core.remote_socket",
    "RequestTimeoutError": ".core.waiters",
    "SyncEmitter": ".emitter",
    "UnsupportedServerError": ".transport.errors",
}

if TYPE_CHECKING:
    from .adapter import AsyncRedisAdapter
    from .core.offline_queue import OfflineQueue, OfflineQueueFull
    from .core.remote_socket import RemoteSocket
    from .core.waiters import AdapterClosedError, RequestTimeoutError
    from .emitter import Emitter, SyncEmitter
    from .fastpath import FASTPATH
    from .protocol.errors import MalformedMessage
    from .protocol.parsers import JsonParser, MsgpackParser
    from .sharded_adapter import AsyncShardedRedisAdapter
    from .sync_adapter import RedisAdapter
    from .transport.base import PubSubConnection, PubSubTransport, ShardedTransport
    from .transport.errors import RedisRefusedError, UnsupportedServerError
    from .transport.raw import RawPubSub
    from .transport.redispy import RedisPubSub


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = (
    "FASTPATH",
    "AdapterClosedError",
    "AsyncRedisAdapter",
    "AsyncShardedRedisAdapter",
    "Emitter",
    "JsonParser",
    "MalformedMessage",
    "MsgpackParser",
    "OfflineQueue",
    "OfflineQueueFull",
    "PubSubConnection",
    "PubSubTransport",
    "RawPubSub",
    "RedisAdapter",
    "RedisPubSub",
    "RedisRefusedError",
    "ShardedPubSub",
    "ShardedTransport",
    "RemoteSocket",
    "RequestTimeoutError",
    "SyncEmitter",
    "UnsupportedServerError",
    "__version__",
)
