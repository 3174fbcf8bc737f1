"""Hostile and broken input: size limits, deep nesting, huge declared lengths, truncations.

Each test runs on both twins (the ``impl`` fixture) where it calls the core
directly; the protocol-level tests run on the core the package selected (the
suite runs once compiled and once with SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1).
Nothing here may crash, hang, or allocate much beyond the message itself:
``tracemalloc`` bounds the peak of the Python allocations each step makes
(the compiled core's buffers and results are Python objects, so they count).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter._fastpath_py import resp_push
from socketio_redis_adapter.protocol import notepack, sharded
from socketio_redis_adapter.protocol.classic import ClassicCodec
from socketio_redis_adapter.protocol.errors import MalformedMessage
from socketio_redis_adapter.protocol.sharded_codec import (
    ShardedCodec,
    read_broadcast,
    read_plain_broadcast,
)
from tests.fastpath.helpers import HYPOTHESIS
from tests.fastpath.test_resp_push import PushRecorder, _bulk, message, pmessage

GiB = 1 << 30
DEEP = 200_000


@contextmanager
def peak_below(limit: int) -> Iterator[None]:
    """Fail when the Python allocations made inside reach ``limit`` bytes at any moment."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak} bytes, limit {limit}"


def smessage(channel: bytes, data: bytes) -> bytes:
    return b"*3\r\n" + _bulk(b"smessage") + _bulk(channel) + _bulk(data)


class LimitRecorder(PushRecorder):
    """A PushRecorder whose parser has a size limit and records what it skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[bytes | None, int]] = []

    def limited(self, impl: ModuleType, limit: int | None, channel_filter: Any = None) -> Any:
        return impl.PushParser(
            self.record, self.replies.append, self.errors.append, channel_filter,
            max_message_size=limit, on_oversized=lambda c, n: self.skipped.append((c, n)),
        )


# ------------------------------------------------------------ PushParser: the limit

LIMIT = 100
BIG = b"x" * 300
SIZED = b"".join([
    pmessage(b"sio#/#*", b"sio#/#", b"first"),
    pmessage(b"sio#/#*", b"sio#/#", BIG),  # 7 + 6 + 300 bytes declared
    message(b"sio-request#/#", BIG),
    smessage(b"sio#/#shard#", BIG),
    b"*3\r\n" + _bulk(b"subscribe") + _bulk(b"sio-request#/#") + b":2\r\n",
    pmessage(b"sio#/#*", b"x" * 200, b"d"),  # the channel alone is over the limit
    pmessage(b"p" * 150, b"sio#/#", b"d"),  # the pattern alone is over the limit
    smessage(b"sio#/#shard#", b"y" * (LIMIT - len(b"sio#/#shard#"))),  # exactly the limit
    message(b"sio-request#/#", b"last"),
])
SIZED_MESSAGES = [
    (b"sio#/#*", b"sio#/#", b"first"),
    (None, b"sio#/#shard#", b"y" * (LIMIT - len(b"sio#/#shard#"))),
    (None, b"sio-request#/#", b"last"),
]
SIZED_SKIPPED = [
    (b"sio#/#", 7 + 6 + 300),
    (b"sio-request#/#", 14 + 300),
    (b"sio#/#shard#", 12 + 300),
    (None, 7 + 200),
    (None, 150),
]


def _check_sized(recorder: LimitRecorder, parser: Any) -> None:
    assert recorder.messages == SIZED_MESSAGES
    assert recorder.skipped == SIZED_SKIPPED
    assert parser.oversized == len(SIZED_SKIPPED)
    assert recorder.replies == [[b"subscribe", b"sio-request#/#", 2]]
    assert recorder.errors == [] and parser.handler_errors == 0


def test_oversized_messages_are_skipped_at_every_split_point(impl: ModuleType) -> None:
    """Cut anywhere, in two pieces: the same messages, the same skipped ones."""
    for cut in range(len(SIZED) + 1):
        recorder = LimitRecorder()
        parser = recorder.limited(impl, LIMIT)
        parser.feed(SIZED[:cut])
        parser.feed(SIZED[cut:])
        _check_sized(recorder, parser)


def test_oversized_messages_are_skipped_byte_by_byte(impl: ModuleType) -> None:
    recorder = LimitRecorder()
    parser = recorder.limited(impl, LIMIT)
    for index in range(len(SIZED)):
        parser.feed(SIZED[index:index + 1])
    _check_sized(recorder, parser)


@HYPOTHESIS
@given(
    sizes=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 90)),
                   max_size=12),
    limit=st.one_of(st.none(), st.integers(0, 120)),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_the_limit_keeps_exactly_the_messages_that_fit(
    impl: ModuleType, sizes: list[tuple[int, int, int]], limit: int | None, cuts: list[int]
) -> None:
    """Random messages of random sizes, cut anywhere: those within the limit arrive, in
    order, the others are counted; the parser is never left waiting."""
    stream = b""
    kept: list[tuple[bytes | None, bytes, bytes]] = []
    skipped = 0
    for kind, channel_size, data_size in sizes:
        channel, data = b"c" * channel_size, b"d" * data_size
        pattern = b"p*" if kind == 0 else None
        stream += (pmessage(b"p*", channel, data) if kind == 0
                   else message(channel, data) if kind == 1 else smessage(channel, data))
        declared = channel_size + data_size + (2 if pattern else 0)
        if limit is None or declared <= limit:
            kept.append((pattern, channel, data))
        else:
            skipped += 1
    recorder = LimitRecorder()
    parser = recorder.limited(impl, limit)
    points = [0, *sorted(cut for cut in cuts if cut < len(stream)), len(stream)]
    for start, end in zip(points, points[1:], strict=False):
        parser.feed(stream[start:end])
    assert recorder.messages == kept
    assert parser.oversized == skipped == len(recorder.skipped)
    parser.max_message_size = None
    parser.feed(message(b"c", b"after"))
    assert recorder.messages[-1] == (None, b"c", b"after")


def test_four_gigabytes_declared_stream_past_unbuffered(impl: ModuleType) -> None:
    """A message declaring 4 GiB, sent whole: skipped as it streams past, the memory the
    parser holds stays at one chunk, and the message after it arrives."""
    recorder = LimitRecorder()
    parser = recorder.limited(impl, 32 << 20)
    chunk = bytes(1 << 20)
    with peak_below(256 << 10):
        parser.feed(pmessage(b"sio#/#*", b"sio#/#", b"before"))
        parser.feed(b"*4\r\n$8\r\npmessage\r\n$7\r\nsio#/#*\r\n$6\r\nsio#/#\r\n$%d\r\n" % (4 * GiB))
        for _ in range(4 * GiB // len(chunk)):
            parser.feed(chunk)
        parser.feed(b"\r\n" + pmessage(b"sio#/#*", b"sio#/#", b"after"))
    assert [m[2] for m in recorder.messages] == [b"before", b"after"]
    assert recorder.skipped == [(b"sio#/#", 13 + 4 * GiB)]


@pytest.mark.parametrize(
    "header",
    [
        b"$4294967296\r\n",  # a bulk reply
        b"*4294967296\r\n",  # a multibulk reply
        b"*2\r\n$4\r\npong\r\n$4294967296\r\n",  # inside a reply
        b"*3\r\n$9\r\nsubscribe\r\n*4294967296\r\n",
    ],
)
def test_a_reply_declaring_more_than_the_limit_is_refused(impl: ModuleType, header: bytes) -> None:
    """A reply that is not a message has no business being large: the stream is refused
    (the transport reconnects) before anything is buffered."""
    parser = LimitRecorder().limited(impl, 32 << 20)
    with peak_below(64 << 10), pytest.raises(ValueError, match="RESP protocol error"):
        parser.feed(header)


@pytest.mark.parametrize("limit", [None, 1 << 20])
def test_a_reply_nested_200000_deep_is_refused(impl: ModuleType, limit: int | None) -> None:
    """The compiled twin used to recurse once per level in C and overflow the stack."""
    deep = b"*1\r\n" * DEEP + b":1\r\n"
    recorder = LimitRecorder()
    with pytest.raises(ValueError, match="nested too deep"):
        recorder.limited(impl, limit).feed(deep)
    shallow = b"*1\r\n" * _constant(impl, "MAX_REPLY_DEPTH")
    recorder.limited(impl, limit).feed(shallow + b":1\r\n")
    assert recorder.replies[-1] is not None


def _constant(impl: ModuleType, name: str) -> int:
    """A constant of the RESP part (the pure twin keeps it in its ``resp_push`` module)."""
    value = getattr(impl, name, None)
    return int(value if value is not None else getattr(resp_push, name))


def test_the_twins_share_the_limits(impl: ModuleType) -> None:
    assert _constant(impl, "MAX_REPLY_DEPTH") == resp_push.MAX_REPLY_DEPTH == 32
    assert _constant(impl, "HEADER_SLACK") == resp_push.HEADER_SLACK == 65536


def test_an_endless_incomplete_reply_is_refused(impl: ModuleType) -> None:
    """A line that never ends (or headers that never do) is not buffered past the limit."""
    parser = LimitRecorder().limited(impl, 4096)
    bound = 4096 + _constant(impl, "HEADER_SLACK")
    parser.feed(b"+" + b"a" * (bound - 1))
    with pytest.raises(ValueError, match="incomplete reply"):
        parser.feed(b"a" * 2048)


def test_replies_may_exceed_a_tiny_limit_by_the_slack(impl: ModuleType) -> None:
    """A subscription's confirmation is no message: a limit below its size refuses nothing."""
    recorder = LimitRecorder()
    channel = b"sio#/#" + b"r" * 3000
    recorder.limited(impl, 0).feed(b"*3\r\n" + _bulk(b"subscribe") + _bulk(channel) + b":1\r\n")
    assert recorder.replies == [[b"subscribe", channel, 1]]


@pytest.mark.parametrize(
    "stream",
    [b":1234567890123456789\r\n", b"$1234567890123456789\r\n", b"*-\r\n", b":--5\r\n"],
)
def test_both_twins_refuse_integers_redis_never_sends(impl: ModuleType, stream: bytes) -> None:
    with pytest.raises(ValueError, match="RESP protocol error"):
        LimitRecorder().limited(impl, None).feed(stream)


def test_the_limit_can_be_changed_and_checked(impl: ModuleType) -> None:
    parser = LimitRecorder().limited(impl, None)
    assert parser.max_message_size is None
    parser.max_message_size = 10
    assert parser.max_message_size == 10
    with pytest.raises(ValueError):
        impl.PushParser(print, print, max_message_size=-1)


def test_a_failing_oversized_hook_is_counted_not_fatal(impl: ModuleType) -> None:
    recorder = PushRecorder()

    def hook(channel: bytes | None, declared: int) -> None:
        raise RuntimeError("hook failed")

    parser = impl.PushParser(recorder.record, recorder.replies.append, recorder.errors.append,
                             None, max_message_size=4, on_oversized=hook)
    parser.feed(message(b"c", b"too long") + message(b"c", b"ok"))
    assert recorder.messages == [(None, b"c", b"ok")]
    assert parser.oversized == 1 and parser.handler_errors == 1


# ------------------------------------------------------------ the decoders

def _msgpack_nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x01"


def _broadcast_with(raw: bytes) -> bytes:
    """``["u", {"type": 2, "data": ["e", <raw>], "nsp": "/"}, {}]``."""
    return b"\x93\xa1u\x83\xa4type\x02\xa4data\x92\xa1e" + raw + b"\xa3nsp\xa1/\x80"


HUGE_MSGPACK = {
    "str32": b"\xdb\xff\xff\xff\xff",
    "bin32": b"\xc6\xff\xff\xff\xff",
    "array32": b"\xdd\xff\xff\xff\xff",
    "map32": b"\xdf\xff\xff\xff\xff",
    "ext32": b"\xc9\xff\xff\xff\xff\x05",
}


def _hostile_msgpack() -> dict[str, bytes]:
    cases = {"nested 200,000": _msgpack_nested(DEEP),
             "nested 200,000 in the data": _broadcast_with(_msgpack_nested(DEEP))}
    for name, header in HUGE_MSGPACK.items():
        cases[f"{name} 4 GB"] = header + b"abc"
        cases[f"{name} 4 GB as the uid"] = b"\x93" + header + b"abc"
        cases[f"{name} 4 GB in the data"] = _broadcast_with(header + b"abc")
    return cases


HOSTILE_MSGPACK = _hostile_msgpack()
HOSTILE_JSON = {
    "arrays 200,000 deep": b"[" * DEEP + b"1" + b"]" * DEEP,
    "objects 200,000 deep": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "unclosed 200,000": b"[" * DEEP,
}


@pytest.mark.parametrize("name", list(HOSTILE_MSGPACK))
def test_unpack_broadcast_refuses_hostile_msgpack(impl: ModuleType, name: str) -> None:
    payload = HOSTILE_MSGPACK[name]
    with peak_below(4 * len(payload) + (1 << 20)), pytest.raises(MalformedMessage):
        impl.unpack_broadcast(payload)


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_json_value_text_refuses_deep_json(impl: ModuleType, name: str) -> None:
    payload = HOSTILE_JSON[name]
    with peak_below(16 * len(payload) + (1 << 20)):
        assert impl.json_value_text(payload, 0) is None
        # where the sharded receiver looks: after the broadcast's head
        head = b'{"type":3,"data":{"packet":{"type":2,"data":'
        assert impl.json_value_text(head + payload, len(head)) is None


def test_truncated_broadcasts_are_malformed_at_every_length(impl: ModuleType) -> None:
    whole = impl.pack_broadcast("abcdef", "/", ["event", {"a": [1, 2.5, None, b"\x00"]}, "x"],
                                ["room"], ["other"], {"volatile": True})
    impl.unpack_broadcast(whole)
    for size in range(len(whole)):
        with pytest.raises(MalformedMessage):
            impl.unpack_broadcast(whole[:size])


# ------------------------------------------------------------ what the receivers call

CLASSIC = [ClassicCodec("sio", "msgpack", "abcdef"), ClassicCodec("sio", "json", "abcdef")]


def _receivers_calls() -> list[tuple[str, Callable[[bytes], Any]]]:
    """What the classic and sharded receivers call on a message's bytes, channel by channel."""
    calls: list[tuple[str, Callable[[bytes], Any]]] = []
    for codec in CLASSIC:
        name = "msgpack" if codec.notepack else "json"
        calls.append((f"classic broadcast channel ({name})", codec.decode_broadcast))
        calls.append((f"classic request/response channel ({name})", codec.decode_request))

    def sharded_main(data: bytes) -> Any:
        if read_plain_broadcast(data) is None:
            message = sharded.decode(data)
            if message.type == sharded.MessageType.BROADCAST:
                read_broadcast(message, "/")

    calls.append(("sharded main and room channels", sharded_main))
    calls.append(("sharded response channel", sharded.decode))
    return calls


RECEIVERS = _receivers_calls()
HOSTILE = {**HOSTILE_MSGPACK, **HOSTILE_JSON}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("channel", [name for name, _ in RECEIVERS])
def test_receivers_find_hostile_payloads_malformed(channel: str, name: str) -> None:
    call = dict(RECEIVERS)[channel]
    payload = HOSTILE[name]
    with peak_below(16 * len(payload) + (1 << 20)):
        try:
            call(payload)
        except MalformedMessage:
            pass


def _real_messages() -> list[bytes]:
    messages = []
    for codec in CLASSIC:
        messages.append(codec.encode_broadcast("/", ["e", {"n": [1, "two"]}], ["r"], [], {})[1])
        messages.append(codec.encode_with_parser(
            {"type": 7, "requestId": "q", "packet": {"type": 2, "data": ["e"], "nsp": "/"}}))
    messages.append(ClassicCodec.encode_json({"type": 6, "requestId": "q", "data": ["e", 1]}))
    shard = ShardedCodec("sio", "dynamic", "0123456789abcdef")
    messages.append(shard.encode_broadcast("/", ["e", 1, {"a": "b"}], ["r"], [], {})[1])
    messages.append(shard.encode_broadcast("/", ["e", b"\x01"], ["r"], [], {})[1])
    messages.append(shard.encode_broadcast("/", ["e"], [], ["x"], {}, "req")[1])
    messages.append(notepack.packb({"type": 9, "data": {"requestId": "q", "packet": [b"\x00"]},
                                    "uid": "u", "nsp": "/"}))
    return messages


@pytest.mark.parametrize("channel", [name for name, _ in RECEIVERS])
def test_receivers_take_truncated_messages_at_every_length(channel: str) -> None:
    call = dict(RECEIVERS)[channel]
    for whole in _real_messages():
        for size in range(len(whole)):
            try:
                call(whole[:size])
            except MalformedMessage:
                pass
