"""Write the fuzzers' seed corpus: real messages from the package's own encoders.

``python fuzz/make_corpus.py DIR`` writes ``DIR/<target>/<n>`` for each harness:
classic broadcasts (msgpack and JSON, binary, rooms, flags), requests and
responses of every type, sharded envelopes (JSON and MessagePack), the
malformed messages of the robustness tests, and RESP2 streams as Redis
sends them to a subscriber (confirmations, pmessage, message, smessage, pong,
errors, huge declared lengths, deep nesting).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from socketio_redis_adapter.protocol import notepack, requests
from socketio_redis_adapter.protocol.classic import ClassicCodec
from socketio_redis_adapter.protocol.sharded import MessageType
from socketio_redis_adapter.protocol.sharded_codec import ShardedCodec

GARBAGE = [
    b"", b"\x00", b"not msgpack at all", b"\xc1", b"\x93\x01", b"\x81\xa1a\x01",
    b"\x93\xa3uid\x01\x02", b"\x93\xa3uid\x81\xa4data\x90\x80",
    b"\x93\xa3uid\x81\xa4data\x91\x01\x80", b"\x93\xa3uid\x82\xa4data\x91\xa1e\xa3nsp\x01\x80",
    b"\xd6\x05\x00\x00\x00\x00", b"{not json", b'{"type": 2, "opts": 5}',
    b'{"type": 7, "requestId": "x", "packet": 3}', b"[1, 2, 3]",
    # huge declared lengths: str32, bin32, array32, map32 of 4 GB
    b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff", b"\x93\xa3uid\xdf\xff\xff\xff\xff",
    # deep nesting (short: libFuzzer's inputs are small)
    b"\x91" * 300, b"[" * 300, b'{"a":' * 200,
]

EVENTS = [
    ["event", 1, "two", 3.5, None, True],
    ["bin", b"\x00\x01\xff", {"n": [b"x"]}],
    ["date", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)],
    ["nested", {"a": [{"b": [1, 2, {"c": "é☃"}]}], "big": 2**40, "neg": -5}],
]


def classic_messages() -> list[bytes]:
    out = []
    for parser in ("msgpack", "json"):
        codec = ClassicCodec("socket.io", parser, "abcdef")
        for event in EVENTS:
            for rooms, except_rooms, flags in [([], [], {}), (["r"], ["x"], {"volatile": True}),
                                               ([1, "a"], [], {"compress": False})]:
                try:
                    out.append(codec.encode_broadcast("/", event, rooms, except_rooms, flags)[1])
                except TypeError:
                    pass
    selector = requests.Selector(["r"], ["x"])
    for value in [
        requests.all_rooms_request("abcdef", "req1"),
        requests.fetch_request("abcdef", "req2", selector),
        requests.join_request("abcdef", selector, ["a", "b"]),
        requests.leave_request(None, selector, ["a"]),
        requests.disconnect_request("abcdef", selector, True),
        requests.server_side_request("abcdef", ["hello", 1, {"x": 2}], "req3"),
        requests.done_response("req1"),
        requests.rooms_response("req1", ["a", "b"]),
        requests.sockets_response("req2", [{"id": "s1", "handshake": {}, "rooms": ["r"]}]),
        requests.client_count_response("req4", 3),
    ]:
        out.append(ClassicCodec.encode_json(value))
        out.append(notepack.packb(value))
    return out


def sharded_messages() -> list[bytes]:
    out = []
    codec = ShardedCodec("socket.io", "dynamic", "abcdefghijklmnop")
    for event in EVENTS:
        for rooms, except_rooms, flags in [(["r"], [], {}), ([], ["x"], {"volatile": True})]:
            try:
                out.append(codec.encode_broadcast("/", event, rooms, except_rooms, flags)[1])
                out.append(codec.encode_broadcast("/", event, rooms, except_rooms, flags,
                                                  "req9")[1])
            except TypeError:
                pass
    for kind, data in [
        (MessageType.INITIAL_HEARTBEAT, None),
        (MessageType.SOCKETS_JOIN, {"opts": {"rooms": ["a"], "except": []}, "rooms": ["b"]}),
        (MessageType.FETCH_SOCKETS, {"opts": {"rooms": [], "except": []}, "requestId": "q"}),
        (MessageType.SERVER_SIDE_EMIT, {"packet": ["hi", 1], "requestId": "q2"}),
        (MessageType.BROADCAST_ACK, {"requestId": "q3", "packet": [b"\x01"]}),
    ]:
        out.append(codec.encode(kind, data, "/"))
    return out


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def resp_streams(payloads: list[bytes]) -> list[bytes]:
    head = [
        b"*3\r\n" + _bulk(b"psubscribe") + _bulk(b"sio#/#*") + b":1\r\n",
        b"*3\r\n" + _bulk(b"subscribe") + _bulk(b"sio-request#/#") + b":2\r\n",
        b"*3\r\n" + _bulk(b"ssubscribe") + _bulk(b"sio#/#") + b":1\r\n",
        b"*2\r\n" + _bulk(b"pong") + _bulk(b""), b"-ERR something\r\n", b"+OK\r\n", b":42\r\n",
    ]
    out = list(head)
    for data in payloads[:24]:
        for channel in (b"sio#/#", b"sio#/#room#", b"sio#/#other#"):
            out.append(b"*4\r\n" + _bulk(b"pmessage") + _bulk(b"sio#/#*") + _bulk(channel)
                       + _bulk(data))
        out.append(b"*3\r\n" + _bulk(b"message") + _bulk(b"sio-request#/#") + _bulk(data))
        out.append(b"*3\r\n" + _bulk(b"smessage") + _bulk(b"sio#/#") + _bulk(data))
    out.append(b"".join(out[:12]))
    # huge declared lengths and deep nesting
    out += [
        b"*4\r\n$8\r\npmessage\r\n$7\r\nsio#/#*\r\n$6\r\nsio#/#\r\n$4294967296\r\nxx",
        b"*3\r\n$7\r\nmessage\r\n$3\r\nabc\r\n$4294967296\r\nxx",
        b"*4294967296\r\n$1\r\na\r\n", b"$4294967296\r\n", b"*1\r\n" * 200 + b":1\r\n",
    ]
    return out


def main(directory: str) -> None:
    root = Path(directory)
    classic = classic_messages()
    shards = sharded_messages()
    seeds = {
        "broadcast": [m for m in classic if m[:1] != b"{"] + GARBAGE,
        "json_scan": [bytes([n]) + m for n, m in [(0, b'["a",1]'), (3, b'xx ["e",{"a":[1.5e3]}]')]]
        + [bytes([len(b'{"type":3,"data":{"packet":{"type":2,"data":')]) + m for m in shards]
        + [b"\x00" + m for m in GARBAGE],
        "protocol": classic + shards + GARBAGE,
        # the harness reads 3+ leading bytes as options: no limit, no router, no cut; then a
        # 64-byte limit with the router and one cut at byte 40
        "push_parser": [b"\x00\x00\x00" + s for s in resp_streams(classic + shards)]
        + [b"\x03\x01\x01\x28\x00" + s for s in resp_streams(classic + shards)],
    }
    for target, items in seeds.items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for number, item in enumerate(items):
            (folder / f"seed-{number:04d}").write_bytes(item)
    print(f"seed corpus: {', '.join(f'{t} {len(i)}' for t, i in seeds.items())}")


if __name__ == "__main__":
    main(sys.argv[1])
