# Part of src/_fastpath.pyx, which includes it: deliver, DeliveryCache and the
# asyncio.Queue internals they mirror.

# ``asyncio.Queue.put_nowait`` done at C level (see ``_put_all``).  The
# methods are the ones the class had when this module was imported; if any is
# replaced later (a patch, a debugging hook) every queue takes the slow path.
cimport cython
from cpython.dict cimport PyDict_GetItemWithError

cdef object _AsyncioQueue = _asyncio.Queue
cdef object _AsyncioEvent = _asyncio.Event
cdef object _Deque = _deque
cdef object _deque_append = _deque.append
cdef tuple _QUEUE_METHODS = ("put_nowait", "full", "_put", "_wakeup_next", "qsize")
cdef tuple _queue_methods = tuple([getattr(_AsyncioQueue, name) for name in _QUEUE_METHODS])
cdef object _event_clear = _AsyncioEvent.clear
# Python 3.13's Queue.shutdown: a shut-down queue refuses items
cdef bint _HAS_SHUTDOWN = hasattr(_asyncio, "QueueShutDown")
# the versions whose asyncio.Queue internals _put_all was checked against;
# any other Python takes put_nowait itself
cdef bint _QUEUE_LAYOUT_KNOWN = (3, 10) <= _sys.version_info[:2] <= (3, 13)
# a DeliveryCache holding this many records looks for stale ones before it
# adds another, and then not again before it has doubled what is left
cdef Py_ssize_t _PRUNE_FLOOR = 1024


cdef bint _queue_is_pristine() except -1:
    """True while ``asyncio.Queue`` still has the methods ``_put_all`` mirrors."""
    cdef Py_ssize_t i
    if not _QUEUE_LAYOUT_KNOWN:
        return False
    for i in range(len(_QUEUE_METHODS)):
        if getattr(_AsyncioQueue, _QUEUE_METHODS[i]) is not _queue_methods[i]:
            return False
    return True


cdef int _put_each(object queue, object packets) except -1:
    """``queue.put_nowait(pkt)`` for each packet: any queue type."""
    put = queue.put_nowait
    for pkt in packets:
        put(pkt)
    return 0


cdef inline int _put_inline(object queue, object items, object getters, object finished,
                            object packets, bint event_fast) except -1:
    """What ``put_nowait`` of each packet does to an unbounded, open ``asyncio.Queue``.

    ``items``, ``getters`` and ``finished`` are the queue's ``_queue`` (a
    deque), ``_getters`` (a deque) and ``_finished``; ``event_fast`` says
    ``asyncio.Event.clear`` is untouched.  As in CPython 3.10 to 3.13: append
    to ``_queue``, count ``_unfinished_tasks``, clear ``_finished`` and wake
    the first waiting getter per item.
    """
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t woken = 0
    for pkt in packets:
        _deque_append(items, pkt)
        count += 1
    if not count:
        return 0
    queue._unfinished_tasks += count
    if event_fast and type(finished) is _AsyncioEvent:
        finished._value = False  # all that Event.clear does in 3.10 to 3.13
    else:
        finished.clear()
    # one wake-up per item, as ``count`` calls of ``_wakeup_next`` would do
    while woken < count and getters:
        waiter = getters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            woken += 1
    return 0


cdef int _put_all(object queue, object packets, bint fast, bint event_fast) except -1:
    """``queue.put_nowait(pkt)`` for each packet, inlined for ``asyncio.Queue``.

    For an unbounded, not shut down, exactly ``asyncio.Queue`` (``fast`` says
    its class is untouched) this is ``_put_inline``; any other queue gets its
    own ``put_nowait``.
    """
    if not fast or type(queue) is not _AsyncioQueue:
        return _put_each(queue, packets)
    maxsize = queue._maxsize
    if type(maxsize) is not int or maxsize > 0:
        return _put_each(queue, packets)  # bounded: may raise QueueFull
    if _HAS_SHUTDOWN and queue._is_shutdown:
        return _put_each(queue, packets)  # raises QueueShutDown
    items = queue._queue
    getters = queue._getters
    if type(items) is not _Deque or type(getters) is not _Deque:
        return _put_each(queue, packets)
    return _put_inline(queue, items, getters, queue._finished, packets, event_fast)


@cython.final
cdef class _QueueRecord:
    """A socket, its queue and what ``put_nowait`` touches of the queue.

    python-engineio sets a socket's ``queue`` in ``BaseSocket.__init__`` only,
    and ``asyncio.Queue`` sets ``_queue``, ``_getters``, ``_finished`` and
    ``_maxsize`` in ``__init__`` and never again (CPython 3.10 to 3.13), so
    all of them are read once per socket instead of once per delivery.  The
    record keeps ``socket`` alive, so no other object can ever pass for it.
    """

    cdef object socket
    cdef object queue
    cdef object items
    cdef object getters
    cdef object finished


@cython.final
cdef class DeliveryCache:
    """Per-socket records that let the compiled ``deliver`` skip reads that never change.

    Pass the same cache to every ``deliver`` call on one Engine.IO server's
    ``sockets``; ``forget(eio_sid)`` drops a socket's record (the adapter
    calls it when a socket disconnects) and ``clear()`` drops them all.  The
    compiled twin keeps a record for each socket with an exact ``str``
    ``eio_sid`` whose queue is an exact, unbounded ``asyncio.Queue``, used
    only while ``sockets[eio_sid]`` is the very socket object it was made
    for, so a new or replaced socket never gets a stale record; a socket's
    queue is taken to be the one it had when its record was made
    (python-engineio never replaces it; ``forget`` the socket if you do).
    Records that ``forget`` misses are pruned: when the cache holds 1024
    records or more, those whose socket is gone, replaced or closed are
    dropped before a new one is added, and then not again before the cache
    has doubled.  The pure-Python twin keeps no records.  A cache never
    changes what ``deliver`` does, only how fast.
    """

    cdef dict _records
    cdef Py_ssize_t _limit

    def __cinit__(self):
        self._records = {}
        self._limit = _PRUNE_FLOOR

    def forget(self, eio_sid):
        """Drop the record of ``eio_sid``, if there is one."""
        if type(eio_sid) is str:  # only exact str ids get records
            self._records.pop(eio_sid, None)

    def clear(self):
        """Drop every record."""
        self._records.clear()
        self._limit = _PRUNE_FLOOR

    def __len__(self):
        return len(self._records)

    def __contains__(self, eio_sid):
        return type(eio_sid) is str and eio_sid in self._records

    cdef _QueueRecord _add(self, object eio_sid, object socket, object queue, object sockets):
        """A new record of ``socket`` for ``eio_sid``; None if its queue does not qualify."""
        if type(queue) is not _AsyncioQueue:
            self._records.pop(eio_sid, None)
            return None
        maxsize = queue._maxsize
        items = queue._queue
        getters = queue._getters
        if (type(maxsize) is not int or maxsize > 0
                or type(items) is not _Deque or type(getters) is not _Deque):
            self._records.pop(eio_sid, None)
            return None
        cdef _QueueRecord record = _QueueRecord.__new__(_QueueRecord)
        record.socket = socket
        record.queue = queue
        record.items = items
        record.getters = getters
        record.finished = queue._finished
        if len(self._records) >= self._limit and eio_sid not in self._records:
            self._prune(sockets)
        self._records[eio_sid] = record
        return record

    cdef int _prune(self, object sockets) except -1:
        """Drop the records whose socket is gone, replaced or closed."""
        stale = []
        # a copy: ``sockets.get`` or ``closed`` may be Python code that forgets records
        for eio_sid, record in list(self._records.items()):
            socket = sockets.get(eio_sid)
            if socket is not (<_QueueRecord>record).socket or socket.closed:
                stale.append(eio_sid)
        for eio_sid in stale:
            self._records.pop(eio_sid, None)
        self._limit = max(_PRUNE_FLOOR, 2 * len(self._records))
        return 0


def deliver(sockets, eio_sids, packets, polling_packets, bint volatile,
            DeliveryCache cache=None, DirectLinks links=None, frames=None):
    """Queue ``packets`` on each recipient's Engine.IO socket, without tasks.

    ``sockets`` is the Engine.IO server's ``sockets`` dict.  Sockets that are
    unknown or closed are skipped.  Websocket sockets share ``packets``; when
    ``polling_packets`` is given (binary messages), sockets still on
    long-polling get fresh packets from it, because Engine.IO caches a
    packet's first encoding and polling needs base64.  With ``volatile``,
    sockets that still have packets waiting are skipped.  ``cache`` (a
    ``DeliveryCache``, the same one for every call on ``sockets``) only makes
    it faster.  With ``links`` (a ``DirectLinks``) and ``frames`` (the
    websocket frames of ``packets``, as bytes), a registered client whose
    queue and writer are idle gets ``frames`` written to its transport
    instead (see ``DirectLinks``).  Returns the number of sockets the packets
    were queued on or the frames written to.
    """
    cdef Py_ssize_t delivered = 0
    cdef bint exact = type(sockets) is dict
    cdef bint has_polling = polling_packets is not None
    cdef bint fast = _queue_is_pristine()
    cdef bint event_fast = fast and _AsyncioEvent.clear is _event_clear
    # direct writes read asyncio.Queue's internals: only where its layout is known
    cdef bint direct = (fast and links is not None and frames is not None
                        and len(links._links) > 0)
    cdef dict records = cache._records if cache is not None and fast else None
    cdef PyObject *found
    cdef _QueueRecord record
    cdef bint wrote
    if type(packets) is not list and type(packets) is not tuple:
        packets = list(packets)
    for eio_sid in eio_sids:
        if exact:
            socket = (<dict>sockets).get(eio_sid)
        else:
            socket = sockets.get(eio_sid)
        if socket is None or socket.closed:
            continue
        # records are kept for exact ``str`` ids only (what python-engineio
        # uses): looking one of those up in a dict of them runs no ``__eq__``
        if records is None or type(eio_sid) is not str:
            queue = socket.queue
            record = None
        else:
            found = PyDict_GetItemWithError(records, eio_sid)
            if found is not NULL and (<_QueueRecord>found).socket is socket:
                record = <_QueueRecord>found
                queue = record.queue
            else:
                queue = socket.queue
                record = cache._add(eio_sid, socket, queue, sockets)
        if direct and type(eio_sid) is str:
            if record is not None:
                wrote = _write_direct(links, eio_sid, socket, queue, record.items,
                                      record.getters, frames)
            else:
                wrote = _write_direct(links, eio_sid, socket, queue, None, None, frames)
            if wrote:
                delivered += 1
                continue
        if record is not None:
            if volatile and len(record.items):
                continue
            if has_polling and not socket.upgraded:
                batch = polling_packets()
            else:
                batch = packets
            if _HAS_SHUTDOWN and queue._is_shutdown:
                _put_each(queue, batch)  # raises QueueShutDown
            else:
                _put_inline(queue, record.items, record.getters, record.finished, batch,
                            event_fast)
            delivered += 1
            continue
        if volatile:
            if fast and type(queue) is _AsyncioQueue and type(queue._queue) is _Deque:
                if len(queue._queue):
                    continue
            elif queue.qsize():
                continue
        if has_polling and not socket.upgraded:
            _put_all(queue, polling_packets(), fast, event_fast)
        else:
            _put_all(queue, packets, fast, event_fast)
        delivered += 1
    return delivered
