"""A python-socketio manager as a cross-server engine sees it (the engine's ``LocalSide``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.fanout import Fanout
from ..core.local_rooms import LocalRooms
from ..protocol.handshake import HandshakeCache, handshake_from_environ
from ..protocol.requests import Selector

CallLater = Callable[[float, Callable[[list[tuple[str, int]]], None], list[tuple[str, int]]],
                     Any]


class ManagerSide:
    """This server's sockets, rooms and fan-out, for an engine.

    Joins and leaves go through the manager's ``basic_enter_room`` /
    ``basic_leave_room`` (so instrumentation such as the Admin UI sees
    them), and acknowledgement ids through python-socketio's own
    ``_generate_ack_id``, so ``trigger_callback`` finds them.

    :param manager: the python-socketio manager (sync or asyncio).
    :param local: its room state.
    :param fanout: its fan-out.
    :param call_later: ``call_later(delay, function, arg)`` (the event
                       loop's, or a timer's for a synchronous manager).
    """

    __slots__ = ("manager", "local", "fanout", "_call_later")

    def __init__(self, manager: Any, local: LocalRooms, fanout: Fanout,
                 call_later: CallLater) -> None:
        self.manager = manager
        self.local = local
        self.fanout = fanout
        self._call_later = call_later

    def has_namespace(self, nsp: str) -> bool:
        return self.local.get(nsp) is not None

    def has_sid(self, nsp: str, sid: Any) -> bool:
        return self.local.has_sid(nsp, sid)

    def select(self, nsp: str, selector: Selector) -> dict[str, str]:
        return self.local.select(nsp, selector)

    def rooms(self, nsp: str) -> set[Any]:
        return self.local.rooms(nsp)

    def describe(self, nsp: str, selector: Selector, handshake_json: bool = False
                 ) -> list[dict[str, Any]]:
        index = self.local.get(nsp)
        if index is None:
            return []
        server = self.manager.server
        sockets = server.eio.sockets
        environs = server.environ
        handshakes: HandshakeCache = self.manager.handshakes
        handshake_of = handshakes.get_json if handshake_json else handshakes.get
        details = []
        for sid, eio_sid in index.select(selector.rooms, selector.except_rooms).items():
            socket = sockets.get(eio_sid)
            environ = environs.get(eio_sid)
            session = socket.session.get(nsp, {}) if socket is not None else {}
            details.append({
                "id": sid,
                "handshake": handshake_of(eio_sid, environ) if environ is not None
                else handshake_from_environ({}),
                "rooms": index.rooms_of(sid),
                "data": session.get("data") if isinstance(session, dict) else None,
            })
        return details

    def join(self, nsp: str, sid: str, room: Any) -> None:
        self.manager.basic_enter_room(sid, nsp, room)

    def leave(self, nsp: str, sid: str, room: Any) -> None:
        self.manager.basic_leave_room(sid, nsp, room)

    def deliver_with_acks(
        self, nsp: str, payload: list[Any], rooms: list[Any], except_rooms: list[Any],
        on_ack: Callable[..., Any], expires: float | None,
    ) -> int:
        index = self.local.get(nsp)
        if index is None:
            return 0
        generate = self.manager._generate_ack_id  # python-socketio's, for trigger_callback
        count, registered = self.fanout.deliver_with_acks(
            index, nsp, payload, rooms, except_rooms, lambda sid: generate(sid, on_ack)
        )
        if expires is not None and registered:
            self._call_later(expires, self._forget_acks, registered)
        return count

    def _forget_acks(self, registered: list[tuple[str, int]]) -> None:
        callbacks = self.manager.callbacks
        for sid, ack_id in registered:
            pending = callbacks.get(sid)
            if pending is not None:
                pending.pop(ack_id, None)


__all__ = ["ManagerSide"]
