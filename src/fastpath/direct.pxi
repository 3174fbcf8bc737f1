# Part of src/_fastpath.pyx, which includes it before delivery.pxi: DirectLinks,
# the websocket clients ``deliver`` may write a broadcast's frames to directly.

cimport cython

# what a link's ``state`` and ``flow`` are (see DirectLinks.add)
LINK_AIOHTTP = 1
LINK_UVICORN = 2
LINK_WEBSOCKETS = 3
cdef int _LINK_AIOHTTP = 1
cdef int _LINK_UVICORN = 2
cdef int _LINK_WEBSOCKETS = 3
cdef object _asyncio_get_running_loop = _asyncio._get_running_loop


@cython.final
cdef class _Link:
    """One adopted websocket client: its Engine.IO socket, transport and state objects."""

    cdef object socket
    cdef object write
    cdef object is_closing
    cdef int kind
    cdef object state
    cdef object flow
    cdef object open_state
    # frames deferred to the end of this loop iteration, or None
    cdef list pending


@cython.final
cdef class DirectLinks:
    """Websocket clients whose broadcast frames ``deliver`` may write to their transport.

    ``add`` registers one client: its Engine.IO ``socket``, the asyncio
    ``transport`` of its connection and the objects that say whether the
    websocket library lets anything be written now, by ``kind``:

    * ``LINK_AIOHTTP``: ``state`` is aiohttp's ``WebSocketResponse`` (not
      ``_closed``, not ``_closing``), ``flow`` the request handler (not
      ``_paused``: its transport is below the high-water mark);
    * ``LINK_UVICORN``: ``state`` is uvicorn's websocket protocol
      (``handshake_complete`` and not ``close_sent``), ``flow`` its
      ``writable`` event (set);
    * ``LINK_WEBSOCKETS``: ``state`` is a ``websockets`` legacy protocol
      (``state`` is ``open_state``), ``flow`` the same protocol (not
      ``_paused``).

    ``deliver`` writes the frames of a broadcast to a client's transport
    when, besides that, its socket is the one registered, upgraded, not
    upgrading or closing, its queue (an ``asyncio.Queue``) is empty and a
    getter waits on it (the websocket writer task, which then has nothing
    in hand) and the transport is not closing; otherwise it queues the
    packets.  ``written`` counts the direct writes, ``queued`` the
    deliveries to registered clients that went to the queue.

    Inside a running event loop the writes are deferred to one callback
    (``loop.call_soon``, scheduled by the first one): every broadcast
    delivered to a client in one loop iteration reaches its transport in
    one write, in order (a burst read from Redis at once costs one write
    per client, not one per broadcast).  The callback runs before any task
    woken later in the iteration, so before the client's writer could send
    a packet queued after them.  At that point a client whose transport or
    websocket is closing gets nothing.  :meth:`flush` writes them now.
    """

    cdef dict _links
    cdef public Py_ssize_t written
    cdef public Py_ssize_t queued
    # links with deferred frames, and whether the flush is scheduled
    cdef list _due
    cdef bint _scheduled

    def __cinit__(self):
        self._links = {}
        self.written = 0
        self.queued = 0
        self._due = []
        self._scheduled = False

    def add(self, eio_sid, socket, int kind, transport, state, flow, open_state=None):
        """Register ``socket`` (Engine.IO sid ``eio_sid``) served over ``transport``."""
        if type(eio_sid) is not str:
            raise TypeError(f"eio_sid must be a str, not {type(eio_sid).__name__}")
        if kind < _LINK_AIOHTTP or kind > _LINK_WEBSOCKETS:
            raise ValueError(f"unknown link kind {kind!r}")
        cdef _Link link = _Link.__new__(_Link)
        link.socket = socket
        link.write = transport.write
        link.is_closing = transport.is_closing
        link.kind = kind
        link.state = state
        link.flow = flow
        link.open_state = open_state
        self._links[eio_sid] = link

    def forget(self, eio_sid):
        """Drop the registration of ``eio_sid``, if there is one."""
        self._links.pop(eio_sid, None)

    def clear(self):
        """Drop every registration (frames deferred are written first)."""
        self.flush()
        self._links.clear()

    def flush(self):
        """Write the frames deferred in this loop iteration, each client's in one write."""
        cdef _Link link
        self._scheduled = False
        due = self._due
        self._due = []
        for item in due:
            link = <_Link>item
            pending = link.pending
            link.pending = None
            if link.is_closing() or not _link_open(link):
                continue  # the connection is ending: what was not written is lost with it
            try:
                link.write(pending[0] if len(pending) == 1 else b"".join(pending))
            except Exception:
                pass  # a transport whose connection is gone (uvloop raises)

    cdef bint _defer(self, _Link link, object frames) except -1:
        """Keep ``frames`` for the flush at the end of this loop iteration; False when no
        loop is running here (the caller writes them now)."""
        if not self._scheduled:
            loop = _asyncio_get_running_loop()
            if loop is None:
                return False
            loop.call_soon(self.flush)
            self._scheduled = True
        link.pending = [frames]
        self._due.append(link)
        return True

    def __len__(self):
        return len(self._links)

    def __contains__(self, eio_sid):
        return eio_sid in self._links


cdef bint _writer_waits(object getters) except -1:
    """Whether a getter that is not done waits on a queue (its ``_getters``)."""
    for waiter in getters:
        if not waiter.done():
            return True
    return False


cdef bint _link_open(_Link link) except -1:
    """The websocket library has not closed (or begun closing) the connection."""
    state = link.state
    if link.kind == _LINK_AIOHTTP:
        return not (state._closed or state._closing)
    if link.kind == _LINK_UVICORN:
        return bool(state.handshake_complete and not state.close_sent)
    return state.state is link.open_state


cdef bint _link_ready(_Link link, object socket) except -1:
    """The socket and the websocket library let frames be written now (the queue
    is checked by the caller)."""
    if not socket.upgraded or socket.upgrading or socket.closing:
        return False
    if link.is_closing() or not _link_open(link):
        return False
    if link.kind == _LINK_UVICORN:
        return bool(link.flow.is_set())
    return not link.flow._paused


cdef bint _write_direct(DirectLinks links, object eio_sid, object socket, object queue,
                        object items, object getters, object frames) except -1:
    """Write ``frames`` to ``eio_sid``'s transport if it is registered and idle.

    ``items`` and ``getters`` are ``queue``'s ``_queue`` and ``_getters``, or
    None when the caller has not read them.  Returns whether it wrote.
    """
    cdef PyObject *found = PyDict_GetItemWithError(links._links, eio_sid)
    if found is NULL:
        return False
    cdef _Link link = <_Link>found
    if link.socket is not socket:
        return False
    if items is None:
        if type(queue) is not _AsyncioQueue:
            links.queued += 1
            return False
        items = queue._queue
        getters = queue._getters
    if len(items) or not _writer_waits(getters) or not _link_ready(link, socket):
        links.queued += 1
        return False
    if link.pending is not None:
        link.pending.append(frames)
    elif not links._defer(link, frames):
        try:
            link.write(frames)
        except Exception:
            # a transport whose connection is gone (uvloop raises): the queue has it,
            # and the writer ends the socket
            links.queued += 1
            return False
    links.written += 1
    return True
