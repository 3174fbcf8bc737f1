"""Channel names of the classic adapter (Node's ``createAdapter``) for one ``key``."""

from __future__ import annotations

from typing import Any

from .rooms import room_text


def _glob_escape(text: str) -> str:
    for char in "\\*?[]":
        text = text.replace(char, "\\" + char)
    return text


class Channels:
    """Channel names of one ``key`` (Node's ``key`` option)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def broadcast(self, nsp: str) -> bytes:
        """``key#nsp#``: broadcasts to no room or to several rooms."""
        return f"{self.key}#{nsp}#".encode()

    def room(self, nsp: str, room: Any) -> bytes:
        """``key#nsp#room#``: broadcasts to exactly one room."""
        return f"{self.key}#{nsp}#{room_text(room)}#".encode()

    def broadcast_pattern(self, nsp: str) -> bytes:
        """The PSUBSCRIBE pattern that matches every broadcast of ``nsp``."""
        return f"{_glob_escape(self.key)}#{_glob_escape(nsp)}#*".encode()

    def request(self, nsp: str) -> bytes:
        """``key-request#nsp#``: requests to every server."""
        return f"{self.key}-request#{nsp}#".encode()

    def response(self, nsp: str) -> bytes:
        """``key-response#nsp#``: responses on the shared channel."""
        return f"{self.key}-response#{nsp}#".encode()

    def specific_response(self, nsp: str, uid: str) -> bytes:
        """``key-response#nsp#uid#``: responses for the server ``uid`` only."""
        return f"{self.key}-response#{nsp}#{uid}#".encode()


__all__ = ["Channels"]
