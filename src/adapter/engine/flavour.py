"""What the flavours' engine parts share (the classic and sharded folders never import
each other)."""

from __future__ import annotations

import asyncio
import logging

from ..transport.errors import RedisRefusedError, UnsupportedServerError


def report_subscription(logger: logging.Logger, nsp: str, future: asyncio.Future[None]) -> None:
    """Log why a namespace's subscription failed (nothing when it succeeded)."""
    if future.cancelled() or future.exception() is None:
        return
    error = future.exception()
    if isinstance(error, UnsupportedServerError):  # the transport logged it, once
        return
    if isinstance(error, RedisRefusedError):  # start() again retries; see the transport
        logger.error("namespace %s not subscribed: %s", nsp, error)
        return
    logger.error(
        "could not subscribe namespace %s yet (%r); the transport keeps retrying", nsp, error,
    )


__all__ = ["report_subscription"]
