"""``ChannelRouter``, the twin of ``src/fastpath/router.pxi``."""

from __future__ import annotations

from .rooms import RoomIndex


class ChannelRouter:
    """Map a broadcast channel name to the namespace that should decode it.

    Channels are ``<key>#<nsp>#`` and ``<key>#<nsp>#<room>#``.  ``route``
    returns ``(nsp, index)`` when a message must be decoded and ``None`` when
    it can be dropped unread: another key, an unknown namespace, a malformed
    name, or a room no local socket is in.  ``dropped`` counts the drops.
    """

    __slots__ = ("prefix", "namespaces", "dropped")

    def __init__(self, key: str) -> None:
        self.prefix: bytes = (key + "#").encode()
        self.namespaces: dict[bytes, tuple[str, RoomIndex]] = {}
        self.dropped: int = 0

    def add(self, nsp: str, index: RoomIndex) -> None:
        """Route the namespace ``nsp`` to ``index``."""
        self.namespaces[nsp.encode()] = (nsp, index)

    def route(self, channel: bytes) -> tuple[str, RoomIndex] | None:
        """Return ``(nsp, index)`` if the message on ``channel`` is for us."""
        prefix = self.prefix
        start = len(prefix)
        if not channel.startswith(prefix):
            self.dropped += 1
            return None
        end = channel.find(b"#", start)
        entry = self.namespaces.get(channel[start:end]) if end > 0 else None
        if entry is None:
            self.dropped += 1
            return None
        size = len(channel)
        if end + 2 >= size:
            # "<key>#<nsp>#" (or an empty room, which Node treats the same)
            if end + 1 == size or channel[end + 1] == 0x23:
                return entry
            self.dropped += 1
            return None
        if channel[size - 1] != 0x23:
            self.dropped += 1
            return None
        try:
            room = channel[end + 1 : size - 1].decode()
        except UnicodeDecodeError:
            self.dropped += 1
            return None
        if entry[1].has_channel_room(room):
            return entry
        self.dropped += 1
        return None
