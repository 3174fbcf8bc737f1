"""``encode_event``, the twin of ``src/fastpath/json_text.pxi``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _deconstruct(data: Any, attachments: list[bytes]) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, list | tuple):
        return [_deconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, attachments) for key, value in data.items()}
    return data


def _has_binary(data: Any) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return True
    if isinstance(data, list | tuple):
        return any(_has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(_has_binary(value) for value in data.values())
    return False


def encode_event(
    namespace: str, data: list[Any], dumps: Callable[..., str], ack_id: int | None = None
) -> list[str | bytes]:
    """Encode a Socket.IO EVENT packet in the default (text) format.

    Returns the text part followed by one ``bytes`` part per binary
    attachment, e.g. ``['2/chat,["news",1]']`` or
    ``['51-["bin",{"_placeholder":true,"num":0}]', b"..."]``.
    ``dumps`` is the JSON module's ``dumps``.
    """
    header = "2"
    attachments: list[bytes] = []
    if _has_binary(data):
        data = _deconstruct(data, attachments)
        header = f"5{len(attachments)}-"
    if namespace and namespace != "/":
        header += namespace + ","
    if ack_id is not None:
        header += str(ack_id)
    parts: list[str | bytes] = [header + dumps(data, separators=(",", ":"))]
    parts.extend(attachments)
    return parts
