"""``RedisAdapter`` on real synchronous servers (threading mode), beside asyncio servers.

Real Redis, real ``socketio.Server`` and Flask-SocketIO apps served by Werkzeug,
real ``AsyncRedisAdapter`` servers and real Socket.IO clients (websocket and
long-polling).  Blocking calls run in worker threads, as a Flask request
thread runs them.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from socketio_redis_adapter import OfflineQueueFull, RedisAdapter, RequestTimeoutError
from socketio_redis_adapter.core.remote_socket import BlockingRemoteSocket
from tests.support.floods import flood_until_a_subscriber_drops, watch_a_held_resubscription
from tests.support.redis_server import RedisServer
from tests.support.sio_cluster import Client, PyServer, settle
from tests.support.sync_server import SyncServer


class Cluster:
    """A sync server, an async server and their clients, stopped at the end of a test."""

    def __init__(self, url: str, flask: bool) -> None:
        self.url = url
        self.flask = flask
        self.key = f"sync-{uuid.uuid4().hex[:8]}"
        self.sync: list[SyncServer] = []
        self.asyncs: list[PyServer] = []
        self.clients: list[Client] = []

    async def sync_server(self, **options: Any) -> SyncServer:
        server = await asyncio.to_thread(
            SyncServer.start, self.url, flask=self.flask, key=self.key,
            requests_timeout=2.0, **options,
        )
        self.sync.append(server)
        return server

    async def async_server(self) -> PyServer:
        server = await PyServer.start(self.url, key=self.key, requests_timeout=2.0)
        self.asyncs.append(server)
        return server

    async def client(self, url: str, **options: Any) -> Client:
        client = await Client.connect(url, **options)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for server in self.asyncs:
            await server.stop()
        for sync in self.sync:
            await asyncio.to_thread(sync.stop)


@pytest.fixture(params=["socketio.Server", "Flask-SocketIO"])
async def cluster(request: pytest.FixtureRequest, redis_server: RedisServer
                  ) -> AsyncIterator[Cluster]:
    rig = Cluster(redis_server.url, request.param == "Flask-SocketIO")
    try:
        yield rig
    finally:
        await rig.close()


async def test_broadcasts_both_ways_with_rooms_except_rooms_and_skip_sid(cluster: Cluster
                                                                         ) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_s = await cluster.client(s.url, rooms=["news", "vip"])
    on_s2 = await cluster.client(s.url, rooms=["news"], transports=["polling"])
    on_a = await cluster.client(a.url, rooms=["news"])
    on_a2 = await cluster.client(a.url, rooms=["vip"])

    await s.call(s.sio.emit, "from-sync", {"n": 1}, to="news")
    for client in (on_s, on_s2, on_a):
        assert await client.wait_for("from-sync") == [[{"n": 1}]]
    await a.sio.emit("from-async", [1, "two"], to="news", skip_sid=on_s2.sid())
    for client in (on_s, on_a):
        assert await client.wait_for("from-async") == [[[1, "two"]]]
    await s.call(s.sio.emit, "except", 3, to=["news", "vip"], skip_sid=on_a.sid())
    await s.call(s.adapter.emit, "except2", 4, "/", to="news", except_rooms="vip")
    for client in (on_s, on_s2, on_a2):
        await client.wait_for("except")
    await on_s2.wait_for("except2")
    await on_a.wait_for("except2")
    await settle()
    assert on_a.named("except") == [] and on_a2.named("from-sync") == []
    assert on_s.named("except2") == [] and on_a2.named("except2") == []
    assert on_s2.named("from-async") == []


async def test_single_sid_binary_namespaces_and_local_only(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_s = await cluster.client(s.url, namespaces=["/", "/chat"])
    on_a = await cluster.client(a.url, namespaces=["/", "/chat"])

    await s.call(s.sio.emit, "direct", b"\x00\x01\xff", to=on_a.sid())  # a sid on the other
    assert await on_a.wait_for("direct") == [[b"\x00\x01\xff"]]
    await a.sio.emit("direct", {"bin": b"\x02"}, to=on_s.sid("/chat"), namespace="/chat")
    assert await on_s.wait_for("direct", namespace="/chat") == [[{"bin": b"\x02"}]]
    await s.call(s.sio.emit, "local", 1, ignore_queue=True)
    await on_s.wait_for("local")
    await settle()
    assert on_a.named("local") == [] and on_s.named("direct") == []


async def test_rooms_and_disconnect_for_sockets_on_other_servers(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_a = await cluster.client(a.url)
    sid = on_a.sid()

    await s.call(s.sio.enter_room, sid, "late")
    await cluster_until(lambda: "late" in a.sio.rooms(sid), "the join on the async server")
    await s.call(s.sio.emit, "late-news", 1, to="late")
    assert await on_a.wait_for("late-news") == [[1]]
    await s.call(s.sio.leave_room, sid, "late")
    await cluster_until(lambda: "late" not in a.sio.rooms(sid), "the leave")
    await s.call(s.sio.enter_room, sid, "closing")
    await cluster_until(lambda: "closing" in a.sio.rooms(sid), "the second join")
    await s.call(s.sio.close_room, "closing")
    await cluster_until(lambda: "closing" not in a.sio.rooms(sid), "close_room")
    await s.call(s.sio.disconnect, sid)
    await cluster_until(lambda: not on_a.sio.connected, "the remote disconnect")


async def test_callbacks_and_call_to_a_sid_on_another_server(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_a = await cluster.client(a.url)
    on_s = await cluster.client(s.url)
    on_a.ack_reply = {"ok": "async-client"}
    on_s.ack_reply = "sync-client"

    got: list[Any] = []
    await s.call(s.sio.emit, "cb", 1, to=on_a.sid(), callback=lambda *args: got.append(args))
    await cluster_until(lambda: got == [({"ok": "async-client"},)], "the callback")
    assert await s.call(s.sio.call, "ask", 2, to=on_a.sid(), timeout=5) == {"ok": "async-client"}
    assert await s.call(s.sio.call, "ask", 3, to=on_s.sid(), timeout=5) == "sync-client"
    assert await a.sio.call("ask", 4, to=on_s.sid(), timeout=5) == "sync-client"


async def test_the_cross_server_api_as_blocking_methods(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_s = await cluster.client(s.url, rooms=["r1"], data={"user": "sync"})
    on_a = await cluster.client(a.url, rooms=["r1", "r2"], data={"user": "async"})
    mgr: RedisAdapter = s.adapter

    assert await s.call(mgr.server_count) == 2
    sockets = await s.call(mgr.fetch_sockets, "r1")
    assert {x.id for x in sockets} == {on_s.sid(), on_a.sid()}
    assert all(isinstance(x, BlockingRemoteSocket) for x in sockets)
    assert {x.id: x.data for x in sockets} == {on_s.sid(): {"user": "sync"},
                                               on_a.sid(): {"user": "async"}}
    assert {"r1", "r2", on_s.sid(), on_a.sid()} <= await s.call(mgr.all_rooms)
    assert {x.id for x in await a.adapter.fetch_sockets("r2")} == {on_a.sid()}

    await s.call(mgr.sockets_join, "joined", rooms="r1")
    await cluster_until(lambda: "joined" in a.sio.rooms(on_a.sid()), "sockets_join")
    assert "joined" in s.sio.rooms(on_s.sid())
    await s.call(mgr.sockets_leave, "joined", rooms="r2")
    await cluster_until(lambda: "joined" not in a.sio.rooms(on_a.sid()), "sockets_leave")
    remote = next(x for x in await s.call(mgr.fetch_sockets, "r2"))
    await s.call(remote.emit, "hello", 5)
    assert await on_a.wait_for("hello") == [[5]]

    on_s.ack_reply = "s"
    on_a.ack_reply = "a"
    assert sorted(await s.call(mgr.emit_with_ack, "ack?", 1, to="r1", timeout=5)) == ["a", "s"]

    seen: list[Any] = []

    def on_ping(*args: Any) -> Any:
        seen.append(args)
        return "pong-async"

    a.adapter.on_server_side_event("ping", on_ping)
    mgr.on_server_side_event("ping", lambda *args: "pong-sync")
    await s.call(mgr.server_side_emit, "ping", 1)
    await cluster_until(lambda: seen == [(1,)], "the server-side event")
    assert await s.call(mgr.server_side_call, "ping", 2) == ["pong-async"]
    assert await a.adapter.server_side_call("ping", 3) == ["pong-sync"]

    await s.call(mgr.disconnect_sockets, rooms="r2")
    await cluster_until(lambda: not on_a.sio.connected, "disconnect_sockets")
    assert on_s.sio.connected


async def never_answers(*args: Any) -> Any:
    """A server-side handler that answers after every timeout of these tests."""
    await asyncio.sleep(30)


async def test_timeouts_raise_request_timeout_error(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    await cluster.client(a.url)

    a.adapter.on_server_side_event("slow", never_answers)
    with pytest.raises(RequestTimeoutError):
        await s.call(s.adapter.server_side_call, "slow")
    quiet = await cluster.client(a.url)

    async def late(*args: Any) -> Any:
        await asyncio.sleep(2)  # acknowledges after the timeout
        return "late"

    quiet.sio.handlers["*"]["*"] = late
    with pytest.raises(RequestTimeoutError):
        await s.call(s.adapter.emit_with_ack, "unanswered", 1, to=quiet.sid(), timeout=0.5)
    await cluster_until(lambda: s.adapter.table_sizes()["pending_requests"] == 0,
                        "the pending requests to be dropped")
    assert s.adapter.table_sizes()["pending_acks"] == 0


async def test_node_style_messages_from_the_async_server_reach_sync_clients_in_order(
    cluster: Cluster,
) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    on_s = await cluster.client(s.url, rooms=["burst"])
    for seq in range(200):
        await a.sio.emit("seq", seq, to="burst")
    await on_s.wait_for("seq", 200, timeout=10)
    assert [args[0] for args in on_s.named("seq")] == list(range(200))
    stats = s.adapter.stats
    assert stats["received"] >= 200 and stats["delivered"] >= 200


async def test_foreign_rooms_are_dropped_unread(cluster: Cluster) -> None:
    s = await cluster.sync_server()
    a = await cluster.async_server()
    await cluster.client(s.url, rooms=["mine"])
    await cluster.client(a.url, rooms=["theirs"])
    for _ in range(20):
        await a.sio.emit("x", 1, to="theirs")
    await a.sio.emit("x", 2, to="mine")
    await cluster_until(lambda: s.adapter.stats["delivered"] >= 1, "the delivery")
    assert s.adapter.stats["dropped"] >= 20


async def test_close_ends_waits_and_stops_the_listener(
    cluster: Cluster, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    s = await cluster.sync_server()
    a = await cluster.async_server()
    await cluster.client(a.url)

    a.adapter.on_server_side_event("slow", never_answers)
    call = asyncio.ensure_future(s.call(s.adapter.server_side_call, "slow"))
    await cluster_until(lambda: s.adapter.table_sizes()["pending_requests"] == 1,
                        "the request to be pending")
    await s.call(s.adapter.close)
    with pytest.raises(ConnectionError):  # AdapterClosedError
        await call
    assert s.adapter.table_sizes()["pending_requests"] == 0
    assert not s.adapter.connection.connected


async def cluster_until(predicate: Any, what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_redis_restart_under_a_listening_sync_server(own_redis: RedisServer) -> None:
    """Killed Redis, back 1 s later: the listener resubscribes by itself and broadcasts
    from the other server reach the sync server's client within 2 s of Redis being back;
    what the sync server emitted meanwhile was held and reaches the other server's client
    first, in order."""
    rig = Cluster(own_redis.url, flask=False)
    try:
        s = await rig.sync_server()
        a = await rig.async_server()
        on_s = await rig.client(s.url, rooms=["r"])
        on_a = await rig.client(a.url, rooms=["r"])
        await a.sio.emit("before", 0, to="r")
        await on_s.wait_for("before")
        # the sync server has counted both servers (every second): it will wait for both
        await cluster_until(lambda: s.adapter.publisher.known_servers == 2, "a count of 2 servers")
        own_redis.kill()
        await asyncio.sleep(1.0)
        for seq in range(1, 6):  # held, not raised, not lost
            await s.call(s.sio.emit, "down", seq, to="r")
        assert s.adapter.stats["offline_queued"] == 5
        assert s.adapter.table_sizes()["offline_queue"] == 5
        own_redis.start()
        loop = asyncio.get_running_loop()
        back = loop.time()
        seq = 0
        while not on_s.named("after"):
            assert loop.time() - back < 2.0, "no delivery within 2 s of Redis being back"
            seq += 1
            try:
                await a.sio.emit("after", seq, to="r")
            except Exception:  # noqa: S110 - the async server may still be reconnecting
                pass
            await asyncio.sleep(0.05)
        resumed = loop.time() - back
        assert s.adapter.stats["reconnects"] >= 1
        # the held broadcasts go out once every server counted before the outage is back;
        # an emit before that would be held behind them (in order, but counted as held too)
        await cluster_until(lambda: not s.adapter.publisher.holding,
                            "the held broadcasts to be published")
        # the held broadcasts reached the async server's client, in order, then new ones
        await s.call(s.sio.emit, "from-sync", 6, to="r")
        assert await on_a.wait_for("from-sync") == [[6]]
        assert on_a.named("down") == [[1], [2], [3], [4], [5]]
        names = [name for _, name, _ in on_a.events if name in ("down", "from-sync")]
        assert names == ["down"] * 5 + ["from-sync"]
        assert on_s.named("down") == [[1], [2], [3], [4], [5]]  # its own clients at once
        stats = s.adapter.stats
        assert (stats["offline_flushed"], stats["offline_dropped"]) == (5, 0)
        assert s.adapter.table_sizes()["offline_queue"] == 0
        print(f"sync server: deliveries resumed {resumed:.2f} s after Redis was back")
    finally:
        await rig.close()


async def test_without_an_offline_queue_an_emit_in_an_outage_raises(own_redis: RedisServer
                                                                    ) -> None:
    """``offline_queue=None``: an emit while Redis is down raises ``OfflineQueueFull``
    after reaching this server's own clients; once Redis is back, emits publish again."""
    rig = Cluster(own_redis.url, flask=False)
    try:
        s = await rig.sync_server(offline_queue=None)
        on_s = await rig.client(s.url, rooms=["r"])
        own_redis.kill()
        await asyncio.sleep(0.5)
        with pytest.raises(OfflineQueueFull):
            await s.call(s.sio.emit, "down", 1, to="r")
        assert await on_s.wait_for("down") == [[1]]
        assert s.adapter.stats["offline_rejected"] >= 1
        own_redis.start()
        a = await rig.async_server()
        on_a = await rig.client(a.url, rooms=["r"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        seq = 0
        while not on_a.named("again"):
            assert loop.time() < deadline, "the sync server never published again"
            seq += 1
            try:
                await s.call(s.sio.emit, "again", seq, to="r")
            except OfflineQueueFull:  # still reconnecting: held broadcasts are refused
                pass
            await asyncio.sleep(0.05)
        assert "down" not in [name for _, name, _ in on_a.events]
    finally:
        await rig.close()


_UNPATCHED = """
import sys
import socketio
from socketio_redis_adapter import RedisAdapter

adapter = RedisAdapter(sys.argv[1], key=sys.argv[2])
socketio.Server(async_mode=sys.argv[3], client_manager=adapter)
for call in (adapter.start, adapter.initialize):
    try:
        call()
    except RuntimeError as exc:
        print("refused:", exc)
adapter.close()
"""


@pytest.mark.parametrize("mode", ["gevent", "eventlet"])
def test_refuses_green_modes_without_a_patched_socket_module(
    redis_server: RedisServer, mode: str,
) -> None:
    """As python-socketio's own managers: a listener on an unpatched socket would block
    every green thread, so the adapter says so instead of hanging.  (In a child process:
    importing eventlet or gevent changes the process.)"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _UNPATCHED, redis_server.url,
         f"green-{uuid.uuid4().hex[:8]}", mode],
        capture_output=True, text=True, timeout=60, check=False,
    )
    refusals = [line for line in result.stdout.splitlines() if line.startswith("refused:")]
    assert len(refusals) == 2, (result.stdout, result.stderr)
    assert all(f"monkey patched socket library to work with {mode}" in line
               for line in refusals), refusals


async def test_malformed_messages_are_counted_and_never_stop_the_listener(
    redis_server: RedisServer,
) -> None:
    rig = Cluster(redis_server.url, flask=False)
    try:
        s = await rig.sync_server()
        on_s = await rig.client(s.url, rooms=["r"])
        channels = s.adapter.channels
        garbage = [b"", b"\xc1", b"\x93\xa1x", b"[1,2", b"\xff" * 100]
        publisher = redis.Redis(port=redis_server.port)
        try:
            for data in garbage:
                publisher.publish(channels.room("/", "r"), data)
                publisher.publish(channels.request("/"), data)
                publisher.publish(channels.response("/"), data)
        finally:
            publisher.close()
        a = await rig.async_server()
        await a.sio.emit("after", 1, to="r")
        assert await on_s.wait_for("after") == [[1]]
        assert s.adapter.stats["malformed"] >= len(garbage)
        assert s.adapter.connection.connected
    finally:
        await rig.close()


async def test_room_state_under_concurrent_request_threads_and_the_listener(
    redis_server: RedisServer,
) -> None:
    """Request threads join and leave a big room while the listener selects its members
    for broadcasts, thread switches forced often: every broadcast arrives, no handler
    fails, nothing deadlocks (the listener and the request threads take the room-state
    lock), and the room ends as the threads left it.  (Under CPython's GIL we could not
    make a race show without the lock either: it makes compound updates atomic by
    construction.)"""
    rig = Cluster(redis_server.url, flask=False)
    interval = sys.getswitchinterval()
    try:
        s = await rig.sync_server()
        a = await rig.async_server()
        watcher = await rig.client(s.url, rooms=["big"])
        mgr = s.adapter
        for i in range(2000):
            mgr.basic_enter_room(f"member{i}", "/", None, eio_sid=f"eio{i}")  # connected
            mgr.basic_enter_room(f"member{i}", "/", "big")
        for index in range(4):
            for n in range(50):
                mgr.basic_enter_room(f"churn{index}-{n}", "/", None, eio_sid=f"e{index}-{n}")
        errors: list[BaseException] = []
        stop = threading.Event()

        def churn(index: int) -> None:
            try:
                for n in range(3000):
                    if stop.is_set():
                        return
                    sid = f"churn{index}-{n % 50}"
                    mgr.basic_enter_room(sid, "/", "big")
                    mgr.basic_leave_room(sid, "/", "big")
            except BaseException as exc:  # reported below
                errors.append(exc)

        sys.setswitchinterval(1e-6)
        threads = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for n in range(200):
            await a.sio.emit("bcast", n, to="big")
        await watcher.wait_for("bcast", 200, timeout=20)
        stop.set()
        await asyncio.to_thread(lambda: [t.join(30) for t in threads])
        sys.setswitchinterval(interval)
        assert not errors, errors
        assert mgr.stats["handler_errors"] == 0, mgr.stats
        members = {sid for sid, _ in mgr.get_participants("/", "big")}
        assert not {sid for sid in members if sid.startswith("churn")}
        assert len(members) == 2001
    finally:
        sys.setswitchinterval(interval)
        await rig.close()


async def test_a_slow_consumer_dropped_by_redis_is_logged_counted_and_resumes(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture,
) -> None:
    """The listener is held (the test takes the room-state lock its handler needs) while
    another thread floods a channel it reads, past a 256 KB pubsub output-buffer limit."""
    admin = redis.Redis(port=own_redis.port, socket_timeout=5)
    admin.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
    caplog.set_level(logging.WARNING, logger="socketio_redis_adapter")
    rig = Cluster(own_redis.url, flask=False)
    try:
        s = await rig.sync_server()
        a = await rig.async_server()
        on_s = await rig.client(s.url, rooms=["r"])
        await a.sio.emit("before", 0, to="r")
        await on_s.wait_for("before")
        channel, message = s.adapter.codec.encode_broadcast(
            "/", ["flood", b"\x00" * 8192], ["r"], [], {}
        )
        result: dict[str, int] = {}

        def hold_and_flood() -> None:
            with s.adapter._state_lock:  # the listener waits for it in its first message
                flood_until_a_subscriber_drops(own_redis.port, "PUBLISH", channel, message,
                                               time.monotonic() + 30, result)

        await asyncio.to_thread(hold_and_flood)
        assert result["dropped"] >= 1, result
        await cluster_until(lambda: s.adapter.stats["slow_consumer_disconnects"] >= 1,
                            "the drop to be reported", timeout=15)
        assert s.adapter.stats["closed_by_redis"] >= 1
        assert any("Redis closed the subscriber connection" in r.getMessage()
                   and "client-output-buffer-limit pubsub" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
        await a.sio.emit("after", 1, to="r")
        assert await on_s.wait_for("after", timeout=10) == [[1]]
    finally:
        await rig.close()
        admin.close()


async def test_a_replaced_subscriber_is_up_only_once_redis_confirms_its_subscriptions(
    own_redis: RedisServer,
) -> None:
    """Between a new subscriber connection and Redis' confirmation of what it subscribes
    again, a PUBLISH may still miss it: not ``connected``, and the drop is reported only
    once Redis confirmed."""
    rig = Cluster(own_redis.url, flask=False)
    try:
        s = await rig.sync_server()
        transport = s.adapter.connection
        # start() returned: Redis confirmed every subscription (even ones the server's own
        # initialize() had made without waiting just before)
        assert transport.connected
        seconds = await watch_a_held_resubscription(own_redis.port, transport,
                                                    lambda: s.adapter.stats)
        assert seconds >= 1.2, seconds
        await cluster_until(lambda: s.adapter.stats["closed_by_redis"] >= 1,
                            "the drop to be reported")
    finally:
        await rig.close()


async def test_the_listener_yields_during_a_burst(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ``yield_every`` deliveries the listener sleeps(0), the state lock released,
    so that other green threads (gevent, eventlet) run during a burst for a big room."""
    from socketio_redis_adapter.manager import sync_base  # noqa: PLC0415 - the module to patch

    monkeypatch.setattr(sync_base.SyncManagerBase, "yield_every", 6)  # every 2 messages
    rig = Cluster(redis_server.url, flask=False)
    try:
        s = await rig.sync_server()
        a = await rig.async_server()
        clients = [await rig.client(s.url, rooms=["big"]) for _ in range(2)]
        yields: list[bool] = []
        sleep = s.sio.sleep

        def counting_sleep(seconds: float = 0) -> None:
            if sys._getframe(1).f_code.co_name == "locked":  # the pacing, not the transport
                yields.append(s.adapter._state_lock._is_owned())
            sleep(seconds)

        s.sio.sleep = counting_sleep
        for n in range(40):
            await a.sio.emit("burst", n, to="big")
        for client in clients:
            assert [x[0] for x in await client.wait_for("burst", 40)] == list(range(40))
        assert len(yields) >= 40 // 2 - 1, yields
        assert not any(yields)  # never while holding the room-state lock
    finally:
        await rig.close()


async def test_close_right_after_a_burst_logs_nothing_and_every_emit_arrives(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The synchronous adapter's ``close()`` right after a burst of emits reads Redis'
    confirmations of what it posted before closing: every emit reaches the other
    server's client and nothing is logged."""
    caplog.set_level(logging.INFO, logger="socketio_redis_adapter")
    rig = Cluster(own_redis.url, flask=False)
    try:
        s = await rig.sync_server()
        a = await rig.async_server()
        on_a = await rig.client(a.url, rooms=["r"])
        await s.call(s.adapter.start)

        def burst() -> None:
            for seq in range(300):
                s.sio.emit("burst", seq, to="r")
            s.adapter.close()

        await s.call(burst)
        got = await on_a.wait_for("burst", 300, timeout=10)
        assert [args[0] for args in got] == list(range(300))
        await asyncio.sleep(0.5)
        warnings = [record.getMessage() for record in caplog.records
                    if record.name.startswith("socketio_redis_adapter")
                    and record.levelno >= logging.WARNING]
        assert warnings == []
        assert s.adapter.stats["publish_failures"] == 0
    finally:
        await rig.close()
