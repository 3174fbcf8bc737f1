"""A Redis client manager for python-socketio, wire-compatible with Node's
``@socket.io/redis-adapter`` 8.3, with a Cython fast path."""

from .adapter import AsyncRedisAdapter
from .codec import JsonParser, MalformedMessage, MsgpackParser
from .connection import PubSubConnection, RedisPubSub
from .emitter import Emitter, SyncEmitter
from .fastpath import FASTPATH
from .remote_socket import RemoteSocket
from .requests import RequestTimeoutError
from .resp import RawPubSub

__version__ = "0.1.0"

__all__ = (
    "FASTPATH",
    "AsyncRedisAdapter",
    "Emitter",
    "JsonParser",
    "MalformedMessage",
    "MsgpackParser",
    "PubSubConnection",
    "RawPubSub",
    "RedisPubSub",
    "RemoteSocket",
    "RequestTimeoutError",
    "SyncEmitter",
    "__version__",
)
