"""json_dumps_spliced: JSON text with pre-encoded fragments written as they are."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socketio_redis_adapter.protocol.parsers import (
    JsonFragment,
    json_dumps,
    json_dumps_spliced,
)

# values JSON keeps as they are; strings may hold NULs and what looks like a token
texts = st.text() | st.sampled_from(["\x00", "\x00abc0", '"\\u0000', "\\u0000ff1"])
plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def spliced(draw: Any) -> tuple[Any, Any]:
    """(a value with JsonFragments in it, the same value with the fragments decoded)."""
    pieces = draw(st.lists(st.tuples(plain, st.booleans()), min_size=1, max_size=6))
    value, expected = [], []
    for piece, as_fragment in pieces:
        value.append(JsonFragment(json_dumps(piece).decode()) if as_fragment else piece)
        expected.append(piece)
    if draw(st.booleans()):
        return {"sockets": value, "requestId": "r"}, {"sockets": expected, "requestId": "r"}
    return value, expected


@settings(max_examples=300, deadline=None)
@given(spliced())
def test_fragments_are_written_as_their_text(case: tuple[Any, Any]) -> None:
    value, expected = case
    text = json_dumps_spliced(value)
    assert json.loads(text) == expected
    assert text == json_dumps(expected)  # byte for byte what json_dumps writes


@settings(max_examples=200, deadline=None)
@given(plain)
def test_without_fragments_it_is_json_dumps(value: Any) -> None:
    assert json_dumps_spliced(value) == json_dumps(value)


def test_a_handshake_in_a_fetch_answer() -> None:
    handshake = {"headers": {"user-agent": "ü"}, "query": {"EIO": "4"}, "auth": {}}
    fragment = JsonFragment(json_dumps(handshake).decode())
    answer = {"requestId": "x", "sockets": [
        {"id": "a", "handshake": fragment, "rooms": ["a", "r"], "data": None},
        {"id": "b", "handshake": fragment, "rooms": ["b"], "data": {"n": b"\x01"}},
    ]}
    decoded = json.loads(json_dumps_spliced(answer))
    assert [s["handshake"] for s in decoded["sockets"]] == [handshake, handshake]
    assert decoded["sockets"][1]["data"] == {"n": {"type": "Buffer", "data": [1]}}
