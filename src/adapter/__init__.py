"""A Redis client manager for python-socketio, wire-compatible with Node's
``@socket.io/redis-adapter`` 8.3, with a Cython fast path."""

from .adapter import AsyncRedisAdapter
from .codec import JsonParser, MalformedMessage, MsgpackParser
from .connection import PubSubConnection, RedisPubSub
from .emitter import Emitter, SyncEmitter
from .fastpath import FASTPATH

__version__ = "0.1.0"

__all__ = (
    "FASTPATH",
    "AsyncRedisAdapter",
    "Emitter",
    "JsonParser",
    "MalformedMessage",
    "MsgpackParser",
    "PubSubConnection",
    "RedisPubSub",
    "SyncEmitter",
    "__version__",
)
