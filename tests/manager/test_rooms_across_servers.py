"""python-socketio's server API through ``AsyncRedisAdapter``, across servers.

Real Redis, real python-socketio servers and clients, and (tests marked
``node``) a real Node.js server with ``@socket.io/redis-adapter`` 8.3: rooms
joined and left for sockets on other servers, ``close_room``, remote
``disconnect``, ``call``/callbacks, the local room state the Admin UI reads
and the Admin UI instrumentation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
import socketio

from tests.manager.rig import (
    NAMESPACES,
    Rig,
    check,
    local_rooms,
    node_marker,
    node_rooms,
    py_marker,
    until,
)

# -- 1. enter_room / leave_room for a socket on another server ------------------


async def test_enter_and_leave_room_for_a_socket_on_another_python_server(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    on_a = await rig.client(a.url)
    on_b = await rig.client(b.url)
    sid = on_b.sid()

    await a.sio.enter_room(sid, "late")
    await until(lambda: sid in local_rooms(b).get("late", {}), "the join on server B")
    assert "late" in b.sio.rooms(sid)
    assert "late" not in local_rooms(a)  # A has no member of that room
    await a.sio.emit("news", {"n": 1}, to="late")
    assert await on_b.wait_for("news") == [[{"n": 1}]]
    await check(py_marker(a), [on_a, on_b], "news", {1: [{"n": 1}]})

    await a.sio.leave_room(sid, "late")
    await until(lambda: "late" not in local_rooms(b), "the leave on server B")
    assert "late" not in b.sio.rooms(sid)
    assert sid not in b.adapter.local.indexes["/"].sid_rooms
    await a.sio.emit("news2", 2, to="late")
    await b.sio.emit("news3", 3, to="late")
    await check(py_marker(a), [on_a, on_b], "news2", {})
    await check(py_marker(b), [on_a, on_b], "news3", {})


@pytest.mark.node
async def test_enter_and_leave_room_for_a_node_socket(rig: Rig) -> None:
    node = await rig.peer()
    a = await rig.server()
    on_node = await rig.client(node.url)
    on_a = await rig.client(a.url)
    sid = on_node.sid()

    await a.sio.enter_room(sid, "late")

    async def joined() -> bool:
        rooms = await node_rooms(node, sid)
        return rooms is not None and "late" in rooms

    await until(joined, "the Node socket to join 'late'")
    await a.sio.emit("news", [1, 2], to="late")
    assert await on_node.wait_for("news") == [[[1, 2]]]
    await check(py_marker(a), [on_node, on_a], "news", {0: [[1, 2]]})

    await a.sio.leave_room(sid, "late")

    async def left() -> bool:
        rooms = await node_rooms(node, sid)
        return rooms is not None and "late" not in rooms

    await until(left, "the Node socket to leave 'late'")
    assert await node_rooms(node, sid) == [sid]
    await a.sio.emit("news2", 2, to="late")
    await check(py_marker(a), [on_node, on_a], "news2", {})
    await node.command("emit", event="news3", args=[3], rooms=["late"])
    await check(node_marker(node), [on_node, on_a], "news3", {})


# -- 2. close_room ----------------------------------------------------------------


async def test_close_room_empties_the_room_on_every_python_server(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    clients = [
        await rig.client(a.url, rooms=["doomed", "keep"]),
        await rig.client(b.url, rooms=["doomed"]),
        await rig.client(b.url, rooms=["keep"]),
    ]
    await a.sio.close_room("doomed")
    assert "doomed" not in local_rooms(a)
    await until(lambda: "doomed" not in local_rooms(b), "room closed on server B")
    for server in (a, b):
        for sid_rooms in server.adapter.local.indexes["/"].sid_rooms.values():
            assert "doomed" not in sid_rooms
    await a.sio.emit("d", 1, to="doomed")
    await check(py_marker(a), clients, "d", {})
    await b.sio.emit("d2", 2, to="doomed")
    await check(py_marker(b), clients, "d2", {})
    await a.sio.emit("k", 3, to="keep")  # other rooms are untouched
    await check(py_marker(a), clients, "k", {0: [3], 2: [3]})


@pytest.mark.node
async def test_close_room_empties_the_room_on_python_and_node_servers(rig: Rig) -> None:
    node = await rig.peer()
    a, b = await rig.server(), await rig.server()
    clients = [
        await rig.client(node.url, rooms=["doomed", "keep"]),
        await rig.client(a.url, rooms=["doomed"]),
        await rig.client(b.url, rooms=["doomed", "keep"]),
    ]
    node_sid = clients[0].sid()
    await a.sio.close_room("doomed")

    async def node_left() -> bool:
        rooms = await node_rooms(node, node_sid)
        return rooms is not None and "doomed" not in rooms

    await until(node_left, "the Node socket to leave 'doomed'")
    assert sorted(await node_rooms(node, node_sid) or []) == sorted([node_sid, "keep"])
    assert "doomed" not in local_rooms(a)
    await until(lambda: "doomed" not in local_rooms(b), "room closed on server B")

    await a.sio.emit("d", 1, to="doomed")
    await check(py_marker(a), clients, "d", {})
    await node.command("emit", event="d2", args=[2], rooms=["doomed"])
    await check(node_marker(node), clients, "d2", {})
    await b.sio.emit("k", 3, to="keep")
    await check(py_marker(b), clients, "k", {0: [3], 2: [3]})


# -- 3. disconnect a socket on another server ----------------------------------------


async def test_disconnect_a_socket_on_another_python_server(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    bystander = await rig.client(a.url)
    victim = await rig.client(b.url, rooms=["r1", "r2"])
    sid = victim.sid()

    await a.sio.disconnect(sid)
    await until(lambda: not victim.sio.connected, "the client to be disconnected", timeout=3)
    assert victim.disconnects == [("/", "server disconnect")]
    await until(lambda: sid not in local_rooms(b)[None], "server B to forget the socket")
    index = b.adapter.local.indexes["/"]
    assert all(sid not in members for members in index.rooms.values())
    assert sid not in index.sid_rooms
    assert "r1" not in index.rooms and "r2" not in index.rooms
    assert bystander.sio.connected and bystander.disconnects == []


@pytest.mark.node
async def test_disconnect_a_socket_on_a_node_server(rig: Rig) -> None:
    node = await rig.peer()
    a = await rig.server()
    victim = await rig.client(node.url, rooms=["r1"])
    bystander = await rig.client(a.url)
    sid = victim.sid()

    await a.sio.disconnect(sid)
    event = await node.wait_event("disconnect", id=sid, timeout=3)
    assert event["reason"] == "server namespace disconnect"
    await until(lambda: not victim.sio.connected, "the client to be disconnected", timeout=3)
    assert victim.disconnects == [("/", "server disconnect")]
    assert await node_rooms(node, sid) is None
    assert bystander.sio.connected


# -- 4. call / emit with a callback ---------------------------------------------------


async def test_call_a_client_on_another_python_server(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    remote = await rig.client(b.url)
    remote.ack_reply = {"answer": 42, "bin": b"\x01\x02"}

    reply = await a.sio.call("ask", {"q": 1}, to=remote.sid(), timeout=5)
    assert reply == {"answer": 42, "bin": b"\x01\x02"}
    assert remote.named("ask") == [[{"q": 1}]]
    assert a.adapter.engine.pending.acks == {}


async def test_emit_with_callback_to_remote_and_local_sids(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    local = await rig.client(a.url)
    remote = await rig.client(b.url)
    local.ack_reply = "from-local"
    remote.ack_reply = "from-remote"
    loop = asyncio.get_running_loop()
    futures = {"local": loop.create_future(), "remote": loop.create_future()}

    def callback(name: str) -> Callable[..., None]:
        def cb(*args: Any) -> None:
            futures[name].set_result(args)

        return cb

    await a.sio.emit("e", ("x", 1), to=remote.sid(), callback=callback("remote"))
    await a.sio.emit("e", ("y", 2), to=local.sid(), callback=callback("local"))
    assert await asyncio.wait_for(futures["remote"], 5) == ("from-remote",)
    assert await asyncio.wait_for(futures["local"], 5) == ("from-local",)
    assert remote.named("e") == [["x", 1]]
    assert local.named("e") == [["y", 2]]
    assert a.adapter.engine.pending.acks == {}


@pytest.mark.node
async def test_call_a_client_on_a_node_server(rig: Rig) -> None:
    node = await rig.peer()
    a = await rig.server()
    on_node = await rig.client(node.url)
    on_node.ack_reply = ["node-side", 7]

    reply = await a.sio.call("ask", "hello", to=on_node.sid(), timeout=5)
    assert reply == ["node-side", 7]
    assert on_node.named("ask") == [["hello"]]

    loop = asyncio.get_running_loop()
    got: asyncio.Future[tuple[Any, ...]] = loop.create_future()
    await a.sio.emit(
        "ask2", {"z": 0}, to=on_node.sid(), callback=lambda *args: got.set_result(args)
    )
    assert await asyncio.wait_for(got, 5) == (["node-side", 7],)
    assert a.adapter.engine.pending.acks == {}


async def test_call_to_a_sid_that_exists_nowhere_times_out_and_is_forgotten(rig: Rig) -> None:
    a = await rig.server(callback_timeout=0.5)
    await rig.server()
    await rig.client(a.url)

    with pytest.raises(socketio.exceptions.TimeoutError):
        await a.sio.call("ask", 1, to="no-such-sid", timeout=0.2)
    assert len(a.adapter.engine.pending.acks) == 1  # kept until callback_timeout
    await until(lambda: not a.adapter.engine.pending.acks, "the ack request to expire", timeout=2)


# -- 5. local room state --------------------------------------------------------------


async def test_rooms_participants_and_cleanup_on_disconnect(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    first = await rig.client(a.url, rooms=["r1", "r2"], namespaces=NAMESPACES)
    second = await rig.client(a.url, rooms=["r1"])
    elsewhere = await rig.client(b.url, rooms=["r1"])
    sid1, sid2 = first.sid(), second.sid()
    eio1, eio2 = first.sio.eio.sid, second.sio.eio.sid
    manager = a.sio.manager
    assert manager is a.adapter

    assert sorted(a.sio.rooms(sid1)) == sorted([sid1, "r1", "r2"])
    assert a.sio.rooms(sid1)[0] == sid1
    assert sorted(a.sio.rooms(sid2)) == sorted([sid2, "r1"])
    custom_sid = first.sid("/custom")  # PyServer joins the auth rooms in every namespace
    assert sorted(a.sio.rooms(custom_sid, namespace="/custom")) == sorted([custom_sid, "r1", "r2"])
    assert "r1" in a.sio.rooms(sid1) and a.sio.rooms(sid1, namespace="/custom") == []

    # what the Admin UI reads
    assert len(manager.rooms.get("/", {None: []}).get(None, [])) == 2
    assert len(manager.rooms.get("/custom", {None: []}).get(None, [])) == 1
    assert manager.rooms["/"][None] == {sid1: eio1, sid2: eio2}
    assert manager.rooms["/"]["r1"] == {sid1: eio1, sid2: eio2}
    assert manager.rooms["/"]["r2"] == {sid1: eio1}
    assert manager.rooms["/"][sid1] == {sid1: eio1}
    assert elsewhere.sid() not in manager.rooms["/"][None]
    assert sorted(manager.get_participants("/", "r1")) == sorted([(sid1, eio1), (sid2, eio2)])
    assert list(manager.get_participants("/", "r2")) == [(sid1, eio1)]
    assert sorted(manager.get_participants("/", None)) == sorted([(sid1, eio1), (sid2, eio2)])
    assert list(manager.get_participants("/", "nobody")) == []
    assert set(manager.get_namespaces()) >= {"/", "/custom"}

    # a client that leaves is removed from every room
    await first.close()
    await until(lambda: sid1 not in manager.rooms["/"][None], "the client to be forgotten")
    index = a.adapter.local.indexes["/"]
    assert all(sid1 not in members for members in manager.rooms["/"].values())
    assert sid1 not in index.sid_rooms and sid1 not in manager.rooms["/"]
    assert "r2" not in manager.rooms["/"]
    assert manager.rooms["/"]["r1"] == {sid2: eio2}
    assert manager.rooms["/custom"] == {None: {}}
    assert a.sio.rooms(sid1) == []

    # and so is one the server disconnects
    await a.sio.disconnect(sid2)
    await until(lambda: not second.sio.connected, "the client to be disconnected", timeout=3)
    assert manager.rooms["/"] == {None: {}}
    assert index.sid_rooms == {} and index.eio_to_sid == {}
    assert len(manager.rooms.get("/", {None: []}).get(None, [])) == 0


# -- 6. Admin UI instrumentation -------------------------------------------------------


async def test_admin_ui_instrumentation_keeps_rooms_and_broadcasts_working(rig: Rig) -> None:
    a, b = await rig.server(), await rig.server()
    # a long stats interval: the stats task would empty admin_queue under our feet
    admin = a.sio.instrument(auth=False, server_stats_interval=3600)
    try:
        assert admin.server_id == a.adapter.uid
        on_a = await rig.client(a.url, rooms=["r1"])
        on_b = await rig.client(b.url, rooms=["r1"])
        sid = on_a.sid()

        def queued(kind: str) -> list[tuple[str, Any]]:
            return [(args[1], args[2]) for event, args in admin.admin_queue if event == kind]

        assert ("r1", sid) in queued("room_joined")
        await b.sio.enter_room(sid, "remote-join")  # through Redis
        await until(lambda: ("remote-join", sid) in queued("room_joined"), "a reported join")
        assert "remote-join" in a.sio.rooms(sid)
        await b.sio.leave_room(sid, "remote-join")
        await until(lambda: ("remote-join", sid) in queued("room_left"), "a reported leave")
        await a.sio.enter_room(sid, "local")
        await a.sio.leave_room(sid, "local")
        assert ("local", sid) in queued("room_joined") and ("local", sid) in queued("room_left")

        await a.sio.emit("to-r1", 1, to="r1")
        await b.sio.emit("to-all", 2)
        assert await on_a.wait_for("to-r1") == [[1]] and await on_b.wait_for("to-r1") == [[1]]
        assert await on_a.wait_for("to-all") == [[2]] and await on_b.wait_for("to-all") == [[2]]

        await a.sio.enter_room(sid, "closing")
        await a.sio.close_room("closing")
        assert ("closing", sid) in queued("room_left")
        assert "closing" not in local_rooms(a)
        await a.sio.enter_room(sid, "closing-remotely")
        await b.sio.close_room("closing-remotely")
        await until(lambda: ("closing-remotely", sid) in queued("room_left"), "remote close")
        assert "closing-remotely" not in local_rooms(a)

        await b.sio.disconnect(sid)
        await until(lambda: not on_a.sio.connected, "the client to be disconnected", timeout=3)
        await until(lambda: sid not in local_rooms(a)[None], "server A to forget the socket")
        assert ("r1", sid) in queued("room_left") and (sid, sid) in queued("room_left")
        assert "r1" not in local_rooms(a) and sid not in a.adapter.local.indexes["/"].sid_rooms
        await a.sio.emit("after", 3, to="r1")
        await check(py_marker(a), [on_b], "after", {0: [3]})
    finally:
        if admin.stats_task is not None:
            admin.stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await admin.stats_task
        admin.uninstrument()
