"""Which Redis node serves what: one server, a Sentinel-watched master, or a Redis Cluster.

A topology answers three questions for the raw transports: where to
publish and subscribe (:meth:`Topology.primary`), which primary serves a
sharded channel (:meth:`Topology.node_for`, by the channel's hash slot on a
cluster), and which nodes to ask when counting subscribers
(:meth:`Topology.nodes`).  When a connection fails the transport calls
:meth:`Topology.refresh`, which learns the layout again (``SENTINEL
get-master-addr-by-name``, ``CLUSTER SLOTS``), so publishing and
subscriptions follow failovers and slot moves by themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hiredis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from ..completion import run_to_completion
from .endpoints import Address, ConnectionSettings, open_link
from .errors import RedisRefusedError, is_refusal
from .resp_connection import encode_command

logger = logging.getLogger("socketio_redis_adapter")


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a refresh's failure as seen (its waiters raise it; none may be left)."""
    if not task.cancelled():
        task.exception()


class TopologyError(ConnectionError):
    """No node could tell where the data lives (every seed or sentinel failed)."""


class Topology:
    """One Redis server at a fixed address (the base of the other topologies).

    :param address: the server.
    :param settings: how connections to it are opened (credentials, TLS).
    """

    #: True on a Redis Cluster: PUBLISH reaches every node, NUMSUB must be summed
    cluster = False

    def __init__(self, address: Address, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._primary: Address | None = address
        #: bumped each time the layout changes (transports drop cached routes)
        self.generation = 0
        #: runs one discovery command, ``await command(address, settings, *args)``; a
        #: synchronous transport gives one that blocks (see :meth:`refresh_blocking`)
        self.command: DiscoveryCommand = _command

    def primary(self) -> Address:
        """Where to publish and subscribe classic pub/sub now."""
        if self._primary is None:
            raise TopologyError("the Redis master is not known yet")
        return self._primary

    def node_for(self, channel: bytes) -> Address:
        """The primary that serves the sharded ``channel``."""
        return self.primary()

    def nodes(self) -> list[Address]:
        """Every node whose subscribers count (``PUBSUB NUMSUB`` is summed over them)."""
        return [self.primary()]

    @property
    def known(self) -> bool:
        """True once the layout has been learned at least once."""
        return self._primary is not None

    async def ensure(self) -> None:
        """Learn the layout if it is not known yet."""
        if not self.known:
            await self.refresh()

    async def refresh(self) -> None:
        """Learn the layout again (nothing to learn for one fixed server)."""
        await self._refresh()

    async def _refresh(self) -> None:
        """Ask the nodes (each discovery command through :attr:`command`)."""

    def refresh_blocking(self) -> None:
        """:meth:`refresh` in the calling thread, for a synchronous transport that set a
        blocking :attr:`command` (its coroutines never suspend)."""
        run_to_completion(self._refresh())

    def ensure_blocking(self) -> None:
        """:meth:`ensure` in the calling thread (see :meth:`refresh_blocking`)."""
        if not self.known:
            self.refresh_blocking()

    def describe(self) -> str:
        return str(self._primary)

    def table_sizes(self) -> dict[str, int]:
        """``slot_cache``: channels whose hash slot is kept (a cluster's; at most 65536)."""
        return {"slot_cache": 0}


class SentinelTopology(Topology):
    """A master watched by Redis Sentinel: asks the sentinels where it is.

    :param sentinels: the sentinels' addresses, asked in order.
    :param service: the master's name in the sentinels' configuration.
    :param settings: connections to the master (its credentials and TLS).
    :param sentinel_settings: connections to the sentinels.
    """

    def __init__(
        self, sentinels: Sequence[Address], service: str, settings: ConnectionSettings,
        sentinel_settings: ConnectionSettings | None = None,
    ) -> None:
        if not sentinels:
            raise ValueError("at least one sentinel address is required")
        super().__init__(sentinels[0], settings)
        self._primary = None
        self.sentinels = list(sentinels)
        self.service = service
        self.sentinel_settings = sentinel_settings or ConnectionSettings(
            connect_timeout=settings.connect_timeout
        )
        self._refreshing: asyncio.Future[None] | None = None

    async def refresh(self) -> None:
        """Ask the sentinels for the master and check that it says it is one."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
            # read even when every waiter was cancelled (the shield keeps it running)
            self._refreshing.add_done_callback(_retrieved)
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        errors: list[str] = []
        failures: list[BaseException] = []
        for sentinel in list(self.sentinels):
            try:
                address = await self._ask(sentinel)
            except Exception as exc:
                errors.append(f"{sentinel}: {exc!r}")
                failures.append(exc)
                continue
            if address is None:
                errors.append(f"{sentinel}: no master named {self.service!r}")
                continue
            try:
                role = await self.command(address, self.settings, "ROLE")
            except Exception as exc:
                errors.append(f"{address}: {exc!r}")
                failures.append(exc)
                continue
            if not role or role[0] != b"master":
                errors.append(f"{address} is not a master yet")
                continue
            if address != self._primary:
                if self._primary is not None:
                    logger.warning("Redis master %r moved to %s", self.service, address)
                self._primary = address
                self.generation += 1
            return
        message = f"no sentinel knows master {self.service!r}: " + "; ".join(errors)
        refusal = _refusal_among(failures)
        if refusal is not None:
            raise refusal from TopologyError(message)
        raise TopologyError(message)

    async def _ask(self, sentinel: Address) -> Address | None:
        reply = await self.command(
            sentinel, self.sentinel_settings, "SENTINEL", "get-master-addr-by-name", self.service
        )
        if not reply:
            return None
        return Address(reply[0].decode(), int(reply[1]))

    def describe(self) -> str:
        return f"sentinel master {self.service!r} at {self._primary}"


class ClusterTopology(Topology):
    """A Redis Cluster: the slot map, from ``CLUSTER SLOTS``.

    :param seeds: addresses to learn the cluster from (any nodes).
    :param settings: connections to every node (credentials, TLS).
    """

    cluster = True

    def __init__(self, seeds: Sequence[Address], settings: ConnectionSettings) -> None:
        if not seeds:
            raise ValueError("at least one cluster node address is required")
        super().__init__(seeds[0], settings)
        self._primary = None
        self.seeds = list(seeds)
        self._slots: list[Address | None] = []
        self._primaries: list[Address] = []
        self._all: list[Address] = []
        self._slot_cache: dict[bytes, int] = {}
        self._refreshing: asyncio.Future[None] | None = None

    @property
    def known(self) -> bool:
        return bool(self._slots)

    def table_sizes(self) -> dict[str, int]:
        return {"slot_cache": len(self._slot_cache)}

    def slot(self, channel: bytes) -> int:
        """The hash slot of ``channel`` (hash tags honoured, as Redis does)."""
        slot = self._slot_cache.get(channel)
        if slot is None:
            if len(self._slot_cache) >= 65536:
                self._slot_cache.clear()
            slot = self._slot_cache[channel] = key_slot(channel)
        return slot

    def node_for(self, channel: bytes) -> Address:
        if not self._slots:
            raise TopologyError("the cluster's slots are not known yet")
        address = self._slots[self.slot(channel)]
        if address is None:
            raise TopologyError(f"no node serves the slot of {channel!r}")
        return address

    def primary(self) -> Address:
        if not self._primaries:
            raise TopologyError("the cluster's nodes are not known yet")
        return self._primaries[0]

    def primaries(self) -> list[Address]:
        return list(self._primaries)

    def nodes(self) -> list[Address]:
        """Every node, replicas included (Node's adapter sums NUMSUB over them)."""
        if not self._all:
            raise TopologyError("the cluster's nodes are not known yet")
        return list(self._all)

    async def refresh(self) -> None:
        """Read ``CLUSTER SLOTS`` from a known node or a seed (one refresh at a time)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
            # read even when every waiter was cancelled (the shield keeps it running)
            self._refreshing.add_done_callback(_retrieved)
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        errors: list[str] = []
        failures: list[BaseException] = []
        candidates = list(dict.fromkeys([*self._primaries, *self._all, *self.seeds]))
        for address in candidates:
            try:
                reply = await self.command(address, self.settings, "CLUSTER", "SLOTS")
            except Exception as exc:
                errors.append(f"{address}: {exc!r}")
                failures.append(exc)
                continue
            if not isinstance(reply, list) or not reply:
                errors.append(f"{address}: no slots")
                continue
            self._apply(address, reply)
            return
        message = "no cluster node answered CLUSTER SLOTS: " + "; ".join(errors)
        refusal = _refusal_among(failures)
        if refusal is not None:
            raise refusal from TopologyError(message)
        raise TopologyError(message)

    def _apply(self, asked: Address, reply: list[Any]) -> None:
        slots: list[Address | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        primaries: dict[Address, None] = {}
        every: dict[Address, None] = {}
        for entry in reply:
            start, end = int(entry[0]), int(entry[1])
            owners = [self._node_address(asked, node) for node in entry[2:]]
            if not owners:
                continue
            primary = owners[0]
            primaries[primary] = None
            for address in owners:
                every[address] = None
            for slot in range(start, end + 1):
                slots[slot] = primary
        changed = slots != self._slots
        self._slots = slots
        self._primaries = sorted(primaries, key=str)
        self._all = sorted(every, key=str)
        if changed:
            self.generation += 1

    def _node_address(self, asked: Address, node: list[Any]) -> Address:
        host = node[0].decode() if isinstance(node[0], bytes) else str(node[0] or "")
        if not host or host == "?":
            host = asked.host  # the node we asked, when it knows no better name
        return Address(host, int(node[1]))

    def describe(self) -> str:
        return f"cluster of {len(self._primaries)} primaries"


DiscoveryCommand = Callable[..., Awaitable[Any]]
"""``await command(address, settings, *args)``: one discovery command's reply."""


async def _command(address: Address, settings: ConnectionSettings, *args: Any) -> Any:
    """One command on a short-lived connection (topology discovery only)."""
    link = await open_link(address, settings)
    try:
        return await asyncio.wait_for(
            link.request(encode_command(*args)), settings.connect_timeout
        )
    except hiredis.ReplyError as exc:
        raise discovery_error(exc, args, address) from None
    finally:
        link.close()


def discovery_error(error: hiredis.ReplyError, args: tuple[Any, ...], address: Address
                    ) -> Exception:
    """What a refused discovery command raises: a refusal (the ACL rules lack it) names
    the command, rather than letting it read as "no node answered"."""
    if is_refusal(error):
        name = " ".join(str(arg) for arg in args[:2] if isinstance(arg, str))
        return RedisRefusedError(name, (), error, address)
    return error


def _refusal_among(errors: list[BaseException]) -> RedisRefusedError | None:
    """The first refusal among a failed discovery's errors (it says more than 'none answered')."""
    return next((exc for exc in errors if isinstance(exc, RedisRefusedError)), None)


__all__ = ["ClusterTopology", "SentinelTopology", "Topology", "TopologyError"]
