"""unpack_broadcast: the envelope the compiled twin reads itself."""

from __future__ import annotations

import datetime
import math
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter import _fastpath_py
from socketio_redis_adapter.protocol import broadcast, notepack
from tests.fastpath.helpers import (
    DATA,
    HYPOTHESIS,
    OPTS,
    PACKET,
    UTC,
    arr,
    envelope,
    ext,
    mapping,
    mp,
    msgpack_keys,
    msgpack_like,
    nested,
    reference_unpack,
    room_names,
    s,
    unpack_outcome,
    with_opts_value,
    with_packet_value,
)

# ------------------------------------------ unpack_broadcast: the envelope
#
# The compiled twin reads a well-formed ``[uid, packet, opts]`` envelope
# itself and decodes every other message the whole way: results and errors
# must be broadcast.decode_broadcast's for any bytes.

# messages the envelope reader decodes itself (each must decode)
WELL_FORMED: dict[str, bytes] = {
    "adapter order": envelope(),
    "emitter order": envelope(opts=[OPTS[0], OPTS[2], OPTS[1]]),
    **{
        f"packet order {''.join(k[0] for k in order)}": envelope(
            packet=[dict(zip(("type", "data", "nsp"), PACKET, strict=True))[k] for k in order]
        )
        for order in [("data", "nsp", "type"), ("nsp", "type", "data"), ("type", "nsp", "data"),
                      ("data", "type", "nsp"), ("nsp", "data", "type")]
    },
    "type 5": envelope(packet=[(s("type"), b"\x05"), PACKET[1], PACKET[2]]),
    "no type": envelope(packet=PACKET[1:]),
    "no nsp": envelope(packet=PACKET[:2]),
    "only data": envelope(packet=[PACKET[1]]),
    "nsp nil": envelope(packet=[PACKET[1], (s("nsp"), b"\xc0")]),
    "nsp /": envelope(packet=[PACKET[1], (s("nsp"), s("/"))]),
    "nsp empty": envelope(packet=[PACKET[1], (s("nsp"), s(""))]),
    "nsp non-ascii": envelope(packet=[PACKET[1], (s("nsp"), s("/ü€😀"))]),
    "nsp str8": envelope(packet=[PACKET[1], (s("nsp"), s("/chat", "8"))]),
    "nsp str16": envelope(packet=[PACKET[1], (s("nsp"), s("/chat", "16"))]),
    "nsp str32": envelope(packet=[PACKET[1], (s("nsp"), s("/" * 40, "32"))]),
    "uid empty": envelope(uid=s("")),
    "uid non-ascii": envelope(uid=s("ü€😀")),
    "uid str8": envelope(uid=s("uid1", "8")),
    "uid str16": envelope(uid=s("x" * 300, "16")),
    "uid str32": envelope(uid=s("uid1", "32")),
    "array16": envelope(form="16"),
    "array32": envelope(form="32"),
    "packet map16": envelope(packet_form="16"),
    "packet map32": envelope(packet_form="32"),
    "opts map16": envelope(opts_form="16"),
    "opts map32": envelope(opts_form="32"),
    "key str8": envelope(packet=[(s("data", "8"), DATA), (s("type", "16"), b"\x02")],
                         opts=[(s("rooms", "32"), b"\x90"), (s("flags", "8"), b"\x80")]),
    "opts nil": envelope(opts=b"\xc0"),
    "opts empty": envelope(opts=[]),
    "opts rooms only": envelope(opts=[OPTS[0]]),
    "opts except only": envelope(opts=[OPTS[1]]),
    "opts flags only": envelope(opts=[OPTS[2]]),
    "rooms nil": with_opts_value("rooms", b"\xc0"),
    "except nil": with_opts_value("except", b"\xc0"),
    "flags nil": with_opts_value("flags", b"\xc0"),
    "rooms empty": with_opts_value("rooms", b"\x90"),
    "rooms array16": with_opts_value("rooms", arr([s(f"r{i}") for i in range(20)], "16")),
    "rooms array32": with_opts_value("except", arr([s("a"), b"\x01"], "32")),
    "rooms numbers": with_opts_value("rooms", arr([
        b"\x00", b"\x7f", b"\xe0", b"\xff", b"\xcc\xff", b"\xcd\xff\xff", b"\xce\xff\xff\xff\xff",
        b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", b"\xd0\x80", b"\xd1\x80\x00",
        b"\xd2\x80\x00\x00\x00", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
        b"\xca\x3f\xc0\x00\x00", b"\xca\x7f\xc0\x00\x00", b"\xcb" + struct.pack(">d", -0.0),
        b"\xcb" + struct.pack(">d", math.inf), b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01",
    ])),
    "rooms strings": with_opts_value("except", arr([
        s(""), s("é"), s("x" * 31), s("y" * 32), s("z", "8"), s("w", "16"), s("v", "32"),
    ])),
    "flags socket.io": with_opts_value("flags", mp({
        "volatile": True, "compress": False, "local": True, "timeout": 500, "broadcast": True,
        "binary": False, "expectSingleResponse": True,
    })),
    "flags values": with_opts_value("flags", mapping([
        (s("a"), b"\xc0"), (s("b"), b"\xc3"), (s("c"), b"\xc2"), (s("d"), b"\xd3" + b"\xff" * 8),
        (s("e"), b"\xcb" + struct.pack(">d", 0.1)), (s("f"), s("text")), (s("g"), b"\xca\0\0\0\0"),
        (s("é€"), b"\x01"), (s("vola"), b"\x02"), (s("volatilee"), b"\x03"), (s(""), b"\x04"),
        (s("timeout", "8"), b"\xcd\x01\xf4"),
    ])),
    "flags map16": with_opts_value(
        "flags", mapping([(s(f"k{i}"), b"\x01") for i in range(20)], "16")
    ),
    "flags map32": with_opts_value("flags", mapping([(s("volatile"), b"\xc3")], "32")),
    "data array16": with_packet_value("nsp", s("/")).replace(DATA, arr([s("ev")], "16")),
    "data array32": with_packet_value("nsp", s("/")).replace(DATA, arr([s("ev"), b"\x01"], "32")),
    "data every type": envelope(packet=[(s("data"), arr([
        s("ev"), b"\xc0", b"\xc2", b"\xc3", b"\x05", b"\xf0", b"\xcc\x80", b"\xcd\x01\x00",
        b"\xce\x00\x01\x00\x00", b"\xcf" + b"\x01" * 8, b"\xd0\x80", b"\xd1\x80\x00",
        b"\xd2\x80\x00\x00\x00", b"\xd3" + b"\x80" * 8, b"\xca\x3f\x80\x00\x00",
        b"\xcb" + struct.pack(">d", 2.5), s("x" * 40), s("y", "16"), s("z", "32"),
        b"\xc4\x02ab", b"\xc5\x00\x01c", b"\xc6\x00\x00\x00\x01d", arr([b"\x01"], "16"),
        arr([], "32"), mapping([(s("k"), b"\x01")], "16"), mapping([], "32"),
        ext(-1, struct.pack(">I", 1)), ext(-1, struct.pack(">Q", 5 << 34 | 1)),
        ext(-1, struct.pack(">Iq", 5, -1)), ext(0, b"\x00"), ext(0, struct.pack(">q", 1)),
        ext(0, b"abc"), ext(7, b"x"), ext(7, b"xy"), ext(7, b"x" * 16), ext(7, b""),
        b"\xc8\x00\x01\x07z", b"\xc9\x00\x00\x00\x01\x07z",
        # a repeated key: ormsgpack keeps the last value
        mapping([(s("k"), b"\x01"), (s("k"), b"\x02"), (s("j"), b"\x03")]),
    ], "16"))]),
    "data 64 deep": envelope(packet=[(s("data"), nested(64))]),
    "data big": envelope(packet=[(s("data"), mp(["big", "x" * 70000, b"\x01" * 600,
                                                  datetime.datetime(2024, 1, 2, tzinfo=UTC)]))]),
    # the length forms' boundaries: fixstr / str8 / str16, bin8 / bin16
    **{f"data str of {n}": envelope(packet=[(s("data"), mp(["e", "x" * n]))])
       for n in (31, 32, 255, 256, 65535, 65536)},
    **{f"data bin of {n}": envelope(packet=[(s("data"), mp(["e", b"x" * n]))])
       for n in (255, 256, 65535, 65536)},
}

# what Node's notepack.io 3 writes for messages of the adapter and the
# emitter (written with tests/node/node_modules/notepack.io)
NODE_MESSAGES = [
    # io.to("room1").emit("r", {a: 1})
    "93a6614a4266527983a47479706502a46461746192a17281a16101a36e7370a12f83a5726f6f6d7391a5726f6f6d"
    "31a665786365707490a5666c61677380",
    # io.to(["room1", "room2"]).except("room3").emit("r")
    "93a6614a4266527983a47479706502a46461746191a172a36e7370a12f83a5726f6f6d7392a5726f6f6d31a572"
    "6f6f6d32a665786365707491a5726f6f6d33a5666c61677380",
    # io.volatile.compress(false).emit("v")
    "93a6614a4266527983a47479706502a46461746191a176a36e7370a12f83a5726f6f6d7390a665786365707490"
    "a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2",
    # socket.broadcast.emit("c") on /custom
    "93a6497a674b794883a47479706502a46461746191a163a36e7370a72f637573746f6d83a5726f6f6d7390a665"
    "786365707491b4624c466251492d39476d5f6a3831756c41414141a5666c61677380",
    # the emitter's key order: rooms, flags, except
    "93a7656d697474657283a47479706502a46461746195a165cb3ff8000000000000fdc0c3a36e7370a12f83a572"
    "6f6f6d7391a161a5666c61677381a8766f6c6174696c65c3a665786365707491a162",
    # io.timeout(500).emit("ack", "x") (and expectSingleResponse)
    "93a6614a4266527983a47479706502a46461746192a361636ba178a36e7370a12f83a5726f6f6d7390a6657863"
    "65707490a5666c61677382a774696d656f7574cd01f4b465787065637453696e676c65526573706f6e7365c3",
    # Dates
    "93a6614a4266527983a47479706502a46461746193a164d7ffa1a5d60065937d2581a47768656ed6ff00000000"
    "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380",
    # type 5, a 300-byte Buffer, number rooms and 17 except rooms (array16)
    "93a6614a4266527983a47479706505a46461746193a362696e81a162c5012c" + "07" * 300
    + "92c40101d92873737373737373737373737373737373737373737373737373737373737373737373737373737373"
    "a36e7370a32fc3bc83a5726f6f6d739501cb4004000000000000d2fffeee90cf0000000100000000d928c3a9c3"
    "a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9a6657863657074dc"
    "0011a27330a27331a27332a27333a27334a27335a27336a27337a27338a27339a3733130a3733131a3733132a3"
    "733133a3733134a3733135a3733136a5666c61677380",
    # io.emit("test", 1, "2", Buffer.from([3, 4])) captured from Node 8.3.0
    "93a6614a4266527983a47479706502a46461746194a47465737401a132c4020304a36e7370a12f83a5726f6f6d"
    "7390a665786365707490a5666c61677380",
]
for _number, _hex in enumerate(NODE_MESSAGES):
    WELL_FORMED[f"node {_number}"] = bytes.fromhex(_hex)

DATE_DATA = mp(["d", datetime.datetime(2024, 1, 2, tzinfo=UTC)])

# messages that are decoded the whole way: errors, and shapes the reader leaves
FALLBACK: dict[str, bytes] = {
    "two items": arr([s("u"), mapping(PACKET)]),
    "four items": envelope(extra=[b"\x01"]),
    "four items array16": envelope(form="16", extra=[s("x")]),
    "top map": mapping([(s("u"), mapping(PACKET))]),
    "top nil": b"\xc0",
    "top ext": ext(1, b"x"),
    "uid nil": envelope(uid=b"\xc0"),
    "uid int": envelope(uid=b"\x07"),
    "uid uint64": envelope(uid=b"\xcf" + b"\xff" * 8),
    "uid float": envelope(uid=b"\xcb" + struct.pack(">d", 1.5)),
    "uid bin": envelope(uid=b"\xc4\x01u"),
    "uid ext": envelope(uid=ext(1, b"u")),
    "uid date": envelope(uid=ext(-1, struct.pack(">I", 1))),
    "uid array": envelope(uid=b"\x91\xa1u"),
    "uid invalid utf-8": envelope(uid=b"\xa2\xff\xfe"),
    "uid surrogate": envelope(uid=b"\xa3\xed\xa0\x80"),
    "uid never-used byte": envelope(uid=b"\xc1"),
    "packet array": arr([s("u"), mp(["ev"]), b"\x80"]),
    "packet nil": arr([s("u"), b"\xc0", b"\x80"]),
    "packet str": arr([s("u"), s("p"), b"\x80"]),
    "packet empty": envelope(packet=[]),
    "packet unknown key": envelope(packet=[*PACKET[:2], (s("id"), b"\x01")]),
    "packet four keys": envelope(packet=[*PACKET, (s("id"), b"\x01")]),
    "packet key int": envelope(packet=[PACKET[1], (b"\x01", b"\x02")]),
    "packet key bin": envelope(packet=[PACKET[1], (b"\xc4\x03nsp", s("/"))]),
    "packet key nil": envelope(packet=[PACKET[1], (b"\xc0", s("/"))]),
    "packet key prefix": envelope(packet=[PACKET[1], (s("ns"), s("/"))]),
    "packet key longer": envelope(packet=[PACKET[1], (s("nspx"), s("/"))]),
    "packet key invalid utf-8": envelope(packet=[PACKET[1], (b"\xa2\xff\xfe", s("/"))]),
    "duplicate type": envelope(packet=[PACKET[0], PACKET[1], PACKET[0]]),
    "duplicate type, other": envelope(packet=[PACKET[0], PACKET[1], (s("type"), b"\x03")]),
    "duplicate data": envelope(packet=[PACKET[1], (s("data"), mp(["other"]))]),
    "duplicate data, bad": envelope(packet=[(s("data"), mp([1])), PACKET[1]]),
    "duplicate nsp": envelope(packet=[PACKET[1], PACKET[2], (s("nsp"), s("/x"))]),
    "duplicate nsp, nil": envelope(packet=[PACKET[1], (s("nsp"), b"\xc0"), (s("nsp"), b"\xc0")]),
    **{f"type {raw.hex()}": envelope(packet=[(s("type"), raw), PACKET[1]]) for raw in [
        b"\x00", b"\x03", b"\x06", b"\xcc\x02", b"\xd0\x05", b"\xcb" + struct.pack(">d", 2.0),
        b"\xca\x40\x00\x00\x00", b"\xc3", b"\xc0", s("2"), b"\x91\x02", b"\xff",
    ]},
    "type truncated": envelope(packet=[PACKET[1], (s("type"), b"")])[:-1],
    "no data": envelope(packet=[PACKET[0], PACKET[2]]),
    **{f"data {raw.hex()}": envelope(packet=[(s("data"), raw)]) for raw in [
        b"\x90", b"\xdc\x00\x00", b"\xdd\x00\x00\x00\x00", b"\x91\x01", b"\x91\xc0",
        b"\x91\xc4\x01e", b"\x91\x91\xa1e", s("ev"), b"\x81\xa1e\x01", b"\xc0", b"\x01",
        b"\x92\xa1e\x81\x01\x02", b"\x92\xa1e\x81\xc4\x01k\x02", b"\x92\xa1e\x81\xc0\x02",
        b"\x92\xa2\xff\xfe\x01", b"\x92\xa1e\xa2\xff\xfe", b"\x92\xa1e\xc1",
        b"\x92\xa1e" + ext(-1, b"\x00" * 5), b"\x92\xa1e" + ext(-1, struct.pack(">Iq", 0, 2**62)),
        b"\x92\xa1e" + ext(-1, b""), b"\x92\xa1e\x81\xa2\xff\xfe\x01",
        b"\x92\xa1e\xdf\xff\xff\xff\xff", b"\x92\xa1e\xdd\xff\xff\xff\xff",
        b"\x92\xa1e\xdb\xff\xff\xff\xff", b"\x92\xa1e\xc6\xff\xff\xff\xff",
        b"\x92\xa1e\xc9\xff\xff\xff\xff\x01",
    ]},
    "data 65 deep": envelope(packet=[(s("data"), nested(65))]),
    "data 300 deep": envelope(packet=[(s("data"), nested(300))]),
    "data 2000 deep": envelope(packet=[(s("data"), nested(2000))]),
    **{f"nsp {raw.hex()}": envelope(packet=[PACKET[1], (s("nsp"), raw)]) for raw in [
        b"\x01", b"\xc3", b"\xc4\x01/", b"\x91\xa1/", b"\x80", b"\xa2\xff\xfe", b"\xc1",
        ext(1, b"/"), b"\xcb" + struct.pack(">d", 1.0),
    ]},
    **{f"opts {raw.hex()}": envelope(opts=raw) for raw in [
        b"\x90", b"\x91\x80", b"\x01", s("opts"), b"\xc3", b"\xc4\x00", ext(1, b"o"), b"\xc1",
    ]},
    "opts unknown key": envelope(opts=[*OPTS, (s("local"), b"\xc3")]),
    "opts other key": envelope(opts=[(s("room"), b"\x90")]),
    "opts key int": envelope(opts=[(b"\x01", b"\x90")]),
    "opts key nil": envelope(opts=[(b"\xc0", b"\x90")]),
    "duplicate rooms": envelope(opts=[OPTS[0], (s("rooms"), mp(["z"]))]),
    "duplicate except": envelope(opts=[OPTS[1], (s("except"), b"\xc0")]),
    "duplicate flags": envelope(opts=[OPTS[2], (s("flags"), mp({"a": 1}))]),
    **{f"rooms {raw.hex()}": with_opts_value("rooms", raw) for raw in [
        b"\x91\xc3", b"\x91\xc2", b"\x91\xc0", b"\x91\xc4\x01r", b"\x91\x90", b"\x91\x80",
        b"\x92\xa1r" + ext(1, b"r"), b"\x91" + ext(-1, struct.pack(">I", 1)), b"\x91\xc1",
        b"\x91\xa2\xff\xfe", s("r"), b"\x81\xa1r\x01", b"\x01", b"\xc3", b"\xc4\x00",
        b"\xdd\xff\xff\xff\xff", b"\x92\xa1r",
    ]},
    **{f"except {raw.hex()}": with_opts_value("except", raw) for raw in [
        b"\x91\xc3", b"\x91\xc0", b"\x91\x91\xa1r", s("r"), b"\x80",
    ]},
    **{f"flags {raw.hex()}": with_opts_value("flags", raw) for raw in [
        b"\x90", b"\x91\x01", s("f"), b"\x01", b"\xc3", b"\xc4\x00",
        b"\x81\xa1a\x90", b"\x81\xa1a\x80", b"\x81\xa1a\xc4\x01x", b"\x81\xa1a" + ext(1, b"x"),
        b"\x81\xa1a" + ext(-1, struct.pack(">I", 1)), b"\x81\xa1a\xc1", b"\x81\xa1a\xa2\xff\xfe",
        b"\x81\x01\xc3", b"\x81\xc0\xc3", b"\x81\xc4\x01a\xc3", b"\x81\xa2\xff\xfe\xc3",
        b"\x82\xa1a\x01\xa1a\x02", b"\x82\xa8volatile\xc3\xa8volatile\xc2",
        b"\x83\xa1a\x01\xa1b\x02\xa1a\x03", b"\xdf\xff\xff\xff\xff", b"\x81\xa1a",
    ]},
    "trailing byte": envelope() + b"\x00",
    "trailing bytes": envelope() + b"trailing",
    "trailing nil": envelope(opts=b"\xc0") + b"\xc0",
    "never-used byte": b"\xc1",
    "huge top array": b"\xdd\xff\xff\xff\xff" + envelope()[1:],
    "huge packet map": arr([s("u"), b"\xdf\xff\xff\xff\xff" + mapping(PACKET)[1:], b"\x80"]),
    "huge uid": arr([b"\xdb\xff\xff\xff\xff", b"\x80", b"\x80"]),
    "bytearray": bytearray(envelope()),
    "memoryview": memoryview(envelope()),
}


def check_unpack(impl: ModuleType, data: Any) -> tuple[str, Any]:
    want = unpack_outcome(reference_unpack, data)
    assert want[0] in ("ok", "MalformedMessage")
    assert unpack_outcome(impl.unpack_broadcast, data) == want
    return want


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_unpack_broadcast_well_formed(impl: ModuleType, name: str) -> None:
    assert check_unpack(impl, WELL_FORMED[name])[0] == "ok"


@pytest.mark.parametrize("name", list(FALLBACK))
def test_unpack_broadcast_other_shapes(impl: ModuleType, name: str) -> None:
    check_unpack(impl, FALLBACK[name])


def test_unpack_broadcast_node_messages(impl: ModuleType) -> None:
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[4]))
    assert message == broadcast.Broadcast(
        "emitter", "/", ["e", 1.5, -3, None, True], ["a"], ["b"], {"volatile": True}
    )
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[7]))
    assert message.uid == "aJBfRy" and message.nsp == "/ü"
    assert message.data == ["bin", {"b": b"\x07" * 300}, [b"\x01", "s" * 40]]
    assert message.rooms == [1, 2.5, -70000, 4294967296, "é" * 20]
    assert message.except_rooms == [f"s{i}" for i in range(17)]
    assert message.flags == {}
    message = impl.unpack_broadcast(bytes.fromhex(NODE_MESSAGES[6]))
    assert message.data == [
        "d", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        {"when": datetime.datetime(1970, 1, 1, tzinfo=UTC)},
    ]


def test_unpack_broadcast_fresh_containers(impl: ModuleType) -> None:
    data = envelope(opts=b"\xc0")
    first, second = impl.unpack_broadcast(data), impl.unpack_broadcast(data)
    assert first == second == broadcast.Broadcast("uid1", "/chat", ["ev", {"a": 1, "b": [
        True, None, 1.5, b"\x00"]}], [], [], {})
    for name in ("data", "rooms", "except_rooms", "flags"):
        assert getattr(first, name) is not getattr(second, name)
    assert type(first.rooms) is list and type(first.flags) is dict


def test_unpack_broadcast_uid_and_nsp_in_turn(impl: ModuleType) -> None:
    """Messages from several servers and namespaces, each read as itself."""
    uids = ["aJBfRy", "aJBfRz", "bJBfRy", "", "ü", "aJBfRy", "aJBfR", "aJBfRyy"]
    nsps = ["/", "/chat", "/chaT", "/", "/ü", "/chat", "/cha", "", "/"]
    for uid in uids:
        for nsp in nsps:
            data = envelope(uid=s(uid), packet=[PACKET[1], (s("nsp"), s(nsp))])
            message = impl.unpack_broadcast(data)
            assert (message.uid, message.nsp) == (uid, nsp)
            assert type(message.uid) is str and type(message.nsp) is str
            assert unpack_outcome(impl.unpack_broadcast, data) == unpack_outcome(
                reference_unpack, data
            )


def test_unpack_broadcast_reads_the_envelope_itself(impl: ModuleType) -> None:
    """The compiled twin reuses the short strings of the envelope: proof that
    it read the envelope itself (ormsgpack makes new strings every time).
    The pure twin decodes the whole message: equal values, same types."""
    for name, data in WELL_FORMED.items():
        first, second = impl.unpack_broadcast(data), impl.unpack_broadcast(data)
        short = [part for part in ("uid", "nsp") if len(getattr(first, part).encode()) <= 32]
        assert short, name
        for part in short:
            a, b = getattr(first, part), getattr(second, part)
            assert a == b and type(a) is type(b) is str, (name, part)
            if impl is not _fastpath_py:
                assert a is b, (name, part)


TRUNCATED = ["adapter order", "emitter order", "rooms numbers", "flags values",
             "data every type", "node 7", "node 6", "packet map32", "uid str16"]


@pytest.mark.parametrize("name", TRUNCATED)
def test_unpack_broadcast_truncated(impl: ModuleType, name: str) -> None:
    data = WELL_FORMED[name]
    for end in range(len(data) + 1):
        check_unpack(impl, data[:end])
        check_unpack(impl, data[:end] + b"\xc0")


# 32-bit lengths and counts from 2**31 on: negative in a 32-bit Py_ssize_t
HUGE_SIZES = [0x80000000, 0xFFFFFF9C, 0xFFFFFFFA, 0xFFFFFFFB, 0xFFFFFFFF]


@pytest.mark.parametrize("size", HUGE_SIZES, ids=hex)
def test_unpack_broadcast_huge_sizes(impl: ModuleType, size: int) -> None:
    """A 32-bit size the message cannot hold, anywhere: never read backwards
    (on a 32-bit build such a size was a negative length in ``data``)."""
    big = struct.pack(">I", size)
    tail = b"\x00" * 16
    event = b"\xa2ev"
    heads = [
        b"\xc6" + big,  # bin32
        b"\xdb" + big,  # str32
        b"\xc9" + big + b"\x05",  # ext32
        b"\xdd" + big,  # array32
        b"\xdf" + big,  # map32
    ]
    for head in heads:
        for data in (b"\x92" + event + head + tail, b"\x93" + event + head + b"\xc0\xc0"):
            check_unpack(impl, b"\x93\xa1u\x82\xa4type\x02\xa4data" + data + b"\xc0")
            check_unpack(impl, b"\x93\xa1u\x81\xa4data" + data + b"\xc0" + tail)
    # and in the envelope: the array, uid, packet, a key, rooms, flags
    packet = b"\x81\xa4data\x91" + event
    for message in (
        b"\xdd" + big + b"\xa1u" + packet + b"\xc0",
        b"\x93\xdb" + big + b"u" + packet + b"\xc0",
        b"\x93\xa1u\xdf" + big + b"\xa4data\x91" + event + b"\xc0",
        b"\x93\xa1u\x81\xdb" + big + b"data\x91" + event + b"\xc0",
        b"\x93\xa1u" + packet + b"\x81\xa5rooms\xdd" + big + b"\xa1r",
        b"\x93\xa1u" + packet + b"\x81\xa5rooms\x91\xdb" + big + b"r",
        b"\x93\xa1u" + packet + b"\x81\xa5flags\xdf" + big + b"\xa1k\xc3",
        b"\x93\xa1u" + packet + b"\x81\xa5flags\x81\xa1k\xdb" + big + b"v",
    ):
        assert check_unpack(impl, message)[0] == "MalformedMessage"
        assert check_unpack(impl, message + tail)[0] == "MalformedMessage"


def generated_broadcast(draw: st.DrawFn) -> bytes:
    """A broadcast as a Node or Python peer might write one, in any key order;
    now and then a part is left out, or of another type."""

    def odd() -> bool:
        return draw(st.integers(0, 15)) == 7

    scalars = (
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
        | st.text(max_size=12)
    )
    rooms = st.lists(
        st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1) | st.floats(), max_size=20
    )
    uid = draw(scalars) if odd() else draw(st.text(max_size=40))
    packet: dict[str, Any] = {}
    for key in draw(st.permutations(["type", "data", "nsp"])):
        if key == "type":
            value = draw(st.sampled_from([2.0, 3, True, None, "2"] if odd() else [2, 5]))
        elif key == "data":
            value = draw(msgpack_like if odd() else
                         st.lists(msgpack_like, max_size=4).map(lambda args: ["ev", *args]))
        else:
            value = draw(
                st.sampled_from([1, b"/", []] if odd() else ["/", "/chat", "/ü", "", None])
            )
        if not odd():
            packet[key] = value
    opts: dict[str, Any] = {}
    for key in draw(st.permutations(["rooms", "except", "flags", "other"])):
        if key == "flags":
            value = draw(
                st.none() | st.dictionaries(msgpack_keys, msgpack_like, max_size=3) if odd()
                else st.dictionaries(st.text(max_size=10), scalars, max_size=4)
            )
        elif key == "other":
            if not odd():
                continue
            value = draw(msgpack_like)
        else:
            value = draw(st.none() | st.lists(room_names) | msgpack_like if odd() else rooms)
        if not odd():
            opts[key] = value
    whole: list[Any] = [uid, packet, None if odd() else opts]
    if odd():
        whole.extend(draw(st.lists(msgpack_like, max_size=2)))
    return notepack.packb(packable(whole))


def packable(value: Any) -> Any:
    """``value`` with the ints MessagePack cannot hold brought within 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**64 else value % 2**64
    if isinstance(value, (list, tuple)):
        return [packable(item) for item in value]
    if isinstance(value, dict):
        return {key: packable(item) for key, item in value.items()}
    return value


generated_broadcasts = st.composite(generated_broadcast)()


@given(data=generated_broadcasts)
@HYPOTHESIS
def test_unpack_broadcast_generated(impl: ModuleType, data: bytes) -> None:
    check_unpack(impl, data)


@given(
    data=generated_broadcasts | st.sampled_from(list(WELL_FORMED.values())),
    edits=st.lists(
        st.tuples(st.sampled_from(["set", "insert", "delete", "cut"]), st.integers(0, 2**16),
                  st.integers(0, 255)),
        min_size=1, max_size=4,
    ),
)
@HYPOTHESIS
def test_unpack_broadcast_mutated(
    impl: ModuleType, data: bytes, edits: list[tuple[str, int, int]]
) -> None:
    mutated = bytearray(data)
    for action, where, byte in edits:
        at = where % (len(mutated) + 1)
        if action == "set" and at < len(mutated):
            mutated[at] = byte
        elif action == "insert":
            mutated.insert(at, byte)
        elif action == "delete" and at < len(mutated):
            del mutated[at]
        elif action == "cut":
            del mutated[at:]
    check_unpack(impl, bytes(mutated))


def any_form_value(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MessagePack value in any of the wire forms a peer may write: wider
    size and integer forms than needed, float32, every ext form (timestamps
    and others), maps with repeated or non-``str`` keys now and then.
    ``notepack.packb`` only writes the smallest forms."""
    kind = draw(st.sampled_from(
        ["nil", "bool", "int", "float", "str", "bin", "ext"]
        + (["array", "map"] * 2 if depth < 4 else [])
    ))
    if kind == "nil":
        return b"\xc0"
    if kind == "bool":
        return draw(st.sampled_from([b"\xc2", b"\xc3"]))
    if kind == "int":
        fmt, code = draw(st.sampled_from([
            (">B", 0xCC), (">H", 0xCD), (">I", 0xCE), (">Q", 0xCF),
            (">b", 0xD0), (">h", 0xD1), (">i", 0xD2), (">q", 0xD3), ("fix", 0),
        ]))
        if fmt == "fix":
            return struct.pack(">b", draw(st.integers(-32, 127)))
        size = struct.calcsize(fmt)
        low, high = (0, 2 ** (8 * size) - 1) if fmt[1].isupper() else (
            -(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1)
        return bytes([code]) + struct.pack(fmt, draw(st.integers(low, high)))
    if kind == "float":
        if draw(st.booleans()):
            return b"\xca" + struct.pack(">f", draw(st.floats(width=32)))
        return b"\xcb" + struct.pack(">d", draw(st.floats()))
    if kind == "str":
        text = draw(st.text(max_size=40))
        return s(text, draw(st.sampled_from(["", "8", "16", "32"])))
    if kind == "bin":
        raw = draw(st.binary(max_size=40))
        fmt, code = draw(st.sampled_from([(">B", 0xC4), (">H", 0xC5), (">I", 0xC6)]))
        return bytes([code]) + struct.pack(fmt, len(raw)) + raw
    if kind == "ext":
        code = draw(st.sampled_from([-1, -1, -1, 0, 5, -128]))
        if code == -1 and draw(st.integers(0, 3)):
            body = draw(st.sampled_from([
                struct.pack(">I", draw(st.integers(0, 2**32 - 1))),
                struct.pack(">Q", draw(st.integers(0, 999_999_999)) << 34
                            | draw(st.integers(0, 2**34 - 1))),
                struct.pack(">Iq", draw(st.integers(0, 999_999_999)),
                            draw(st.integers(-62135596800 - 5, 253402300800 + 5))),
            ]))
        else:
            body = draw(st.binary(max_size=20))
        form = draw(st.sampled_from(["smallest", "8", "16", "32"]))
        if form == "smallest":
            return ext(code, body)
        fmt, head = {"8": (">B", 0xC7), "16": (">H", 0xC8), "32": (">I", 0xC9)}[form]
        return bytes([head]) + struct.pack(fmt, len(body)) + struct.pack(">b", code) + body
    count = draw(st.integers(0, 5))
    form = draw(st.sampled_from(["", "16", "32"]))
    if kind == "array":
        return arr([any_form_value(draw, depth + 1) for _ in range(count)], form)
    keys = [
        s(draw(st.sampled_from(["a", "b", "ü"]) | st.text(max_size=4)))
        if draw(st.integers(0, 9)) else any_form_value(draw, 4)
        for _ in range(count)
    ]
    return mapping([(key, any_form_value(draw, depth + 1)) for key in keys], form)


@given(args=st.lists(st.composite(any_form_value)(), max_size=6))
@HYPOTHESIS
def test_unpack_broadcast_data_in_any_form(impl: ModuleType, args: list[bytes]) -> None:
    """``data`` as any peer may write it decodes as ormsgpack decodes it."""
    check_unpack(impl, envelope(packet=[(s("data"), arr([s("ev"), *args]))]))
