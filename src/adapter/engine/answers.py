"""Carrying out an :class:`~.host.Answer` on an asyncio manager, whatever the flavour."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .host import Answer

Publish = Callable[[bytes, bytes], Awaitable[Any]]
Disconnect = Callable[[str, str, bool], Awaitable[Any]]


async def carry_out(answer: Answer, publish: Publish, disconnect: Disconnect) -> None:
    """Publish an answer's replies and do its work, in the order :class:`Answer` gives."""
    for reply in answer.replies:
        await publish(reply.channel, reply.payload)
    for sid in answer.disconnect:
        await disconnect(answer.nsp, sid, answer.close)
    for reply in answer.after:
        await publish(reply.channel, reply.payload)
    call = answer.call
    if call is not None:
        result = call.handler(*call.args)
        if inspect.isawaitable(result):
            result = await result
        if call.reply is not None:
            reply = call.reply(result)
            await publish(reply.channel, reply.payload)


__all__ = ["carry_out"]
