"""Parsers: how broadcasts (and some responses) become bytes, as Node's ``parser`` option.

``msgpack`` (the default) writes MessagePack as Node's ``notepack.io`` 3 does;
``json`` writes what ``JSON.stringify`` writes.  Requests and most responses
are always JSON, whatever the parser (see :mod:`.classic`).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from typing import Any, Protocol

from . import notepack
from .errors import MalformedMessage


class Parser(Protocol):
    """Encodes and decodes broadcast messages, like the Node ``parser`` option."""

    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class MsgpackParser:
    """The default parser: MessagePack as ``notepack.io`` 3 writes it."""

    name = "msgpack"

    def encode(self, value: Any) -> bytes:
        return notepack.packb(value)

    def decode(self, data: bytes) -> Any:
        return notepack.unpackb(data)


def json_default(value: Any) -> Any:
    """``default`` hook for ``json.dumps``: Buffers and Dates as Node writes them."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        # what JSON.stringify makes of a Node Buffer
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> bytes:
    """Serialize like ``JSON.stringify``: compact, UTF-8, Buffers as objects."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=json_default
    ).encode()


class JsonFragment:
    """JSON text that :func:`json_dumps_spliced` writes as it is (made once, written
    many times: a connection's handshake in every ``fetch_sockets`` answer)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonFragment({self.text!r})"


def json_dumps_spliced(value: Any) -> bytes:
    """:func:`json_dumps`, with each :class:`JsonFragment` in ``value`` written as its text.

    The fragments are written first as strings holding a token of this call
    (random, after a NUL, which JSON always escapes) and an index, then the
    text is cut at each token's opening quote and the fragments put in.
    """
    fragments: list[str] = []
    token = os.urandom(8).hex()

    def default(obj: Any) -> Any:
        if type(obj) is JsonFragment:
            fragments.append(obj.text)
            return f"\x00{token}{len(fragments) - 1}"
        return json_default(obj)

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)
    if not fragments:
        return text.encode()
    pieces = text.split(f'"\\u0000{token}')
    out = [pieces[0]]
    for piece in pieces[1:]:
        index, _, rest = piece.partition('"')
        out.append(fragments[int(index)])
        out.append(rest)
    return "".join(out).encode()


class JsonParser:
    """A JSON parser, for clusters whose Node servers use ``parser: JSON``.

    Binary data does not survive JSON: ``bytes`` travel as Node's
    ``{"type": "Buffer", "data": [...]}`` object.
    """

    name = "json"

    def encode(self, value: Any) -> bytes:
        return json_dumps(value)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def get_parser(parser: str | Parser) -> Parser:
    """Return the parser named ``"msgpack"`` or ``"json"``, or ``parser`` itself."""
    if parser == "msgpack":
        return MsgpackParser()
    if parser == "json":
        return JsonParser()
    if isinstance(parser, str):
        raise ValueError(f"unknown parser {parser!r}: use 'msgpack', 'json' or an object")
    if not callable(getattr(parser, "encode", None)) or not callable(
        getattr(parser, "decode", None)
    ):
        raise TypeError("a parser needs encode(value) -> bytes and decode(bytes) methods")
    return parser


# what json.loads scans with (JSONDecoder sets it in __init__; typeshed omits it)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_loads(payload: bytes) -> Any:
    """``json.loads(payload)``, faster for the usual message: UTF-8 text of one JSON value.

    The usual case runs json's own scanner (what ``json.loads`` runs) on the
    decoded text without ``loads``' encoding detection and whitespace steps;
    anything else (another encoding, a BOM, surrounding whitespace, invalid
    JSON) goes to ``json.loads`` itself, so results and errors are its own.
    """
    try:
        text = payload.decode()
        value, end = _scan_once(text, 0)
    except Exception:
        return json.loads(payload)
    if end != len(text):
        return json.loads(payload)
    return value


def decode_map(decode: Callable[[bytes], Any], payload: bytes, what: str) -> dict[str, Any]:
    """Decode a message that must be a map: JSON when it starts with ``{``, else ``decode``.

    How Node tells the two apart on its request, response and sharded
    channels.  Raises ``MalformedMessage`` ("undecodable <what>" or "a <what>
    is not a map").
    """
    try:
        value = json_loads(payload) if payload[:1] == b"{" else decode(payload)
    except Exception as exc:
        raise MalformedMessage(f"undecodable {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedMessage(f"a {what} is not a map")
    return value


def is_notepack(parser: Parser) -> bool:
    """True when ``parser`` is exactly the default msgpack parser.

    Only then may the fast path's msgpack codec stand in for it (a subclass
    may change what ``encode`` writes).
    """
    return type(parser) is MsgpackParser


__all__ = [
    "JsonParser",
    "MsgpackParser",
    "Parser",
    "decode_map",
    "get_parser",
    "is_notepack",
    "json_default",
    "json_dumps",
    "json_loads",
]
