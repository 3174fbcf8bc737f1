"""The raw RESP connection: command encoding, reply routing, posted-publish accounting."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import pytest

from socketio_redis_adapter.transport.raw import RawPubSub
from socketio_redis_adapter.transport.resp_connection import (
    RESEND_WINDOW,
    RespProtocol,
    decode_command,
    encode_command,
    encode_publish,
)
from tests.support.redis_server import RedisServer


class Transport(asyncio.Transport):
    """Collects what the protocol writes (the protocol is unit-tested here)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False


def test_commands_encode_as_resp_arrays() -> None:
    assert encode_command("PUBSUB", "NUMSUB", b"ch") == (
        b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$2\r\nch\r\n"
    )
    assert encode_publish(b"c", b"\x00\r\n") == encode_command("PUBLISH", b"c", b"\x00\r\n")


async def test_replies_resolve_requests_in_order_and_posts_count_failures() -> None:
    protocol = RespProtocol()
    transport = Transport()
    protocol.connection_made(transport)
    first = protocol.request(encode_command("PING"))
    protocol.post(encode_publish(b"c", b"x"))
    protocol.post(encode_publish(b"c", b"y"))
    second = protocol.request(encode_command("ECHO", "z"))
    await asyncio.sleep(0)  # the flush: one write for the four commands
    assert len(transport.written) == 1
    protocol.data_received(b"+PONG\r\n:1\r\n-ERR refused\r\n$1\r\nz\r\n")
    assert await first == b"PONG"
    assert await second == b"z"
    assert protocol.failures == 1


async def test_a_lost_connection_fails_requests_and_counts_unconfirmed_posts() -> None:
    protocol = RespProtocol()
    protocol.connection_made(Transport())
    request = protocol.request(encode_command("PING"))
    protocol.post(encode_publish(b"c", b"x"))
    protocol.connection_lost(ConnectionResetError())
    with pytest.raises(ConnectionError):
        await request
    assert protocol.failures == 1
    assert protocol.lost.done()


def _lost_after_two_reads(closed_by_us: bool, stale: bool) -> list[bytes]:
    """Posts a, b (confirmed by one read), c (by the next read), d (never): what a loss
    hands to ``on_unconfirmed`` (decoded to the published data)."""
    protocol = RespProtocol()
    transport = Transport()
    transport.close = lambda: None  # type: ignore[method-assign]
    protocol.connection_made(transport)
    handed: list[bytes] = []
    protocol.on_unconfirmed = lambda commands: handed.extend(
        decode_command(command)[2] for command in commands
    )
    for data in (b"a", b"b", b"c", b"d"):
        protocol.post(encode_publish(b"ch", data))
    protocol.data_received(b":1\r\n:1\r\n")
    protocol.data_received(b":1\r\n")
    if stale:
        protocol.last_activity -= RESEND_WINDOW + 0.1
    if closed_by_us:
        protocol.close()
    protocol.connection_lost(None if closed_by_us else ConnectionResetError())
    return handed


async def test_a_connection_lost_by_redis_hands_on_what_its_last_read_confirmed() -> None:
    """Redis answers a PUBLISH before writing the subscribers' copies: a Redis killed
    in between confirmed what nobody got, so the last read's confirmations go back too."""
    assert _lost_after_two_reads(closed_by_us=False, stale=False) == [b"c", b"d"]
    # only the unconfirmed when we closed it, or when the last read was long before
    assert _lost_after_two_reads(closed_by_us=True, stale=False) == [b"d"]
    assert _lost_after_two_reads(closed_by_us=False, stale=True) == [b"d"]


async def test_a_reply_error_raises_for_requests() -> None:
    protocol = RespProtocol()
    protocol.connection_made(Transport())
    request = protocol.request(encode_command("NOPE"))
    protocol.data_received(b"-ERR unknown command\r\n")
    with pytest.raises(hiredis.ReplyError):
        await request


async def test_post_and_publish_against_redis(redis_server: RedisServer) -> None:
    connection = RawPubSub(redis_server.url)
    received: list[tuple[bytes | None, bytes, bytes]] = []
    connection.on_message = lambda pattern, channel, data, route: received.append(
        (pattern, channel, data)
    )
    try:
        await connection.psubscribe(b"resp-test#*")
        await connection.subscribe(b"resp-plain")
        for number in range(100):
            await connection.post(b"resp-test#%d" % number, b"%d" % number)
        assert await connection.publish(b"resp-plain", b"last") == 1
        assert await connection.numsub(b"resp-plain") == 1
        for _ in range(100):
            if len(received) == 101:
                break
            await asyncio.sleep(0.01)
        assert received[:100] == [
            (b"resp-test#*", b"resp-test#%d" % n, b"%d" % n) for n in range(100)
        ]
        assert received[100] == (None, b"resp-plain", b"last")
        assert connection.publish_failures == 0
    finally:
        await connection.close()
