"""``json_value_text``: where a JSON value ends, checked, in both twins."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fastpath.helpers import HYPOTHESIS

VALID = [
    '"a"', '""', '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\uD800x"', '"é字\U0001f600"',
    "0", "-0", "12", "-3.25", "1e9", "1E+9", "2.5e-3", "1e400", "9" * 5000,
    "true", "false", "null", "[]", "{}", "[ ]", "{ }",
    '["chat",{"user":"ada","n":[1,2.5,null,true,false]}]',
    '[ 1 ,\t2 ,\n3\r]', '{ "a" : 1 , "b" : [ ] }', '{"a":1,"a":2}',
    "[" * 128 + "]" * 128,
]


@pytest.mark.parametrize("text", VALID)
@pytest.mark.parametrize("after", ["", "}", ',"opts":{}}', " x", "\xff"])
def test_a_valid_value_ends_where_json_says(impl: ModuleType, text: str, after: str) -> None:
    head = b'{"data":'
    payload = head + text.encode() + after.encode("latin-1")
    assert impl.json_value_text(payload, len(head)) == (text, len(head) + len(text.encode()))


INVALID = [
    "", " 1", "\n[]", "-", "--1", "+1", ".5", "tru", "nul", "falsy"[:4], "NaN", "Infinity",
    "-Infinity", "[NaN]", '"abc', '"a\\x"', '"a\\u12"', '"a\\u12g4"', '"a\x01b"', '"a\nb"',
    "[1,]", "[,1]", "[1 2]", "{1:2}", '{"a" 1}', '{"a":}', '{"a":1,}', "[", "{", '{"a":1',
    "]", "}", ":", ",", "'a'", "[" * 129 + "]" * 129,
]


@pytest.mark.parametrize("text", INVALID)
def test_no_valid_value_gives_none(impl: ModuleType, text: str) -> None:
    assert impl.json_value_text(b"x" + text.encode(), 1) is None


@pytest.mark.parametrize("payload", [
    b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"', b'["a\xe9"]', b"[\xc3\xa9]",
])
def test_bytes_that_are_not_utf8_inside_the_value_give_none(
    impl: ModuleType, payload: bytes,
) -> None:
    assert impl.json_value_text(payload, 0) is None


@pytest.mark.parametrize(("text", "end"), [
    ("1.", 1), ("1.e5", 1), ("1e", 1), ("1e+", 1), ("01", 1), ("-0.5.5", 4), ("2x", 1),
    ("truex", 4), ('"a"b', 3), ("[]]", 2),
])
def test_a_value_ends_before_what_cannot_continue_it(
    impl: ModuleType, text: str, end: int,
) -> None:
    assert impl.json_value_text(text.encode(), 0) == (text[:end], end)


@pytest.mark.parametrize("start", [-1, 3, 99])
def test_offsets_outside_the_payload_give_none(impl: ModuleType, start: int) -> None:
    assert impl.json_value_text(b"[1]", start) is None


def test_only_bytes_are_accepted(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.json_value_text("[1]", 0)


_json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(HYPOTHESIS, max_examples=300)
@given(value=_json_values, ensure_ascii=st.booleans(), spaced=st.booleans())
def test_any_json_writers_text_is_read_whole(
    impl: ModuleType, value: Any, ensure_ascii: bool, spaced: bool,
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(value, ensure_ascii=ensure_ascii, separators=separators)
    payload = b"[" + text.encode() + b",1]"
    assert impl.json_value_text(payload, 1) == (text, 1 + len(text.encode()))
