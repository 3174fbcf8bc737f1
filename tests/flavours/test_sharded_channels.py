"""The sharded flavour's channels on a standalone Redis 7, in each mode, as Node uses them.

Which room channels a server holds, which channel each publish takes, the
encoding on the wire, and what a bad or foreign message does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.flavours.helpers import check, three
from tests.flavours.rig import FlavourRig
from tests.support.shard_listener import shard_listener


async def test_room_channels_follow_each_mode(sharded_rig: FlavourRig) -> None:
    rig = sharded_rig
    servers, clients = await three(rig)
    prefix = rig.prefix
    base = {f"{prefix}#/#"} | {f"{prefix}#/#{s.adapter.uid}#" for s in servers}
    rooms = {f"{prefix}#/#{room}#" for room in ("r1", "r2", "r3", "7")}
    sids = {f"{prefix}#/#{client.sid()}#" for client in clients}
    expected = {
        "static": base, "dynamic": base | rooms, "dynamic-private": base | rooms | sids,
    }[rig.mode]
    assert await rig.shard_channels() == expected
    # the last local socket of r2 leaves: its channel goes; r1 keeps client 0's server
    sid1 = clients[1].sid()
    await clients[1].close()
    deadline = asyncio.get_running_loop().time() + 5
    gone = {f"{prefix}#/#r2#", f"{prefix}#/#{sid1}#"}
    while (await rig.shard_channels()) != expected - gone:
        assert asyncio.get_running_loop().time() < deadline, await rig.shard_channels()
        await asyncio.sleep(0.02)


async def test_publish_channel_is_nodes_choice(sharded_rig: FlavourRig) -> None:
    rig = sharded_rig
    servers, clients = await three(rig)
    room20 = "x" * 20  # looks like a socket id to Node
    main = f"{rig.prefix}#/#"
    channels = [main, f"{main}r1#", f"{main}{room20}#"]
    host, port = rig.redis_url.split("//")[1].split("/")[0].split(":")
    async with shard_listener(host, int(port), channels) as listener:
        await servers[0].sio.emit("a", 1, to="r1")
        await servers[0].sio.emit("b", 1, to=room20)
        await servers[0].sio.emit("c", 1, to=["r1", "r2"])
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await servers[0].sio.emit("d", 1, to=clients[1].sid(), callback=acked.set_result)
        await asyncio.wait_for(acked, 3)
        got = [await listener.next(3) for _ in range(4)]
    dynamic = rig.mode != "static"
    private = rig.mode == "dynamic-private"
    assert [channel for channel, _ in got] == [
        f"{main}r1#" if dynamic else main,
        f"{main}{room20}#" if private else main,
        main,
        main,  # broadcasts with acks never use a room channel
    ]
    # Node's encoding: JSON without binary, key order type, data, uid, nsp
    assert got[0][1].startswith(b'{"type":3,"data":{"packet":{"type":2,"data":["a",1]}')
    assert got[0][1].endswith(f',"uid":"{servers[0].adapter.uid}","nsp":"/"}}'.encode())


async def test_bad_messages_are_counted_and_the_listener_lives(sharded_rig: FlavourRig) -> None:
    rig = sharded_rig
    servers, clients = await three(rig)
    main = f"{rig.prefix}#/#".encode()
    admin = rig.admin
    assert admin is not None
    for junk in (b"{not json", b"\xc1", b'{"type":"x"}', b'{"type":3,"data":{"packet":1}}',
                 b"[1,2]"):
        await admin.execute_command("SPUBLISH", main, junk)
    # a sender without nsp (adapter 8.2) counts as this namespace; another nsp is ignored
    other = b'{"type":3,"data":{"packet":{"type":2,"data":["n",1]},"opts":{"rooms":[],' \
            b'"except":[],"flags":{}}},"uid":"abc"%s}'
    await admin.execute_command("SPUBLISH", main, other % b"")
    await admin.execute_command("SPUBLISH", main, other % b',"nsp":"/else"')
    await check(servers[1], clients, "n", {0: [1], 1: [1], 2: [1]})
    stats = servers[0].adapter.stats
    assert stats["malformed"] == 5
    assert stats["handler_errors"] == 0
