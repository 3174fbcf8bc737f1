"""The wire protocol of Node's ``@socket.io/redis-adapter`` 8.3, without I/O.

``parsers`` and ``notepack`` (bytes), ``rooms`` (room arguments and room
lists), ``broadcast`` (``[uid, packet, opts]``), ``channels`` and
``requests`` (the classic channels, requests and responses), ``classic``
(the codec that turns them into bytes), ``handshake`` (sockets as other
servers see them).  Used by the managers and the emitters alike.
"""
