"""HandshakeCache: a connection's handshake is built once from its environ."""

from __future__ import annotations

from socketio_redis_adapter.protocol.handshake import (
    ISSUED_KEY,
    HandshakeCache,
    handshake_from_environ,
)


def _environ(agent: str) -> dict[str, object]:
    return {"HTTP_USER_AGENT": agent, "QUERY_STRING": "EIO=4&transport=websocket",
            "PATH_INFO": "/socket.io/", "REMOTE_ADDR": "127.0.0.1", ISSUED_KEY: 1_700_000_000_000}


def test_built_once_per_environ_and_again_for_a_new_one() -> None:
    cache = HandshakeCache()
    first = _environ("a")
    handshake = cache.get("e1", first)
    assert handshake == handshake_from_environ(first)
    assert handshake["headers"] == {"user-agent": "a"}
    assert handshake["query"] == {"EIO": "4", "transport": "websocket"}
    assert cache.get("e1", first) is handshake
    # the same Engine.IO sid with another environ object (a new connection): rebuilt
    second = _environ("b")
    assert cache.get("e1", second)["headers"] == {"user-agent": "b"}
    assert len(cache) == 1 and cache.table_sizes() == {"handshakes": 1}
    cache.get("e2", first)
    cache.forget("e1")
    cache.forget("e1")
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0
