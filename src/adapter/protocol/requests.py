"""Requests and responses of the classic adapter, as typed shapes.

Builders return the dicts in the key order Node's adapter 8.3 writes on the
wire (checked against captures in ``tests/test_codec.py``); readers validate
a decoded request and raise :class:`MalformedMessage` before anything is
acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .broadcast import event_packet
from .errors import MalformedMessage
from .rooms import parse_rooms


class RequestType(IntEnum):
    """Request and response types of the Node adapter (``RequestType`` enum)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


#: the requests that act on sockets chosen by a selector
SOCKET_REQUESTS = frozenset(
    {RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT}
)
#: the requests every server answers with what it holds
QUERY_REQUESTS = frozenset({RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH})


@dataclass(slots=True)
class Selector:
    """Which sockets an operation is for: in ``rooms`` (all when empty), not in ``except_rooms``."""

    rooms: list[Any]
    except_rooms: list[Any]

    def opts(self) -> dict[str, Any]:
        """The ``opts`` map of requests 2 to 5 (no ``flags``, as Node)."""
        return {"rooms": self.rooms, "except": self.except_rooms}

    @classmethod
    def read(cls, opts: Any) -> Selector:
        """Read ``opts`` from a request; ``None`` selects every socket."""
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            raise MalformedMessage("opts is not a map")
        return cls(
            parse_rooms(opts.get("rooms"), "rooms"), parse_rooms(opts.get("except"), "except")
        )


# -- building requests -------------------------------------------------------


def all_rooms_request(uid: str, request_id: str) -> dict[str, Any]:
    return {"uid": uid, "requestId": request_id, "type": RequestType.ALL_ROOMS}


def fetch_request(uid: str, request_id: str, selector: Selector) -> dict[str, Any]:
    return {"uid": uid, "requestId": request_id, "type": RequestType.REMOTE_FETCH,
            "opts": selector.opts()}


def _sockets_request(
    uid: str | None, kind: RequestType, selector: Selector, key: str, value: Any
) -> dict[str, Any]:
    # an emitter (uid None) writes no uid, as Node's emitter
    head: dict[str, Any] = {} if uid is None else {"uid": uid}
    return {**head, "type": kind, "opts": selector.opts(), key: value}


def join_request(uid: str | None, selector: Selector, rooms: list[Any]) -> dict[str, Any]:
    return _sockets_request(uid, RequestType.REMOTE_JOIN, selector, "rooms", rooms)


def leave_request(uid: str | None, selector: Selector, rooms: list[Any]) -> dict[str, Any]:
    return _sockets_request(uid, RequestType.REMOTE_LEAVE, selector, "rooms", rooms)


def disconnect_request(uid: str | None, selector: Selector, close: bool) -> dict[str, Any]:
    return _sockets_request(uid, RequestType.REMOTE_DISCONNECT, selector, "close", bool(close))


def server_side_request(uid: str, data: list[Any], request_id: str | None = None
                        ) -> dict[str, Any]:
    """SERVER_SIDE_EMIT; with ``request_id`` the receivers answer (``serverSideEmit`` with ack)."""
    if request_id is None:
        return {"uid": uid, "type": RequestType.SERVER_SIDE_EMIT, "data": data}
    return {"uid": uid, "requestId": request_id, "type": RequestType.SERVER_SIDE_EMIT,
            "data": data}


def ack_broadcast_request(
    uid: str, request_id: str, nsp: str, data: list[Any], rooms: list[Any],
    except_rooms: list[Any], flags: dict[str, Any],
) -> dict[str, Any]:
    """BROADCAST (7): a broadcast whose clients' acknowledgements come back."""
    return {
        "uid": uid,
        "requestId": request_id,
        "type": RequestType.BROADCAST,
        "packet": event_packet(nsp, data),
        "opts": {"rooms": rooms, "except": except_rooms, "flags": flags},
    }


# -- building responses ------------------------------------------------------


def done_response(request_id: str) -> dict[str, Any]:
    """The answer to a legacy by-sid join, leave or disconnect."""
    return {"requestId": request_id}


def rooms_response(request_id: str, rooms: list[Any]) -> dict[str, Any]:
    return {"requestId": request_id, "rooms": rooms}


def sockets_response(request_id: str, sockets: list[Any]) -> dict[str, Any]:
    """The answer to SOCKETS (sids) and REMOTE_FETCH (socket details)."""
    return {"requestId": request_id, "sockets": sockets}


def server_side_response(request_id: str, data: Any) -> dict[str, Any]:
    return {"type": RequestType.SERVER_SIDE_EMIT, "requestId": request_id, "data": data}


def client_count_response(request_id: str, count: int) -> dict[str, Any]:
    return {"type": RequestType.BROADCAST_CLIENT_COUNT, "requestId": request_id,
            "clientCount": count}


def ack_response(request_id: str, packet: Any) -> dict[str, Any]:
    return {"type": RequestType.BROADCAST_ACK, "requestId": request_id, "packet": packet}


# -- reading requests --------------------------------------------------------


@dataclass(slots=True)
class SocketsRequest:
    """A join (2), leave (3) or disconnect (4), in the selector or the legacy by-sid form."""

    kind: RequestType
    uid: Any
    selector: Selector | None
    rooms: list[Any]
    close: bool
    #: the legacy form's socket and request id (only its owner answers)
    sid: Any = None
    request_id: str | None = None


def read_sockets_request(kind: RequestType, request: dict[str, Any]) -> SocketsRequest:
    uid = request.get("uid")
    close = bool(request.get("close"))
    if "sid" in request:
        request_id = request.get("requestId")
        return SocketsRequest(
            kind, uid, None, [request.get("room")], close, request["sid"],
            request_id if isinstance(request_id, str) else None,
        )
    selector = Selector.read(request.get("opts"))
    rooms = (
        parse_rooms(request.get("rooms"), "rooms")
        if kind != RequestType.REMOTE_DISCONNECT else []
    )
    return SocketsRequest(kind, uid, selector, rooms, close)


def read_request_id(request: dict[str, Any]) -> str:
    request_id = request.get("requestId")
    if not isinstance(request_id, str):
        raise MalformedMessage("a request without requestId")
    return request_id


@dataclass(slots=True)
class ServerSideEvent:
    """A SERVER_SIDE_EMIT (6): an event for the servers themselves."""

    uid: Any
    event: str
    args: list[Any]
    #: set when the sender waits for one answer per server
    request_id: str | None


def read_server_side_event(request: dict[str, Any]) -> ServerSideEvent:
    data = request.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise MalformedMessage("a server-side event without [event, ...args]")
    request_id = request.get("requestId")
    return ServerSideEvent(
        request.get("uid"), data[0], data[1:], request_id if isinstance(request_id, str) else None
    )


def read_kind(value: dict[str, Any]) -> RequestType | None:
    """The request or response type, or None when it is not one of Node's."""
    kind = value.get("type")
    if isinstance(kind, int) and not isinstance(kind, bool):
        try:
            return RequestType(kind)
        except ValueError:
            return None
    return None


__all__ = [
    "QUERY_REQUESTS",
    "SOCKET_REQUESTS",
    "RequestType",
    "Selector",
    "ServerSideEvent",
    "SocketsRequest",
    "ack_broadcast_request",
    "ack_response",
    "all_rooms_request",
    "client_count_response",
    "disconnect_request",
    "done_response",
    "fetch_request",
    "join_request",
    "leave_request",
    "read_kind",
    "read_request_id",
    "read_server_side_event",
    "read_sockets_request",
    "rooms_response",
    "server_side_request",
    "server_side_response",
    "sockets_response",
]
