"""The sharded codec's fast encoding and the fast JSON decoding give exactly the bytes
and values of the plain rule they stand in for.

The rule (Node's): a message whose type may carry binary is MessagePack when its data
holds some, JSON (``json_dumps``) otherwise.  ``ShardedCodec.encode`` and
``encode_broadcast`` get there by one JSON encoding first (the compiled core's writer or
json's encoder stopped at the first binary value) and, for a plain emit to one room, by
pasting the event's JSON between a fixed head and a cached ending.  ``json_loads`` runs
json's scanner without ``json.loads``' preliminaries.  Run with the compiled core and in
pure Python (``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1``), as the suite is.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socketio_redis_adapter.protocol import notepack
from socketio_redis_adapter.protocol.parsers import json_dumps, json_loads
from socketio_redis_adapter.protocol.sharded import (
    BINARY_TYPES,
    MessageType,
    broadcast_data,
    envelope,
    has_binary,
)
from socketio_redis_adapter.protocol.sharded_codec import ShardedCodec

UID = "43276ad20120028e"


def rule(kind: MessageType, data: dict[str, Any] | None, nsp: str) -> bytes:
    """Node's encoding rule, written plainly (the codec's reference)."""
    message = envelope(kind, data, UID, nsp)
    if kind in BINARY_TYPES and data is not None and has_binary(data):
        return notepack.packb(message)
    return json_dumps(message)


def outcome(function: Any, *args: Any) -> Any:
    """The bytes ``function`` returns, or the type of what it raises."""
    try:
        return function(*args)
    except Exception as exc:
        return type(exc)


# text that json escapes differently with and without ensure_ascii (DEL, non-ASCII,
# astral), or always (controls, quotes, backslashes, a literal backslash-u)
TRICKY = "\x7f\x00\x1f\\\"u\\u00e9\u00e9\u2028\U0001f600ab"
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=8), st.text(alphabet=TRICKY, max_size=8),
    st.binary(max_size=4), st.builds(bytearray, st.binary(max_size=3)),
    st.datetimes(), st.sets(st.integers(), max_size=1),  # a set: neither JSON nor msgpack
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=12,
)
ROOMS = st.lists(st.one_of(st.text(alphabet=TRICKY + "r1#", max_size=6), st.integers()),
                 max_size=3)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(MessageType)),
       st.one_of(st.none(), st.dictionaries(st.text(max_size=5), VALUES, max_size=3)),
       st.sampled_from(["/", "/chat", "/é"]))
def test_encode_is_the_rule(kind: MessageType, data: dict[str, Any] | None, nsp: str) -> None:
    codec = ShardedCodec("p", "dynamic", uid=UID)
    assert outcome(codec.encode, kind, data, nsp) == outcome(rule, kind, data, nsp)


@settings(max_examples=400, deadline=None)
@given(st.lists(VALUES, max_size=3), ROOMS, ROOMS,
       st.sampled_from([{}, {"volatile": True}, {"compress": False}]),
       st.sampled_from(["static", "dynamic", "dynamic-private"]),
       st.sampled_from(["/", "/chat"]))
def test_encode_broadcast_is_the_rule(
    args: list[Any], rooms: list[Any], except_rooms: list[Any], flags: dict[str, Any],
    mode: str, nsp: str,
) -> None:
    codec = ShardedCodec("p", mode, uid=UID)
    payload = ["ev", *args]
    want_channel = codec.channels.for_broadcast(nsp, rooms, False)
    want = outcome(rule, MessageType.BROADCAST,
                   broadcast_data(payload, rooms, except_rooms, flags), nsp)
    for _ in range(2):  # the second time from the one-room cache
        got = outcome(codec.encode_broadcast, nsp, payload, rooms, except_rooms, flags)
        if isinstance(want, bytes):
            assert got == (want_channel, want)
        else:
            assert got is want


def test_one_room_broadcast_bytes() -> None:
    codec = ShardedCodec("p", "dynamic", uid=UID)
    channel, data = codec.encode_broadcast("/", ["ev", {"t": "é\x7f"}], ["r1"], [], {})
    assert channel == b"p#/#r1#"
    assert data == (
        '{"type":3,"data":{"packet":{"type":2,"data":["ev",{"t":"é\x7f"}]},'
        '"opts":{"rooms":["r1"],"except":[],"flags":{}}},"uid":"43276ad20120028e","nsp":"/"}'
    ).encode()
    # binary: MessagePack, as the rule says
    _, packed = codec.encode_broadcast("/", ["ev", b"\x01"], ["r1"], [], {})
    assert packed == rule(
        MessageType.BROADCAST, broadcast_data(["ev", b"\x01"], ["r1"], [], {}), "/"
    )
    # a date, through json_default
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
    _, dated = codec.encode_broadcast("/", ["ev", when], ["r1"], [], {})
    assert b'["ev","2024-01-02T03:04:05.678Z"]' in dated


def test_one_room_cache_is_bounded() -> None:
    codec = ShardedCodec("p", "dynamic", uid=UID)
    for n in range(5000):
        codec.encode_broadcast("/", ["ev"], [f"room-{n}"], [], {})
    assert 0 < len(codec._one_room) <= 4096
    channel, _ = codec.encode_broadcast("/", ["ev"], ["room-1"], [], {})
    assert channel == b"p#/#room-1#"


def test_deep_binary_still_follows_the_rule() -> None:
    codec = ShardedCodec("p", "dynamic", uid=UID)
    deep: Any = b"x"
    for _ in range(300):
        deep = [deep]
    data = {"packet": deep}
    assert codec.encode(MessageType.BROADCAST, data, "/") == rule(
        MessageType.BROADCAST, data, "/"
    )


@settings(max_examples=400, deadline=None)
@given(VALUES.filter(lambda v: not has_binary(v)),
       st.sampled_from(["", " ", "\n", "x", "}"]), st.sampled_from(["", " ", "\ufeff"]),
       st.sampled_from(["utf-8", "utf-16-le", "utf-8-sig"]))
def test_json_loads_is_json_loads(value: Any, tail: str, head: str, encoding: str) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return
    payload = (head + text + tail).encode(encoding, "surrogatepass")
    assert repr(outcome(json_loads, payload)) == repr(outcome(json.loads, payload))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=30))
def test_json_loads_on_any_bytes(payload: bytes) -> None:
    payload = b"{" + payload
    assert repr(outcome(json_loads, payload)) == repr(outcome(json.loads, payload))
