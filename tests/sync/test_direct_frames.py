"""Direct websocket frames (``RedisAdapter(direct_frames=True)``, threading mode).

The frame encoder against wsproto's; then real servers and clients: broadcasts from
Redis written straight to idle clients interleaved with local emits from other threads
and with Engine.IO's own queue, each client's order checked, websocket (direct),
upgraded clients in one room, a long-polling one beside them; a client that stops reading (partial
writes, the rest queued) gets every frame intact and in order; binary attachments;
``direct_frames=False``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from typing import Any

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from socketio_redis_adapter.core.direct.frames import message_frames, websocket_frame
from socketio_redis_adapter.core.direct.thread_writer import unsupported_reason
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer
from tests.support.stalled_client import StalledClient
from tests.support.sync_server import SyncServer


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("text", [True, False])
def test_frames_are_what_wsproto_writes(length: int, text: bool) -> None:
    payload = bytes(range(256)) * (length // 256 + 1)
    payload = payload[:length]
    protocol = FrameProtocol(client=False, extensions=[])
    data: Any = payload.decode("latin-1") if text else payload
    expected = protocol.send_data(data, fin=True)
    assert websocket_frame(data.encode() if text else payload, text) == expected


def test_a_broadcast_is_one_text_frame_and_a_frame_per_attachment() -> None:
    frames = message_frames(['51-["ev",{"_placeholder":true,"num":0}]', b"\x00\x01"])
    protocol = FrameProtocol(client=False, extensions=[])
    assert frames == (
        protocol.send_data('451-["ev",{"_placeholder":true,"num":0}]', fin=True)
        + protocol.send_data(b"\x00\x01", fin=True)
    )
    assert frames[0] & 0x0F == Opcode.TEXT and frames[0] & 0x80  # FIN, text


async def _servers(url: str, **options: Any) -> tuple[SyncServer, PyServer]:
    options.setdefault("direct_frames", True)  # whatever the environment says
    key = f"direct-{uuid.uuid4().hex[:8]}"
    sync = await asyncio.to_thread(SyncServer.start, url, key=key, **options)
    try:
        py = await PyServer.start(url, key=key)
    except BaseException:
        await asyncio.to_thread(sync.stop)
        raise
    return sync, py


async def test_it_is_used_in_threading_mode_with_the_known_versions(
    redis_server: RedisServer,
) -> None:
    sync, py = await _servers(redis_server.url)
    try:
        assert unsupported_reason(sync.sio) is None
        assert sync.adapter.direct_frames_off is None
    finally:
        await py.stop()
        await asyncio.to_thread(sync.stop)


def _sequences(client: Client, events: tuple[str, ...]) -> dict[str, list[int]]:
    return {event: [args[0] for args in client.named(event)] for event in events}


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queue-only"])
async def test_each_client_gets_every_source_in_order(
    redis_server: RedisServer, direct: bool,
) -> None:
    """Broadcasts from another server (direct writes), local emits from a request thread
    (direct writes from that thread) and packets put on Engine.IO's queue by a third
    thread, all at once, to a websocket client and one upgraded from long-polling."""
    sync, py = await _servers(redis_server.url, direct_frames=direct)
    clients: list[Client] = []
    count = 300
    try:
        clients = [
            await Client.connect(sync.url, rooms=["r"]),
            await Client.connect(sync.url, rooms=["r"], transports=["polling", "websocket"]),
        ]
        eio_sids = list(sync.adapter.get_participants("/", "r"))
        assert len(eio_sids) == 2

        def local_emits() -> None:
            for n in range(count):
                sync.sio.emit("local", n, to="r")

        def queued_packets() -> None:
            for n in range(count):
                for _, eio_sid in eio_sids:
                    sync.sio.eio.send(eio_sid, f'2["queued",{n}]')

        threads = [threading.Thread(target=local_emits), threading.Thread(target=queued_packets)]
        for thread in threads:
            thread.start()
        for n in range(count):
            await py.sio.emit("remote", n, to="r")
        await asyncio.to_thread(lambda: [thread.join(30) for thread in threads])
        for client in clients:
            for event in ("remote", "local", "queued"):
                await client.wait_for(event, count, timeout=30)
            assert _sequences(client, ("remote", "local", "queued")) == {
                "remote": list(range(count)), "local": list(range(count)),
                "queued": list(range(count)),
            }
        stats = sync.adapter.stats
        print(f"direct frames: {stats['direct_frames']}, queued "
              f"{stats['direct_frames_queued']}, partial {stats['direct_frames_partial']}")
        if direct:
            assert stats["direct_frames"] > 0, stats
            assert sync.adapter.table_sizes()["direct_clients"] == 2
        else:
            assert stats["direct_frames"] == stats["direct_frames_queued"] == 0, stats
            assert sync.adapter.direct_frames_off == "turned off (direct_frames=False)"
    finally:
        for client in clients:
            await client.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)


async def test_a_long_polling_client_in_the_room_gets_the_queue(
    redis_server: RedisServer,
) -> None:
    """(At most 16 packets per poll: python-engineio's client refuses a longer payload.)"""
    sync, py = await _servers(redis_server.url)
    on_ws = await Client.connect(sync.url, rooms=["r"])
    polling = await Client.connect(sync.url, rooms=["r"], transports=["polling"])
    try:
        for n in range(10):
            await py.sio.emit("remote", n, to="r")
        for name, client in (("websocket", on_ws), ("polling", polling)):
            got = await client.wait_for("remote", 10, timeout=20)
            assert [args[0] for args in got] == list(range(10)), name
        assert sync.adapter.table_sizes()["direct_clients"] == 1
        assert sync.adapter.stats["direct_frames"] > 0
    finally:
        await on_ws.close()
        await polling.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)


async def test_binary_attachments_arrive_intact(redis_server: RedisServer) -> None:
    sync, py = await _servers(redis_server.url)
    client = await Client.connect(sync.url, rooms=["r"])
    try:
        blob = os.urandom(70_000)
        for n in range(20):
            await py.sio.emit("bin", {"n": n, "blob": blob, "small": b"\x00\xff"}, to="r")
        got = await client.wait_for("bin", 20, timeout=20)
        assert [args[0]["n"] for args in got] == list(range(20))
        assert all(args[0]["blob"] == blob and args[0]["small"] == b"\x00\xff" for args in got)
        assert sync.adapter.stats["direct_frames"] > 0
    finally:
        await client.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)


async def test_a_client_that_stops_reading_gets_every_frame_whole_and_in_order(
    redis_server: RedisServer,
) -> None:
    """The kernel takes part of a frame: the rest is queued for the writer, ahead of
    what follows; the client, reading again, gets every broadcast intact, in order."""
    sync, py = await _servers(redis_server.url)
    stalled = await asyncio.to_thread(StalledClient, sync.port, ["r"])
    reader = await Client.connect(sync.url, rooms=["r"])
    count = 120
    try:
        filler = "x" * 50_000
        for n in range(count):
            await py.sio.emit("big", {"n": n, "filler": filler}, to="r")
        await reader.wait_for("big", count, timeout=30)  # the other client is not held up
        stats = sync.adapter.stats
        assert stats["direct_frames_partial"] >= 1, stats  # the stalled client's buffers filled

        def read_all() -> list[int]:
            events = stalled.read_events(count)
            assert all(event == "big" and data["filler"] == filler for event, data in events)
            return [data["n"] for _, data in events]

        assert await asyncio.to_thread(read_all) == list(range(count))
    finally:
        stalled.close()
        await reader.close()
        await py.stop()
        await asyncio.to_thread(sync.stop)
