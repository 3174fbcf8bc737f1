"""encode_event: Socket.IO text packets and binary attachments."""

from __future__ import annotations

import datetime
import functools
import json
from types import ModuleType
from typing import Any

import pytest
import socketio.packet
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter import _fastpath_py
from socketio_redis_adapter.protocol import parsers
from tests.fastpath.helpers import HYPOTHESIS

# -------------------------------------------------------------- encode_event


def reference(namespace: str, data: Any, ack_id: int | None = None) -> list[Any]:
    packet = socketio.packet.Packet(
        socketio.packet.EVENT, namespace=namespace, data=data, id=ack_id
    )
    encoded = packet.encode()
    return encoded if isinstance(encoded, list) else [encoded]


def test_encode_text(impl: ModuleType) -> None:
    assert impl.encode_event("/", ["ev", 1], json.dumps) == ['2["ev",1]']
    assert impl.encode_event("", ["ev", 1], json.dumps) == ['2["ev",1]']
    assert impl.encode_event("/chat", ["ev", {"a": [1, 2]}], json.dumps) == [
        '2/chat,["ev",{"a":[1,2]}]'
    ]
    assert impl.encode_event("/", ["ev"], json.dumps, ack_id=12) == ['212["ev"]']
    assert impl.encode_event("/chat", ["ev"], json.dumps, 0) == ['2/chat,0["ev"]']
    assert impl.encode_event("/", ["ev", ("a", 1)], json.dumps) == ['2["ev",["a",1]]']


def test_encode_binary(impl: ModuleType) -> None:
    assert impl.encode_event("/", ["bin", b"\x00\x01"], json.dumps) == [
        '51-["bin",{"_placeholder":true,"num":0}]',
        b"\x00\x01",
    ]
    parts = impl.encode_event(
        "/chat",
        ["ev", {"a": b"1", "b": [bytearray(b"2"), {"c": (b"3", memoryview(b"4"))}]}, b"5"],
        json.dumps,
        ack_id=7,
    )
    assert parts[0] == (
        '55-/chat,7["ev",{"a":{"_placeholder":true,"num":0},'
        '"b":[{"_placeholder":true,"num":1},{"c":[{"_placeholder":true,"num":2},'
        '{"_placeholder":true,"num":3}]}]},{"_placeholder":true,"num":4}]'
    )
    assert parts[1:] == [b"1", b"2", b"3", b"4", b"5"]
    assert all(type(part) is bytes for part in parts[1:])


def test_encode_does_not_mutate_input(impl: ModuleType) -> None:
    data = ["ev", {"k": b"x", "l": [b"y"]}, (b"z",)]
    impl.encode_event("/", data, json.dumps)
    assert data == ["ev", {"k": b"x", "l": [b"y"]}, (b"z",)]


def test_encode_custom_dumps(impl: ModuleType) -> None:
    calls = []

    def dumps(data: Any, **kwargs: Any) -> str:
        calls.append(kwargs)
        return "<" + json.dumps(data, **kwargs) + ">"

    assert impl.encode_event("/", ["ev", b"x"], dumps) == [
        '51-<["ev",{"_placeholder":true,"num":0}]>',
        b"x",
    ]
    assert calls == [{"separators": (",", ":")}]


def test_encode_partial_dumps(impl: ModuleType) -> None:
    """The adapter's ``partial(json.dumps, default=...)``, as json.dumps does it."""
    dumps = functools.partial(json.dumps, default=parsers.json_default)
    data = ["ev", {"when": datetime.datetime(2024, 1, 2, 3, 4, 5)}, "ü"]
    want = '2["ev",{"when":"2024-01-02T03:04:05.000Z"},"\\u00fc"]'
    assert impl.encode_event("/", data, dumps) == [want]
    assert impl.encode_event("/", data, dumps) == [want]  # a second call, same answer
    with pytest.raises(TypeError, match="not JSON serializable"):
        impl.encode_event("/", ["ev", object()], dumps)
    # keywords changed in place are seen
    dumps.keywords["ensure_ascii"] = False
    assert impl.encode_event("/", ["ev", "ü"], dumps) == ['2["ev","ü"]']
    dumps.keywords["default"] = lambda value: "dflt"
    assert impl.encode_event("/", ["ev", object()], dumps) == ['2["ev","dflt"]']
    del dumps.keywords["default"]
    with pytest.raises(TypeError):
        impl.encode_event("/", ["ev", object()], dumps)
    # other partials of json.dumps
    other = functools.partial(json.dumps, sort_keys=True)
    assert impl.encode_event("/", ["ev", {"b": 1, "a": 2}], other) == ['2["ev",{"a":2,"b":1}]']
    indented = functools.partial(json.dumps, indent=1)
    assert impl.encode_event("/", ["ev"], indented) == ['2[\n "ev"\n]']
    spaced = functools.partial(json.dumps, separators=(", ", ": "))  # the call's win
    assert impl.encode_event("/", ["ev", {"a": 1}], spaced) == ['2["ev",{"a":1}]']


def test_encode_partial_of_other_function(impl: ModuleType) -> None:
    def fake(data: Any, **kwargs: Any) -> str:
        return repr(sorted(kwargs))

    dumps = functools.partial(fake, default=str)
    assert impl.encode_event("/", ["ev"], dumps) == ["2['default', 'separators']"]


def test_encode_sees_a_replaced_json_encoder(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Shouting(json.JSONEncoder):
        def encode(self, o: Any) -> str:
            return super().encode(o).upper()

    dumps = functools.partial(json.dumps, default=parsers.json_default)
    impl.encode_event("/", ["warm"], dumps)
    monkeypatch.setattr(json, "JSONEncoder", Shouting)
    assert impl.encode_event("/", ["ev"], dumps) == ['2["EV"]']
    assert impl.encode_event("/", ["ev"], json.dumps) == ['2["EV"]']


def test_encode_subclasses(impl: ModuleType) -> None:
    class MyList(list):  # type: ignore[type-arg]
        pass

    class MyDict(dict):  # type: ignore[type-arg]
        pass

    data = ["ev", MyList([MyDict(a=b"1")]), MyDict(b=[2])]
    assert impl.encode_event("/", data, json.dumps) == [
        '51-["ev",[{"a":{"_placeholder":true,"num":0}}],{"b":[2]}]',
        b"1",
    ]


def test_encode_deep_nesting(impl: ModuleType) -> None:
    data: Any = b"x"
    for _ in range(100_000):
        data = [data]
    with pytest.raises(RecursionError):
        impl.encode_event("/", data, json.dumps)


@pytest.mark.parametrize(
    ("namespace", "data", "ack_id"),
    [
        ("/", ["message", "hello"], None),
        ("/", ["ev", 1, 2.5, None, True, False], None),
        ("/chat", ["ev", {"nested": {"deep": [1, [2, [3]]]}}], 5),
        ("/", ["ev", "ünïcödé ☃"], None),
        ("/", ["ev", b""], None),
        ("/x", ["ev", b"a", [b"b", {"c": b"c"}], {"d": [b"d", 1]}], 99),
        ("/", ["ev", {"k": bytearray(b"ba")}], None),
        ("/", ["ev", [], {}], 0),
        ("/a/b", ["ev", {"1": b"\xff" * 100}], None),
    ],
)
def test_encode_matches_python_socketio(
    impl: ModuleType, namespace: str, data: Any, ack_id: int | None
) -> None:
    assert impl.encode_event(namespace, data, json.dumps, ack_id) == reference(
        namespace, data, ack_id
    )


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
json_like = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    event=st.text(min_size=1, max_size=8),
    args=st.lists(json_like, max_size=4),
    namespace=st.sampled_from(["/", "/chat", "/a-b_c"]),
    ack_id=st.none() | st.integers(min_value=0, max_value=2**31),
)
@HYPOTHESIS
def test_encode_hypothesis(
    impl: ModuleType, event: str, args: list[Any], namespace: str, ack_id: int | None
) -> None:
    data = [event, *args]
    got = impl.encode_event(namespace, data, json.dumps, ack_id)
    assert got == reference(namespace, data, ack_id)
    assert got == _fastpath_py.encode_event(namespace, data, json.dumps, ack_id)
