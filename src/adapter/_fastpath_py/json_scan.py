"""Where a JSON value ends, checked (the twin of ``src/fastpath/json_scan.pxi``).

The compiled part walks the bytes without building anything; this twin lets
json's own scanner decode the value and looks at what it built, which gives
the same answers for the same input, only slower.
"""

from __future__ import annotations

import json
from typing import Any

#: containers nested deeper than this are not accepted
JSON_MAX_DEPTH = 128


class _NotJson(Exception):
    """NaN or Infinity: json reads them, RFC 8259 (and the compiled twin) does not."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)


# numbers stay text: only whether they are JSON matters (and int() has a digit limit)
_scan_once = json.JSONDecoder(  # type: ignore[attr-defined]
    parse_constant=_reject_constant, parse_int=str, parse_float=str
).scan_once


def _too_deep(value: Any, depth: int) -> bool:
    if isinstance(value, dict):
        if depth >= JSON_MAX_DEPTH:
            return True
        return any(_too_deep(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        if depth >= JSON_MAX_DEPTH:
            return True
        return any(_too_deep(item, depth + 1) for item in value)
    return False


def json_value_text(payload: bytes, start: int) -> tuple[str, int] | None:
    """The JSON value that starts at ``payload[start]``: ``(its text, the offset after it)``.

    None when no valid JSON value starts exactly there (whitespace first
    included), when it is not valid UTF-8, uses NaN or Infinity, or nests
    containers more than 128 deep.  Bytes after the value are not looked at.
    """
    if not isinstance(payload, bytes):
        raise TypeError("payload must be bytes")
    if start < 0 or start >= len(payload):
        return None
    # bytes after the value may be anything: keep them as lone surrogates, which
    # the strict encode below refuses if they fall inside the value
    text = payload[start:].decode("utf-8", "surrogateescape")
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError, _NotJson, RecursionError):
        return None
    value_text = text[:end]
    try:
        size = len(value_text.encode("utf-8"))
    except UnicodeEncodeError:
        return None
    if _too_deep(value, 0):
        return None
    return value_text, start + size


__all__ = ["JSON_MAX_DEPTH", "json_value_text"]
