"""encode_event: the JSON text the compiled twin writes itself."""

from __future__ import annotations

import datetime
import functools
import json
import math
import zoneinfo
from types import ModuleType
from typing import Any

import pytest
import socketio.packet
from hypothesis import given
from hypothesis import strategies as st

from socketio_redis_adapter import _fastpath_py
from socketio_redis_adapter.protocol import parsers
from tests.fastpath.helpers import HYPOTHESIS
from tests.support.twins import COMPILED

# ------------------------------------------- encode_event: JSON written in C
#
# The compiled encode_event writes the JSON text itself for json.dumps and the
# adapter's partial, and hands anything it does not cover back to them.  These
# check it against the twin and python-socketio on data of every kind.

ADAPTER_DUMPS = functools.partial(json.dumps, default=parsers.json_default)


def encode_outcome(call: Any) -> Any:
    """A call's result, or its exception as (type, message).

    A RecursionError's message says where the limit was hit, which differs
    between implementations: only its type is kept.
    """
    try:
        return call()
    except RecursionError:
        return RecursionError, ""
    except Exception as exc:
        return type(exc), str(exc)


def socketio_outcome(dumps: Any, namespace: str, data: Any, ack_id: int | None) -> Any:
    packet_class = socketio.packet.Packet
    if dumps is not json.dumps:
        given_dumps = dumps

        class JsonModule:
            loads = staticmethod(json.loads)
            dumps = staticmethod(given_dumps)

        class Packet(socketio.packet.Packet):  # type: ignore[misc]
            json = JsonModule

        packet_class = Packet

    def encode() -> list[Any]:
        # encode_event writes namespace "" as "/" (python-socketio would add a ",")
        encoded = packet_class(
            socketio.packet.EVENT, namespace=namespace or "/", data=data, id=ack_id
        ).encode()
        return encoded if isinstance(encoded, list) else [encoded]

    return encode_outcome(encode)


json_text = (
    st.text(st.characters(), max_size=12)
    | st.text(st.characters(categories=["Cc", "Cs", "Co"]), max_size=6)
    | st.text(st.characters(max_codepoint=0xFF), max_size=12)
    | st.sampled_from(["", "\\", '"', "\x7f", "\x00\x1f", "\U0001f600", "\ud800\udc00", "é€😀"])
)
exact_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 0, -1])
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e16, 1e-7, 5e-324, 1.7e308])
    | json_text
)
binary_leaves = st.binary(max_size=6) | st.binary(max_size=6).map(bytearray)
other_leaves = (
    st.datetimes()
    | st.sampled_from([memoryview(b"mv"), object(), {1, 2}])
    | st.dictionaries(
        st.integers() | st.floats() | st.booleans() | st.none(),
        st.integers(),
        min_size=1,
        max_size=2,
    )
)


def json_trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(json_text, children, max_size=4)
        ),
        max_leaves=25,
    )


def check_encode_agrees(
    impl: ModuleType, namespace: str, data: Any, dumps: Any, ack_id: int | None
) -> Any:
    got = encode_outcome(lambda: impl.encode_event(namespace, data, dumps, ack_id))
    assert got == encode_outcome(lambda: _fastpath_py.encode_event(namespace, data, dumps, ack_id))
    if data is not None and socketio_comparable(data):
        assert got == socketio_outcome(dumps, namespace, data, ack_id)
    return got


def socketio_comparable(data: Any) -> bool:
    """False where python-socketio encodes differently on purpose.

    It writes no data for None, and finds binary parts in lists and dicts
    only: not in tuples, and not memoryviews.
    """

    def walk(value: Any) -> tuple[bool, bool]:  # (has binary, has tuple/memoryview)
        if isinstance(value, (bytes, bytearray)):
            return True, False
        if isinstance(value, memoryview):
            return True, True
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(value, (list, tuple, dict)):
            return False, False
        found = [walk(item) for item in items]
        return (
            any(binary for binary, _ in found),
            isinstance(value, tuple) or any(odd for _, odd in found),
        )

    if data is None:
        return False
    try:
        binary, odd = walk(data)
    except RecursionError:  # a cycle: python-socketio's scan goes round it too
        return True
    return not (binary and odd)


@given(
    data=json_trees(exact_leaves),
    namespace=st.sampled_from(["/", "", "/chat", "/ü", "x"]),
    ack_id=st.none() | st.integers(min_value=-5, max_value=2**70),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_subset_matches(
    impl: ModuleType, data: Any, namespace: str, ack_id: int | None, adapter: bool
) -> None:
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    got = check_encode_agrees(impl, namespace, ["ev", data], dumps, ack_id)
    assert isinstance(got, list)


@given(
    data=json_trees(exact_leaves | binary_leaves),
    ack_id=st.none() | st.integers(min_value=0, max_value=99),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_with_binary_matches(
    impl: ModuleType, data: Any, ack_id: int | None, adapter: bool
) -> None:
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    check_encode_agrees(impl, "/chat", ["ev", data], dumps, ack_id)
    check_encode_agrees(impl, "/", data, dumps, ack_id)  # not a list at the top


@given(
    data=json_trees(exact_leaves | binary_leaves | other_leaves),
    adapter=st.booleans(),
)
@HYPOTHESIS
def test_encode_json_fallback_matches(impl: ModuleType, data: Any, adapter: bool) -> None:
    """Data json.dumps converts (other key types), calls ``default`` for, or rejects."""
    dumps = ADAPTER_DUMPS if adapter else json.dumps
    check_encode_agrees(impl, "/", ["ev", data], dumps, 3)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize(
    "data",
    [
        ["ev", "\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x80\xff", "\u0100\ud7ff\ud800\udfff\ue000\uffff"],
        ["ev", "\U00010000\U0010ffff", "a\U0001f600b", "é" * 3000, "x" * 5000],
        ["ev", {"": 0, "k\n": [], "ü": {}, "\U0001f600": ()}],
        ["ev", 1.0, 1e16, 1e-5, 0.1, -0.0, math.nan, math.inf, -math.inf, 123456789.125],
        ["ev", 9223372036854775807, -9223372036854775808, 2**64, -(2**64), 10**300],
        ["ev", True, False, None, [None, [True, [False]]], (1, (2,), ())],
        ["ev", {"a": b"x", "b": bytearray(b"y"), "c": [b"", (b"z",)]}, b"w"],
        "just a string",
        42,
        b"top-level bytes",
        {"k": "v"},
    ],
)
def test_encode_json_edge_values(impl: ModuleType, data: Any, dumps: Any) -> None:
    for namespace, ack_id in [("/", None), ("/chat", 0), ("/ü", 2**70), ("", -1)]:
        check_encode_agrees(impl, namespace, data, dumps, ack_id)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {1.5: "float key"},
        {True: "bool key"},
        {None: "None key"},
        {("t",): "tuple key"},
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
        memoryview(b"mv"),
        object(),
        10**5000,  # more digits than int's str() allows: ValueError
    ],
    ids=[
        "int-key",
        "float-key",
        "bool-key",
        "none-key",
        "tuple-key",
        "datetime",
        "memoryview",
        "object",
        "huge-int",
    ],
)
def test_encode_json_falls_back(impl: ModuleType, value: Any, dumps: Any) -> None:
    """Outside the subset, the whole payload goes to ``dumps``: same text, same errors."""
    for data in (["ev", value], ["ev", b"bin", {"x": [value]}], ["ev", "é", 1.5, {"k": value}]):
        check_encode_agrees(impl, "/chat", data, dumps, 1)


def test_encode_json_subclasses_fall_back(impl: ModuleType) -> None:
    class Text(str):
        pass

    class Number(int):
        def __repr__(self) -> str:
            return "never used by json"

    class Real(float):
        pass

    class Mapping(dict):  # type: ignore[type-arg]
        pass

    for value in (Text("t"), Number(3), Real(1.5), Mapping(a=1), {Text("k"): 1}):
        for dumps in (json.dumps, ADAPTER_DUMPS):
            check_encode_agrees(impl, "/", ["ev", value], dumps, None)


@pytest.mark.parametrize("dumps", [json.dumps, ADAPTER_DUMPS], ids=["json.dumps", "adapter"])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_encode_json_circular(impl: ModuleType, dumps: Any, binary: bool) -> None:
    """Cycles go to the old path: the same error as the twin and python-socketio.

    That is RecursionError, from the binary scan that runs before json (whose
    own check would say "Circular reference detected"); a binary part found
    before the cycle does not stop the scan from going round it.
    """
    looped: list[Any] = ["ev", b"x"] if binary else ["ev"]
    looped.append(looped)
    mapping: dict[str, Any] = {"b": b"y"} if binary else {}
    mapping["self"] = mapping
    for data in (looped, ["ev", mapping], ["ev", [[[mapping]]]]):
        got = check_encode_agrees(impl, "/", data, dumps, None)
        assert isinstance(got, tuple) and got[0] is RecursionError
        # json itself would have said
        with pytest.raises(ValueError, match="Circular reference detected"):
            ADAPTER_DUMPS(data)


def test_encode_json_deep_but_finite(impl: ModuleType) -> None:
    """Nesting beyond the compiled writer's depth limit: json's answer, unchanged."""
    for depth in (150, 198, 199, 200, 230):  # the limit is 200 containers
        data: Any = "leaf"
        for level in range(depth):
            data = [data] if level % 2 else {"k": data}
        for dumps in (json.dumps, ADAPTER_DUMPS):
            got = check_encode_agrees(impl, "/", ["ev", data], dumps, None)
            assert got == ["2" + json.dumps(["ev", data], separators=(",", ":"))]


def test_encode_json_keywords_that_change_the_text(impl: ModuleType) -> None:
    """Partials whose keywords change json's text are not written in C."""
    data = ["ev", {"b": "ü", "a": math.nan}]
    for keywords in (
        {"ensure_ascii": False},
        {"sort_keys": True},
        {"allow_nan": False},
        {"ensure_ascii": 0, "default": str},
        {"skipkeys": True, "check_circular": False, "default": str},
        {"ensure_ascii": True, "allow_nan": 1, "sort_keys": None},
    ):
        dumps = functools.partial(json.dumps, **keywords)
        check_encode_agrees(impl, "/", data, dumps, None)
        check_encode_agrees(impl, "/", data + [{1: b"x"}], dumps, None)


def test_encode_json_sees_replaced_encoder_functions(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json.encoder  # noqa: PLC0415

    def loud(text: str) -> str:
        return '"' + text.upper() + '"'

    monkeypatch.setattr(json.encoder, "encode_basestring_ascii", loud)
    assert impl.encode_event("/", ["ev", {"k": "v"}], json.dumps) == ['2["EV",{"K":"V"}]']
    assert impl.encode_event("/", "ev", ADAPTER_DUMPS) == ['2"EV"']
    monkeypatch.undo()
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)  # the pure encoder: same text
    check_encode_agrees(impl, "/", ["ev", {"k": [1.5, None, "é"]}, b"b"], ADAPTER_DUMPS, 2)


def count_json_encodes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record each value json's encoder is asked to encode, in the returned list."""
    calls: list[Any] = []
    iterencode = json.JSONEncoder.iterencode

    def counting(self: json.JSONEncoder, o: Any, _one_shot: bool = False) -> Any:
        calls.append(o)
        return iterencode(self, o, _one_shot)

    monkeypatch.setattr(json.JSONEncoder, "iterencode", counting)
    return calls


def test_encode_json_written_without_json_for_the_subset(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled module writes the subset itself (json is not asked), the twin does not."""
    calls = count_json_encodes(monkeypatch)
    data = ["ev", {"text": "héllo", "n": [1, 2.5, None, True]}, b"bin", (bytearray(b"2"),)]
    for dumps in (json.dumps, ADAPTER_DUMPS):
        check_encode_agrees(impl, "/chat", data, dumps, 4)
        calls.clear()
        impl.encode_event("/chat", data, dumps, 4)
        assert len(calls) == (0 if impl is COMPILED else 1)
        # outside the subset: json again, for the whole payload
        calls.clear()
        impl.encode_event("/chat", [*data, {1: 2}], dumps, 4)
        assert len(calls) == 1


DATES = [
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
    datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata")),
    datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
]


def test_encode_json_dates_written_with_the_adapters_hook(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the adapter's ``default``, dates are written as Node writes them, without json."""
    calls = count_json_encodes(monkeypatch)
    data = ["message", {"at": DATES[0], "seen": DATES[1:], "text": "hi"}, b"bin"]
    got = check_encode_agrees(impl, "/chat", data, ADAPTER_DUMPS, 7)
    assert got[0] == (
        '51-/chat,7["message",{"at":"2024-01-02T03:04:05.678Z",'
        '"seen":["1999-12-31T18:29:59.000Z","2024-06-01T03:00:00.000Z"],"text":"hi"},'
        '{"_placeholder":true,"num":0}]'
    )
    calls.clear()
    impl.encode_event("/chat", data, ADAPTER_DUMPS, 7)
    assert len(calls) == (0 if impl is COMPILED else 1)
    # plain json.dumps has no hook for dates: its TypeError, from json
    assert check_encode_agrees(impl, "/", ["ev", DATES[0]], json.dumps, None)[0] is TypeError


def test_encode_json_calls_a_foreign_default_as_json_does(impl: ModuleType) -> None:
    """A ``default`` of the caller's runs once per object, even when a later value gives up."""
    seen: list[Any] = []

    def default(value: Any) -> Any:
        seen.append(value)
        return str(value)

    dumps = functools.partial(json.dumps, default=default)
    marker = object()
    for data in (["ev", marker], ["ev", marker, {1: "int key gives up"}]):
        seen.clear()
        check_encode_agrees(impl, "/", data, dumps, None)
        # three encodes in check_encode_agrees (impl, twin, python-socketio): once each
        assert seen == [marker] * 3


def test_encode_json_adapters_hook_gives_up_like_json(impl: ModuleType) -> None:
    """Dates next to what the writer leaves to json: the same text, errors and attachments."""
    for data in (
        ["ev", DATES[0], {1: "int key"}],
        ["ev", {"at": DATES[2]}, memoryview(b"mv"), b"x"],
        ["ev", [DATES[1]], object()],
        ["ev", DATES[0], {2.5: DATES[1]}],
    ):
        check_encode_agrees(impl, "/", data, ADAPTER_DUMPS, 0)
