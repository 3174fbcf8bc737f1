"""What a request asks of this server, and carrying it out on an asyncio manager.

An engine never touches its manager's attributes: it hands back :class:`Answer`
objects, the replies to publish and the work to do, so an asyncio manager
(:func:`carry_out`) and a synchronous one can each carry them out its own way.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

ServerSideHandler = Callable[..., Any]


@dataclass(slots=True)
class Reply:
    """A message to publish."""

    channel: bytes
    payload: bytes


@dataclass(slots=True)
class ServerSideCall:
    """A server-side event handler to run; ``reply(result)`` answers the sender, if it waits."""

    handler: Callable[..., Any]
    args: list[Any]
    reply: Callable[[Any], Reply] | None


@dataclass(slots=True)
class Answer:
    """What a request asks of this server, beyond what was already done.

    Carry out in this order: publish ``replies``; disconnect ``disconnect``
    (the sids of namespace ``nsp``, their whole connection when ``close``);
    publish ``after``; run ``call``.
    """

    nsp: str
    replies: list[Reply] = field(default_factory=list)
    disconnect: list[str] = field(default_factory=list)
    close: bool = False
    after: list[Reply] = field(default_factory=list)
    call: ServerSideCall | None = None

    def __bool__(self) -> bool:
        return bool(self.replies or self.disconnect or self.after or self.call)


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


__all__ = ["Answer", "Reply", "ServerSideCall", "ServerSideHandler", "carry_out"]
