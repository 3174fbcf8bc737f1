"""What the layering promises: background work is owned, room arguments have one
rule, the responder answers without I/O, and the emitters import light."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from typing import Any

import pytest

from socketio_redis_adapter import Emitter
from socketio_redis_adapter.engine.answers import Answer, Reply
from socketio_redis_adapter.engine.classic.responder import Responder
from socketio_redis_adapter.engine.pending import PendingRequests
from socketio_redis_adapter.fastpath import RoomIndex
from socketio_redis_adapter.protocol.classic import ClassicCodec
from socketio_redis_adapter.protocol.requests import (
    RequestType,
    Selector,
    all_rooms_request,
    join_request,
    server_side_request,
)
from socketio_redis_adapter.protocol.rooms import room_list, sid_list
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import PyServer

# -- background tasks ---------------------------------------------------------


async def test_close_cancels_and_awaits_running_handlers(redis_server: RedisServer) -> None:
    key = f"layers-{uuid.uuid4().hex[:8]}"
    a = await PyServer.start(redis_server.url, key=key)
    b = await PyServer.start(redis_server.url, key=key)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(*args: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    b.adapter.on_server_side_event("slow", slow)
    try:
        await a.adapter.server_side_emit("slow")
        await asyncio.wait_for(started.wait(), 5)
        assert len(b.adapter._tasks) == 1  # held, so asyncio cannot collect it
        await asyncio.wait_for(b.adapter.close(), 5)
        assert cancelled.is_set()
        assert len(b.adapter._tasks) == 0
    finally:
        await b.stop()
        await a.stop()


# -- one rule for room arguments ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ("r", ["r"]), (7, [7]), (1.5, [1.5]), (["a", 2], ["a", 2]),
     (("a", "b"), ["a", "b"]), ({"x"}, ["x"])],
)
def test_room_list_accepts_rooms(value: Any, expected: list[Any]) -> None:
    assert room_list(value) == expected


@pytest.mark.parametrize("value", [b"bytes", True, {"a": 1}, object(), [None], ["a", b"b"]])
def test_room_list_refuses_what_is_not_a_room(value: Any) -> None:
    with pytest.raises(TypeError, match="a room is a str or a number"):
        room_list(value)


def test_room_list_none_may_be_required() -> None:
    with pytest.raises(TypeError):
        room_list(None, none_is_empty=False)


def test_sid_list_skips_none() -> None:
    assert sid_list(None) == [] and sid_list("s") == ["s"] and sid_list(["s", None]) == ["s"]


async def test_manager_and_emitter_refuse_the_same_rooms(redis_server: RedisServer) -> None:
    key = f"layers-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key)
    emitter = Emitter(redis_server.url, key=key)
    try:
        for bad in (b"bytes", {"a": 1}, [object()]):
            with pytest.raises(TypeError):
                await server.sio.emit("ev", 1, to=bad)
            with pytest.raises(TypeError):
                emitter.to(bad)
        assert server.adapter.stats["published"] == 0  # refused before publishing
    finally:
        await emitter.close()
        await server.stop()


# -- the responder: answers as values, no I/O ---------------------------------


class TableSide:
    """A LocalSide over one real RoomIndex, with no server behind it."""

    def __init__(self) -> None:
        self.index = RoomIndex()
        self.index.connect("s1", "e1")
        self.index.join("s1", "lobby")

    def has_namespace(self, nsp: str) -> bool:
        return nsp == "/"

    def has_sid(self, nsp: str, sid: Any) -> bool:
        return sid in self.index.rooms[None]

    def select(self, nsp: str, selector: Selector) -> dict[str, str]:
        return self.index.select(selector.rooms, selector.except_rooms)

    def rooms(self, nsp: str) -> set[Any]:
        return {room for room in self.index.rooms if room is not None}

    def describe(self, nsp: str, selector: Selector) -> list[dict[str, Any]]:
        return [{"id": sid} for sid in self.select(nsp, selector)]

    def join(self, nsp: str, sid: str, room: Any) -> None:
        self.index.join(sid, room)

    def leave(self, nsp: str, sid: str, room: Any) -> None:
        self.index.leave(sid, room)

    def deliver_with_acks(self, *args: Any) -> int:
        return 0


def make_responder(side: TableSide, later: list[Reply]) -> Responder:
    return Responder(
        ClassicCodec("k", "msgpack", "ME0001"), side, PendingRequests(), {}, later.append,
        specific_response_channel=False, callback_timeout=1.0,
        logger=lambda: logging.getLogger("test"),
    )


def test_responder_returns_replies_instead_of_publishing() -> None:
    side, later = TableSide(), []
    responder = make_responder(side, later)
    answer = responder.on_request("/", json.loads(json.dumps(all_rooms_request("other", "rq1"))))
    assert isinstance(answer, Answer) and answer.disconnect == [] and later == []
    [reply] = answer.replies
    assert reply.channel == b"k-response#/#"
    response = json.loads(reply.payload)
    assert response["requestId"] == "rq1" and sorted(response["rooms"]) == ["lobby", "s1"]


def test_responder_applies_joins_at_once_and_leaves_disconnects_to_the_manager() -> None:
    side, later = TableSide(), []
    responder = make_responder(side, later)
    answer = responder.on_request("/", join_request("other", Selector(["lobby"], []), ["vip"]))
    assert not answer and "vip" in side.index.rooms  # applied, nothing left to do
    request = {"uid": "other", "type": int(RequestType.REMOTE_DISCONNECT),
               "opts": {"rooms": ["vip"], "except": []}, "close": True}
    answer = responder.on_request("/", request)
    assert answer.disconnect == ["s1"] and answer.close and answer.replies == []
    ours = server_side_request("ME0001", ["ev"])
    assert not responder.on_request("/", ours)  # our own server-side event


# -- imports ------------------------------------------------------------------


def test_the_emitter_imports_neither_socketio_nor_engineio() -> None:
    probe = (
        "import sys, socketio_redis_adapter.emitter\n"
        "from socketio_redis_adapter import SyncEmitter, Emitter\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'socketio', 'engineio'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# -- a broadcast's channel is routed once --------------------------------------


async def test_the_receiver_uses_the_transports_route(redis_server: RedisServer) -> None:
    key = f"layers-{uuid.uuid4().hex[:8]}"
    server = await PyServer.start(redis_server.url, key=key)
    try:
        adapter = server.adapter
        index = adapter.local.namespace("/")
        message = ClassicCodec(key, "msgpack", "other1").encode_broadcast(
            "/", ["ev"], [], [], {}
        )[1]
        foreign = b"other-key#/#room#"  # the router itself would drop this channel
        received = adapter.stats["received"]
        adapter.receiver.on_message(b"*", foreign, message)
        assert adapter.stats["received"] == received  # routed here: dropped
        adapter.receiver.on_message(b"*", foreign, message, ("/", index))
        assert adapter.stats["received"] == received + 1  # the transport's route is used
    finally:
        await server.stop()
