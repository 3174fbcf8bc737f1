"""The classic adapter's messages as bytes: the one place that branches on the parser.

A :class:`ClassicCodec` serves one ``key``, parser and server uid.  With the
default msgpack parser, broadcasts go through the fast path's codec
(``pack_broadcast`` / ``unpack_broadcast``, byte for byte what the parser
writes and reads); any other parser encodes :func:`broadcast_value`.
Requests and most responses are JSON whatever the parser, as in Node; a
broadcast with acks and its acks use the parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..fastpath import pack_broadcast, parse_broadcast, unpack_broadcast
from .broadcast import Broadcast, broadcast_value, decode_broadcast
from .channels import Channels
from .parsers import Parser, decode_map, get_parser, is_notepack, json_dumps_spliced


class ClassicCodec:
    """Encode and decode the classic protocol's messages for one server (or emitter).

    :param key: the channel prefix (Node's ``key`` option).
    :param parser: ``"msgpack"``, ``"json"`` or a parser object.
    :param uid: the uid written in broadcasts and requests.
    """

    __slots__ = ("channels", "parser", "uid", "notepack", "own_prefix")

    def __init__(self, key: str, parser: str | Parser, uid: str) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        self.channels = Channels(key)
        self.parser = get_parser(parser)
        self.uid = uid
        #: True when the fast path's msgpack codec stands in for the parser
        self.notepack = is_notepack(self.parser)
        #: how this uid's msgpack broadcasts start (array of 3, str of 6, the uid)
        self.own_prefix: bytes | None = (
            b"\x93\xa6" + uid.encode() if self.notepack and len(uid.encode()) == 6 else None
        )

    # -- broadcasts ------------------------------------------------------

    def table_sizes(self) -> dict[str, int]:
        """None: the classic codec keeps no cache."""
        return {}

    def encode_broadcast(
        self,
        nsp: str,
        data: list[Any],
        rooms: Sequence[Any],
        except_rooms: Sequence[Any],
        flags: dict[str, Any],
        *,
        emitter: bool = False,
    ) -> tuple[bytes, bytes]:
        """Return the channel and the bytes of a broadcast.

        With ``emitter`` the ``opts`` keys are in the order of Node's emitter.
        Raises ``TypeError`` when the data cannot be serialized.
        """
        if self.notepack:
            message = pack_broadcast(
                self.uid, nsp, data, rooms, except_rooms, flags, emitter=emitter
            )
        else:
            message = self.parser.encode(
                broadcast_value(self.uid, nsp, data, rooms, except_rooms, flags, emitter=emitter)
            )
        # Node's channel choice: the room's own channel when there is exactly one room
        channels = self.channels
        return channels.room(nsp, rooms[0]) if len(rooms) == 1 else channels.broadcast(nsp), message

    def is_own_broadcast(self, data: bytes) -> bool:
        """True for a msgpack broadcast this uid sent, recognised without decoding."""
        own = self.own_prefix
        return own is not None and data.startswith(own)

    def decode_broadcast(self, data: bytes) -> Broadcast:
        """Decode and validate a broadcast; raise ``MalformedMessage``."""
        if self.notepack:
            return unpack_broadcast(data)
        return decode_broadcast(self.parser, data)

    @staticmethod
    def read_broadcast(value: Any) -> Broadcast:
        """Validate an already decoded ``[uid, packet, opts]``; raise ``MalformedMessage``."""
        return parse_broadcast(value)

    # -- requests and responses -------------------------------------------

    @staticmethod
    def encode_json(value: dict[str, Any]) -> bytes:
        """Requests and most responses: JSON, as Node writes them (a ``JsonFragment``
        in ``value`` is written as its text)."""
        return json_dumps_spliced(value)

    def encode_with_parser(self, value: dict[str, Any]) -> bytes:
        """A broadcast request with acks (7) and its acks (9) use the parser."""
        return self.parser.encode(value)

    def decode_request(self, payload: bytes) -> dict[str, Any]:
        """Decode a request or response: JSON when it starts with ``{``, else the parser."""
        return decode_request(self.parser, payload)


def decode_request(parser: Parser, payload: bytes) -> dict[str, Any]:
    """Decode a request or response: JSON when it starts with ``{``, else ``parser``.

    Raises ``MalformedMessage`` when it cannot be decoded or is not a map.
    """
    return decode_map(parser.decode, payload, "request")


__all__ = ["ClassicCodec", "decode_request"]
