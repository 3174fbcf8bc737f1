"""What the layering promises: background work is owned, room arguments have one
rule, the responder answers without I/O, the emitters import light, imports follow
the layer table, and a manager is python-socketio's class plus one of ours."""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import logging
import pkgutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Protocol

import pytest
from socketio.base_manager import BaseManager

import socketio_redis_adapter
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


# -- the house: the layer table and the managers' shape -------------------------

SOURCE = Path(__file__).resolve().parent.parent / "src" / "adapter"

#: each layer, and the layers its modules may import from (besides their own)
LAYERS: dict[str, set[str]] = {
    "leaf": set(),
    "fastpath": {"protocol", "leaf"},  # the fast-path twins and protocol/ are one layer
    "protocol": {"fastpath", "leaf"},
    "transport": {"fastpath", "leaf"},
    "core": {"protocol", "fastpath", "leaf", "transport.errors", "transport.reconnect"},
    "blocking": {"core", "leaf"},
    "engine": {"protocol", "fastpath", "core", "leaf", "transport.base", "transport.errors"},
    "manager": {"protocol", "fastpath", "core", "blocking", "engine.flavour", "engine.base",
                "engine.answers", "engine.local_side", "leaf", "transport.base",
                "transport.limits"},
    "face": {"manager", "engine.flavour", "engine.classic.flavour", "engine.sharded.flavour",
             "protocol", "core.offline_queue", "transport", "fastpath", "leaf"},
    "emitter": {"protocol", "fastpath", "transport", "leaf"},
    "package": {"leaf", "fastpath", "protocol", "transport", "core", "face", "emitter"},
}


def _layer(module: str) -> str:
    top = module.split(".")[0]
    if top in ("uid", "completion"):
        return "leaf"
    if top in ("fastpath", "_fastpath_py", "_fastpath"):
        return "fastpath"
    if top in ("adapter", "sharded_adapter", "sync_adapter"):
        return "face"
    return top or "package"


def _imports() -> dict[str, set[str]]:
    """Every module of the package (dotted, relative to it) and the modules of the
    package it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        here = parts[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here[: len(here) - (node.level - 1)]
                if node.module is None:
                    targets.update(".".join([*base, alias.name]) for alias in node.names)
                else:
                    targets.add(".".join([*base, node.module]))
        found[module] = targets
    return found


def _allowed(source: str, target: str) -> bool:
    layer, target_layer = _layer(source), _layer(target)
    if layer == target_layer:
        if layer != "engine":
            return True
        # a flavour folder never imports another; the shared engine imports none
        source_flavour = source.split(".")[1] if source.count(".") >= 2 else None
        target_flavour = target.split(".")[1] if target.count(".") >= 2 else None
        return target_flavour is None or target_flavour == source_flavour
    return any(target == rule or target.startswith(rule + ".") or target_layer == rule
               for rule in LAYERS[layer])


def test_imports_follow_the_layer_table() -> None:
    """Each module imports only from its own layer and those below it (``LAYERS``), the
    flavour folders of the engine never import one another, and no two modules import
    each other, directly or through others."""
    imports = _imports()
    assert len(imports) > 60, "the walk found too few modules to mean anything"
    wrong = [f"{source} -> {target}" for source, targets in imports.items()
             for target in sorted(targets) if not _allowed(source, target)]
    assert wrong == []
    # no cycle: a depth-first walk over the module graph (the fast-path twins excluded:
    # the chooser and the pure twin import each other's names by design)
    graph = {module: {target for target in targets if target in imports}
             for module, targets in imports.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1 and _layer(target) != "fastpath":
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def _our_classes() -> list[type]:
    classes = []
    for info in pkgutil.walk_packages(socketio_redis_adapter.__path__, "socketio_redis_adapter."):
        module = importlib.import_module(info.name)
        classes += [value for value in vars(module).values()
                    if isinstance(value, type) and value.__module__ == module.__name__]
    return classes


def test_every_manager_has_python_socketios_class_and_one_of_ours_among_its_bases() -> None:
    """A manager is python-socketio's manager class plus at most one class of this
    package (interfaces, ``Protocol`` subclasses, do not count): no stack of mixins."""
    managers = [cls for cls in _our_classes() if issubclass(cls, BaseManager)]
    names = {cls.__name__ for cls in managers}
    assert {"AsyncRedisAdapter", "AsyncShardedRedisAdapter", "RedisAdapter", "ManagerBase",
            "AsyncManagerBase", "SyncManagerBase"} <= names
    for cls in managers:
        ours = [base for base in cls.__bases__
                if base.__module__.startswith("socketio_redis_adapter")
                and Protocol not in base.__mro__]
        theirs = [base for base in cls.__bases__ if base not in ours]
        assert len(ours) <= 1, f"{cls.__name__}: {ours}"
        assert all(base.__module__.startswith("socketio.") for base in theirs), (
            f"{cls.__name__}: {theirs}"
        )
