"""Hostile size claims in MessagePack never reach a decoder that could crash on them.

ormsgpack 1.12.2 (the last release for Python 3.10) crashes the process on an
array header that claims billions of items; every other version raises.  The
adapter checks the declared sizes first wherever the installed ormsgpack needs
it, so a garbage message on a broadcast channel is only ever ``malformed``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketio_redis_adapter.protocol import notepack
from socketio_redis_adapter.protocol.broadcast import broadcast_value
from socketio_redis_adapter.protocol.errors import MalformedMessage

HOSTILE = {
    "array32 of 4G items": b"\xdd\xff\xff\xff\xff\xa1u",
    "map32 of 4G pairs": b"\xdf\xff\xff\xff\xff\xa1u\x01",
    "array16 longer than the data": b"\xdc\xff\xff" + b"\x01" * 100,
    "nested array32": b"\x93\xa1u\xdd\xff\xff\xff\xff\x80",
    "fixarray of 15 in 3 bytes": b"\x9f\x01\x02\x03",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_size_check_refuses_impossible_counts(name: str) -> None:
    with pytest.raises(ValueError, match="items in"):
        notepack.check_declared_sizes(HOSTILE[name])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_unpackb_raises_instead_of_crashing(name: str) -> None:
    with pytest.raises(ValueError):
        notepack.unpackb(HOSTILE[name])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_unpack_broadcast_calls_them_malformed(impl: ModuleType, name: str) -> None:
    with pytest.raises(MalformedMessage):
        impl.unpack_broadcast(HOSTILE[name])


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=40) | st.binary(max_size=300),
    lambda children: st.lists(children, max_size=20)
    | st.dictionaries(st.text(max_size=8), children, max_size=20),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(json_like)
def test_size_check_accepts_every_real_value(value: Any) -> None:
    notepack.check_declared_sizes(msgpack.packb(value))
    message = broadcast_value("u", "/", ["e", value], [], [], {})
    notepack.check_declared_sizes(notepack.packb(message))


def test_the_check_is_on_where_ormsgpack_needs_it() -> None:
    version = notepack._version(notepack.ormsgpack.__version__)
    assert notepack.CHECK_SIZES == (version < (1, 13, 1))
    if notepack.CHECK_SIZES:
        assert notepack.ormsgpack_unpackb is not notepack.ormsgpack.unpackb
