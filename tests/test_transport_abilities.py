"""Transport abilities: every transport of the package inherits ``TransportAbilities`` (its
defaults where it lacks an ability); a user's transport that does not is seen through
``abilities()`` with the same defaults, and what it has is used.

No Redis needed: the transports are made, never connected.
"""

from __future__ import annotations

import asyncio
from typing import Any

from socketio_redis_adapter.transport.base import TransportAbilities, abilities
from socketio_redis_adapter.transport.blocking_pubsub import BlockingPubSub
from socketio_redis_adapter.transport.factory import connect, connect_sharded

NOWHERE = "redis://127.0.0.1:1/0"


def test_the_package_transports_declare_their_abilities() -> None:
    raw = connect(NOWHERE)
    redispy = connect(NOWHERE, socket_connect_timeout=1)
    sharded = connect_sharded(NOWHERE)
    blocking = BlockingPubSub(NOWHERE)
    for transport in (raw, redispy, sharded, blocking):
        assert isinstance(transport, TransportAbilities)
        assert abilities(transport) is transport
        assert transport.resubscribing is False
        assert transport.oversized == 0
        assert isinstance(transport.table_sizes(), dict)
    assert [t.counts_and_publishes for t in (raw, redispy, sharded, blocking)] == [
        True, True, False, False]


class _Bare:
    """A user's transport with none of the abilities."""

    async def post(self, channel: bytes, data: bytes) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}


class _Able(_Bare):
    """A user's transport with every ability, not inheriting the class."""

    def __init__(self) -> None:
        self.resubscribing = True
        self.oversized = 3
        self.on_lost_posts: Any = None
        self.calls: list[str] = []

    async def count_and_publish(self, channel: bytes, data: bytes) -> int:
        self.calls.append("count_and_publish")
        return 2

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def table_sizes(self) -> dict[str, int]:
        return {"mine": 1}


def test_a_user_transport_without_abilities_gets_the_defaults() -> None:
    bare = _Bare()
    view = abilities(bare)
    assert view is not bare
    assert view.resubscribing is False
    assert view.oversized == 0
    assert view.counts_and_publishes is False
    assert view.table_sizes() == {}
    view.pause_reading()
    view.resume_reading()
    view.on_lost_posts = print
    assert view.on_lost_posts is None
    assert not hasattr(bare, "on_lost_posts")  # left as it was


def test_a_user_transport_with_abilities_has_them_used() -> None:
    able = _Able()
    view = abilities(able)
    assert view.resubscribing is True
    assert view.oversized == 3
    assert view.counts_and_publishes is True
    assert view.table_sizes() == {"mine": 1}
    view.pause_reading()
    view.resume_reading()
    assert asyncio.run(view.count_and_publish(b"ch", b"data")) == 2
    assert able.calls == ["pause", "resume", "count_and_publish"]
    view.on_lost_posts = print
    assert able.on_lost_posts is print
