"""Why direct frames do not serve a server, and whether that deserves a warning.

Direct frames (:mod:`.thread_writer` for threading mode, :mod:`.async_writer`
for aiohttp and uvicorn) rely on library internals of the versions they
know, and on the platform.  When they cannot serve a server the manager
says why in ``direct_frames_off``; an :class:`Unsupported` also says whether
the reason is one the user did not choose and that is not by design (an
unknown library version, the platform): then the manager logs one warning
(:func:`warning_text`), since the fan-out then costs more CPU without any
other sign.  An async mode that never has direct frames (gevent, eventlet,
tornado...) is by design.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import NamedTuple


class Unsupported(NamedTuple):
    """Why direct frames cannot serve a server."""

    #: what ``direct_frames_off`` says
    reason: str
    #: not the user's choice nor by design (a library version, the platform): warn
    unexpected: bool


def version_reason(distribution: str, prefixes: tuple[str, ...]) -> str | None:
    """Why ``distribution``'s installed version is not one of ``prefixes``, or None."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return f"{distribution} is not installed"
    if not version.startswith(prefixes):
        return f"{distribution} {version} (known: {', '.join(prefixes)}x)"
    return None


def known_text(known: Mapping[str, tuple[str, ...]], extra: str = "") -> str:
    """The versions ``known`` (a ``KNOWN_VERSIONS`` table) as a sentence's end:
    ``python-engineio 4.15.x, simple-websocket 1.1.x``."""
    text = ", ".join(
        f"{name} {' or '.join(prefix + 'x' for prefix in prefixes)}"
        for name, prefixes in known.items()
    )
    return f"{text}{extra}"


def warning_text(reason: str, known: str) -> str:
    """The warning a manager logs once when direct frames are off for ``reason``."""
    return (
        f"direct websocket frames are off: {reason}. Broadcasts still reach every "
        f"client, through each client's queue, at a higher CPU cost per delivery. Direct "
        f"frames know {known}. To silence this warning, pass direct_frames=False to the "
        f"adapter (or set SOCKETIO_REDIS_ADAPTER_DIRECT_FRAMES=0)."
    )


__all__ = ["Unsupported", "known_text", "version_reason", "warning_text"]
