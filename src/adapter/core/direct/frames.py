"""A broadcast's Engine.IO packets and websocket frames, made once for every recipient.

Server-to-client websocket frames are not masked (RFC 6455), so the frames of
one broadcast are the same bytes for every websocket client; they are also
valid on connections that negotiated permessage-deflate (an uncompressed
frame has RSV1 clear and leaves the compression context as it was).
"""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet

_TEXT, _BINARY = 0x81, 0x82  # FIN set, opcode text / binary


def websocket_frame(payload: bytes, text: bool) -> bytes:
    """One unmasked, unfragmented websocket frame (RFC 6455, server to client)."""
    length = len(payload)
    first = _TEXT if text else _BINARY
    if length < 126:
        header = bytes((first, length))
    elif length < 1 << 16:
        header = bytes((first, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + length.to_bytes(8, "big")
    return header + payload


def message_frames(parts: list[Any]) -> bytes:
    """The frames of one Engine.IO MESSAGE per part, as a websocket sends them: text
    parts as ``4<text>`` text frames, binary attachments as binary frames."""
    return b"".join(
        websocket_frame(part, False) if isinstance(part, bytes)
        else websocket_frame(("4" + part).encode(), True)
        for part in parts
    )


def message_packets(parts: list[Any]) -> list[Any]:
    """Engine.IO MESSAGE packets for ``parts`` (the queued form of a broadcast)."""
    return [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]


__all__ = ["message_frames", "message_packets", "websocket_frame"]
