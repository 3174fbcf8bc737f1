"""Fuzz what the receivers call on incoming bytes, as they call it.

Classic: ``ClassicCodec.decode_broadcast`` (msgpack and JSON parsers) and
``decode_request`` followed by the request readers the responder uses.
Sharded: ``read_plain_broadcast`` (twice: reading a message's ending again from what
it kept gives the same), ``sharded.decode`` and ``read_broadcast``.
Only ``MalformedMessage`` may come out (what the receivers catch and count).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    ClassicCodec,
    MalformedMessage,
    requests,
    run,
    same,
    sharded,
    sharded_codec,
)

CODECS = [ClassicCodec("sio", "msgpack", "uid1"), ClassicCodec("sio", "json", "uid1")]


def _classic(codec: ClassicCodec, data: bytes) -> None:
    try:
        codec.decode_broadcast(data)
    except MalformedMessage:
        pass
    try:
        request = codec.decode_request(data)
    except MalformedMessage:
        return
    kind = requests.read_kind(request)
    try:
        if kind in requests.SOCKET_REQUESTS:
            requests.read_sockets_request(kind, request)
        requests.read_request_id(request)
    except MalformedMessage:
        pass
    try:
        requests.read_server_side_event(request)
    except MalformedMessage:
        pass
    opts = request.get("opts")
    try:
        requests.Selector.read(opts)
    except MalformedMessage:
        pass
    try:
        codec.read_broadcast([request.get("uid"), request.get("packet"), opts])
    except MalformedMessage:
        pass


def _read_plain(data: bytes) -> object:
    try:
        return sharded_codec.read_plain_broadcast(data)
    except MalformedMessage as exc:
        return exc


def _sharded(data: bytes) -> None:
    # read_plain_broadcast keeps what it read of a message's ending: each input starts
    # with none kept (the outcome is the input's alone), then is read again from it
    sharded_codec._targets.clear()
    first = _read_plain(data)
    again = _read_plain(data)
    if not same(first, again):
        raise AssertionError(f"read_plain_broadcast: {first!r:.300} then {again!r:.300}")
    try:
        message = sharded.decode(data)
    except MalformedMessage:
        return
    for read in (sharded_codec.read_selector, sharded_codec.read_rooms):
        try:
            read(message.data)
        except MalformedMessage:
            pass
    try:
        sharded_codec.read_broadcast(message, "/")
    except MalformedMessage:
        pass
    try:
        sharded_codec.read_server_side_event(message.data)
    except MalformedMessage:
        pass


def test_one_input(data: bytes) -> None:
    for codec in CODECS:
        _classic(codec, data)
    _sharded(data)


if __name__ == "__main__":
    run(test_one_input)
