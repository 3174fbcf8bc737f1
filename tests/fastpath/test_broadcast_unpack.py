"""unpack_broadcast: decoding and validating a broadcast."""

from __future__ import annotations

import datetime
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fastpath.helpers import (
    HYPOTHESIS,
    UTC,
    ext,
    packb_reference,
    reference_unpack,
    timezones,
    unpack_outcome,
)


def with_data_value(raw: bytes) -> bytes:
    """``["u", {"data": ["e", <raw>]}, {}]``."""
    return b"\x93\xa1u\x81\xa4data\x92\xa1e" + raw + b"\x80"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x93",
        b"\x93\xa1u",
        b"\x90",
        b"\x81\x01\x02",
        b"\xa3abc",
        b"\x93\xa1u\x81\xa4data\x91\xa1e\x80trailing",
        b"\x93\xa1u\x81\x01\x02\x80",  # an int map key
        b"\x93\xa2\xff\xfe\x81\xa4data\x91\xa1e\x80",  # invalid UTF-8
        b"\x93\xa1u\x81\xa4data\x91\x01\x80",
        bytearray(b"\x93\xa1u\x81\xa4data\x91\xa1e\xc0"),
        memoryview(b"\x93\xa1u\x81\xa4data\x91\xa1e\xc0"),
        "text",
        None,
    ],
)
def test_unpack_broadcast_malformed(impl: ModuleType, data: Any) -> None:
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@pytest.mark.parametrize(
    "raw",
    [
        ext(-1, struct.pack(">I", 0)),
        ext(-1, struct.pack(">I", 2**32 - 1)),
        ext(-1, struct.pack(">Q", (999_999_999 << 34) | (2**34 - 1))),
        ext(-1, struct.pack(">Q", (1_000_000_000 << 34) | 5)),  # nanoseconds out of range
        ext(-1, struct.pack(">Q", ((2**30 - 1) << 34) | 1)),
        ext(-1, struct.pack(">Iq", 0, -1)),
        ext(-1, struct.pack(">Iq", 999_999_999, -1)),
        ext(-1, struct.pack(">Iq", 123_456_789, -62135596800)),
        ext(-1, struct.pack(">Iq", 0, -62135596801)),  # before year 1
        ext(-1, struct.pack(">Iq", 999_999_000, 253402300799)),
        ext(-1, struct.pack(">Iq", 0, 253402300800)),  # after year 9999
        ext(-1, struct.pack(">Iq", 2**32 - 1, 253402300795)),
        ext(-1, struct.pack(">Iq", 0, 2**63 - 1)),
        ext(-1, struct.pack(">Iq", 0, -(2**63))),
        ext(-1, b"\x00" * 5),
        ext(-1, b""),
        ext(0, b"\x00"),  # notepack 2: undefined
        ext(0, struct.pack(">q", 1_700_000_000_123)),  # notepack 2: Date
        ext(0, struct.pack(">q", -(2**62))),
        ext(0, b"abc"),  # notepack 2: ArrayBuffer
        ext(5, b"xyz"),
    ],
)
def test_unpack_broadcast_extensions(impl: ModuleType, raw: bytes) -> None:
    data = with_data_value(raw)
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@given(
    seconds=st.integers(-62135596800 - 5, 253402300799 + 5) | st.integers(-(2**63), 2**63 - 1),
    nanoseconds=st.integers(0, 999_999_999) | st.integers(0, 2**32 - 1),
    form=st.sampled_from([4, 8, 12]),
)
@HYPOTHESIS
def test_unpack_broadcast_timestamps(
    impl: ModuleType, seconds: int, nanoseconds: int, form: int
) -> None:
    if form == 4:
        payload = struct.pack(">I", seconds % 2**32)
    elif form == 8:
        payload = struct.pack(">Q", ((nanoseconds % 2**30) << 34) | (seconds % 2**34))
    else:
        payload = struct.pack(">Iq", nanoseconds, seconds)
    data = with_data_value(ext(-1, payload))
    want = unpack_outcome(reference_unpack, data)
    assert unpack_outcome(impl.unpack_broadcast, data) == want


@given(
    value=st.datetimes(
        min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
        timezones=timezones,
    )
)
@HYPOTHESIS
def test_broadcast_datetime_round_trip(impl: ModuleType, value: datetime.datetime) -> None:
    packed = impl.pack_broadcast("u", "/", ["ev", value], [], [], {})
    assert packed == packb_reference("u", "/", ["ev", value], [], [], {})
    got = impl.unpack_broadcast(packed).data[1]
    assert got == (value if value.tzinfo else value.replace(tzinfo=UTC))
    assert got.tzinfo is UTC
    assert got == reference_unpack(packed).data[1]
