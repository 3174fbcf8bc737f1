"""PushParser: RESP2 replies, channels dropped early."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter import _fastpath_py
from tests.fastpath.helpers import HYPOTHESIS, make_index

# ------------------------------------------------------------------ PushParser


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pmessage(pattern: bytes, channel: bytes, data: bytes) -> bytes:
    return b"*4\r\n" + _bulk(b"pmessage") + _bulk(pattern) + _bulk(channel) + _bulk(data)


def message(channel: bytes, data: bytes) -> bytes:
    return b"*3\r\n" + _bulk(b"message") + _bulk(channel) + _bulk(data)


class PushRecorder:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes | None, bytes, bytes]] = []
        #: the channel filter's result passed with each message
        self.routes: list[Any] = []
        self.replies: list[Any] = []
        self.errors: list[BaseException] = []

    def parser(self, impl: ModuleType, channel_filter: Any = None) -> Any:
        return impl.PushParser(
            self.record,
            self.replies.append,
            self.errors.append,
            channel_filter,
        )


    def record(self, pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        self.messages.append((pattern, channel, data))
        self.routes.append(route)


def _router(impl: ModuleType) -> Any:
    index = make_index(impl, {"s1": ["mine", 123]})
    router = impl.ChannelRouter("sio")
    router.add("/", index)
    return router


STREAM = b"".join(
    [
        b"*3\r\n" + _bulk(b"psubscribe") + _bulk(b"sio#/#*") + b":1\r\n",
        b"*3\r\n" + _bulk(b"subscribe") + _bulk(b"sio-request#/#") + b":2\r\n",
        pmessage(b"sio#/#*", b"sio#/#", b"\x93main\r\n"),
        pmessage(b"sio#/#*", b"sio#/#other#", b"dropped"),
        pmessage(b"sio#/#*", b"sio#/#mine#", b""),
        pmessage(b"sio#/#*", b"sio#/#123#", b"numeric"),
        message(b"sio-request#/#", b'{"type":1}'),
        b"*2\r\n" + _bulk(b"pong") + _bulk(b""),
        b"-ERR something\r\n",
        b"+OK\r\n",
    ]
)

EXPECTED_MESSAGES = [
    (b"sio#/#*", b"sio#/#", b"\x93main\r\n"),
    (b"sio#/#*", b"sio#/#mine#", b""),
    (b"sio#/#*", b"sio#/#123#", b"numeric"),
    (None, b"sio-request#/#", b'{"type":1}'),
]


def _check_replies(impl: ModuleType, replies: list[Any]) -> None:
    assert replies[:3] == [
        [b"psubscribe", b"sio#/#*", 1],
        [b"subscribe", b"sio-request#/#", 2],
        [b"pong", b""],
    ]
    assert isinstance(replies[3], impl.RespError) and str(replies[3]) == "ERR something"
    assert replies[4:] == [b"OK"]


def test_push_parser_routes_and_drops(impl: ModuleType) -> None:
    recorder = PushRecorder()
    router = _router(impl)
    recorder.parser(impl, router).feed(STREAM)
    assert recorder.messages == EXPECTED_MESSAGES
    _check_replies(impl, recorder.replies)
    assert router.dropped == 1


def test_push_parser_without_filter_passes_everything(impl: ModuleType) -> None:
    recorder = PushRecorder()
    recorder.parser(impl).feed(STREAM)
    assert (b"sio#/#*", b"sio#/#other#", b"dropped") in recorder.messages
    assert len(recorder.messages) == 5


@HYPOTHESIS
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_push_parser_handles_any_chunking(impl: ModuleType, cuts: list[int]) -> None:
    recorder = PushRecorder()
    parser = recorder.parser(impl, _router(impl))
    points = [0, *sorted(cuts), len(STREAM)]
    for start, end in zip(points, points[1:], strict=False):
        parser.feed(STREAM[start:end])
    assert recorder.messages == EXPECTED_MESSAGES
    # each pattern message comes with the router's entry, so it is routed once
    entry = ("/", parser.channel_filter.namespaces[b"/"][1])
    assert recorder.routes == [entry, entry, entry, None]
    _check_replies(impl, recorder.replies)


def test_push_parser_survives_callback_errors(impl: ModuleType) -> None:
    seen: list[bytes] = []

    def on_message(pattern: bytes | None, channel: bytes, data: bytes, route: Any) -> None:
        seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler failed")

    errors: list[BaseException] = []
    parser = impl.PushParser(on_message, lambda value: None, errors.append)
    parser.feed(pmessage(b"p", b"c", b"boom") + pmessage(b"p", b"c", b"after"))
    assert seen == [b"boom", b"after"]
    assert parser.handler_errors == 1
    assert isinstance(errors[0], RuntimeError)


def test_push_parser_non_router_filter(impl: ModuleType) -> None:
    class Only:
        def route(self, channel: bytes) -> Any:
            return True if channel == b"yes" else None

    recorder = PushRecorder()
    recorder.parser(impl, Only()).feed(pmessage(b"p", b"no", b"1") + pmessage(b"p", b"yes", b"2"))
    assert recorder.messages == [(b"p", b"yes", b"2")]
    assert recorder.routes == [True]


@pytest.mark.parametrize(
    "stream",
    [
        b"?what\r\n",
        b"*4\r\n$8\r\npmessage\r\n$x\r\n",
        b"*4\r\n$8\r\npmessage\r\n$-1\r\n",
        b"*4\r\n$8\r\npmessage\r\n+notbulk\r\n",
        b":12a\r\n",
    ],
)
def test_push_parser_rejects_what_is_not_resp(impl: ModuleType, stream: bytes) -> None:
    with pytest.raises(ValueError, match="RESP protocol error"):
        PushRecorder().parser(impl).feed(stream)


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_push_parser_fuzz_never_crashes(impl: ModuleType, data: bytes) -> None:
    recorder = PushRecorder()
    try:
        recorder.parser(impl, _router(impl)).feed(data)
    except ValueError:
        pass


@HYPOTHESIS
@given(st.binary(max_size=80))
def test_push_parser_twins_agree(impl: ModuleType, data: bytes) -> None:
    def run(module: ModuleType) -> tuple[Any, ...]:
        recorder = PushRecorder()
        try:
            recorder.parser(module).feed(data)
            outcome = "ok"
        except ValueError:
            outcome = "error"
        replies = [repr(r) if isinstance(r, BaseException) else r for r in recorder.replies]
        return outcome, recorder.messages, replies

    assert run(impl) == run(_fastpath_py)


def test_push_parser_hands_over_sharded_messages(impl: ModuleType) -> None:
    """``smessage`` (SSUBSCRIBE) pushes are messages like ``message``; the channel
    filter (which is for pattern messages) is not asked; confirmations are replies."""
    recorder = PushRecorder()
    router = _router(impl)
    recorder.parser(impl, router).feed(b"".join([
        b"*3\r\n" + _bulk(b"ssubscribe") + _bulk(b"sio#/#other#") + b":1\r\n",
        b"*3\r\n" + _bulk(b"smessage") + _bulk(b"sio#/#other#") + _bulk(b'{"type":3}'),
        b"*3\r\n" + _bulk(b"sunsubscribe") + _bulk(b"sio#/#other#") + b":0\r\n",
        b"*3\r\n" + _bulk(b"smessage") + _bulk(b"sio#/#") + _bulk(b"\x84\xa4type"),
    ]))
    assert recorder.messages == [
        (None, b"sio#/#other#", b'{"type":3}'),
        (None, b"sio#/#", b"\x84\xa4type"),
    ]
    assert recorder.routes == [None, None]
    assert recorder.replies == [
        [b"ssubscribe", b"sio#/#other#", 1],
        [b"sunsubscribe", b"sio#/#other#", 0],
    ]
    assert router.dropped == 0
