"""The classic protocol's parts of a manager, asyncio or synchronous.

:class:`ClassicParts` assembles the codec (:mod:`.protocol.classic`), the
cross-server engine (:mod:`.engine.classic`) and its receiver around a
transport, for :class:`~.adapter.AsyncRedisAdapter` and
:class:`~.sync_adapter.RedisAdapter`: the two differ only in their manager
half and their transport.
"""

from __future__ import annotations

from typing import Any

from .core.clock import Clock
from .core.manager_side import ManagerSide
from .engine.base import EngineBase
from .engine.classic.engine import ClassicEngine
from .engine.classic.receiver import ClassicReceiver
from .fastpath import ChannelRouter, RoomIndex
from .protocol.classic import ClassicCodec
from .protocol.parsers import Parser
from .transport.base import abilities
from .uid import new_uid


class ClassicParts:
    """Codec, engine and receiver of the classic protocol (a mixin of the managers)."""

    engine: EngineBase
    local: Any
    fanout: Any
    counters: Any
    _tasks: Any
    _get_logger: Any
    _receive_with: Any
    _later: Any
    _disconnect_local: Any

    def _assemble_classic(
        self, key: str, parser: str | Parser, connection: Any, *, requests_timeout: float,
        callback_timeout: float, specific_response_channel: bool,
        max_message_size: int | None, clock: Clock | None = None,
    ) -> None:
        self.uid = new_uid()
        self.host_id = self.uid  # read by python-socketio's Admin UI
        self.codec = ClassicCodec(key, parser, self.uid)
        self.key, self.parser, self.channels = key, self.codec.parser, self.codec.channels
        self.connection = connection
        self._router = ChannelRouter(key)
        connection.channel_filter = self._router  # drops foreign rooms unread
        self.engine = ClassicEngine(
            self.codec, connection, ManagerSide(self, self.local, self.fanout, self._later),
            self, self._tasks, self._disconnect_local,  # type: ignore[arg-type]
            requests_timeout=float(requests_timeout), callback_timeout=float(callback_timeout),
            specific_response_channel=specific_response_channel,
            logger=self._get_logger, clock=clock,
        )
        self.receiver = ClassicReceiver(
            self.codec, self._router, self.engine, self.fanout, self.counters, self._get_logger
        )
        self._receive_with(self.receiver.on_message, max_message_size)

    def _counters(self) -> dict[str, int]:
        return {"dropped": self._router.dropped,
                "oversized": abilities(self.connection).oversized}

    def _receive_namespace(self, nsp: str, index: RoomIndex) -> None:
        """Read ``nsp``'s broadcasts, requests and responses from now on."""
        self.receiver.add_namespace(nsp, index)


__all__ = ["ClassicParts"]
