# Part of src/_fastpath.pyx, which includes it: ChannelRouter, which picks the
# broadcast channels to decode.

# Namespace tables up to this size are scanned with memcmp instead of slicing
# the channel name to look it up.
cdef enum:
    _SCAN_LIMIT = 8


cdef class ChannelRouter:
    """Map a broadcast channel name to the namespace that should decode it.

    Channels are ``<key>#<nsp>#`` and ``<key>#<nsp>#<room>#``.  ``route``
    returns ``(nsp, index)`` when a message must be decoded and ``None`` when
    it can be dropped unread: another key, an unknown namespace, a malformed
    name, or a room no local socket is in.  ``dropped`` counts the drops.
    """

    cdef public bytes prefix
    cdef public dict namespaces
    cdef public Py_ssize_t dropped

    def __init__(self, key):
        self.prefix = (key + "#").encode()
        self.namespaces = {}
        self.dropped = 0

    def add(self, nsp, index):
        """Route the namespace ``nsp`` to ``index``."""
        self.namespaces[nsp.encode()] = (nsp, index)

    cdef object _lookup(self, const char *name, Py_ssize_t size):
        """``namespaces.get(name)``, without making a bytes object when small."""
        cdef dict namespaces = self.namespaces
        cdef Py_ssize_t pos = 0
        cdef PyObject *key
        cdef PyObject *value
        if namespaces is None:
            raise TypeError("ChannelRouter.namespaces is None")
        if PyDict_Size(namespaces) <= _SCAN_LIMIT:
            while PyDict_Next(namespaces, &pos, &key, &value):
                if not PyBytes_CheckExact(<object>key):
                    break
                if (PyBytes_GET_SIZE(<object>key) == size
                        and memcmp(PyBytes_AS_STRING(<object>key), name, size) == 0):
                    return <object>value
            else:
                return None
        return namespaces.get(PyBytes_FromStringAndSize(name, size))

    def route(self, channel):
        """Return ``(nsp, index)`` if the message on ``channel`` is for us."""
        cdef bytes data
        if PyBytes_CheckExact(channel):
            data = <bytes>channel
        elif isinstance(channel, bytes):
            data = bytes(channel)
        else:
            raise TypeError(f"channel must be bytes, not {type(channel).__name__}")
        return self._route(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    cdef object _route(self, const char *buf, Py_ssize_t size):
        """``route`` on a channel name that is not (yet) a bytes object."""
        cdef bytes prefix = self.prefix
        cdef const char *hit
        cdef Py_ssize_t start, end
        if prefix is None:
            raise TypeError("ChannelRouter.prefix is None")
        start = PyBytes_GET_SIZE(prefix)
        if size < start or memcmp(buf, PyBytes_AS_STRING(prefix), start) != 0:
            self.dropped += 1
            return None
        hit = <const char *>memchr(buf + start, c'#', size - start)
        if hit == NULL or hit == buf:
            self.dropped += 1
            return None
        end = hit - buf
        entry = self._lookup(buf + start, end - start)
        if entry is None:
            self.dropped += 1
            return None
        if end + 2 >= size:
            # "<key>#<nsp>#" (or an empty room, which Node treats the same)
            if end + 1 == size or buf[end + 1] == c'#':
                return entry
            self.dropped += 1
            return None
        if buf[size - 1] != c'#':
            self.dropped += 1
            return None
        try:
            room = PyUnicode_DecodeUTF8(buf + end + 1, size - end - 2, NULL)
        except UnicodeDecodeError:
            self.dropped += 1
            return None
        if type(entry) is tuple and PyTuple_GET_SIZE(entry) == 2:
            index = (<tuple>entry)[1]
        else:
            index = entry[1]
        if type(index) is RoomIndex:
            found = (<RoomIndex>index)._has_channel_room(<str>room)
        else:
            found = index.has_channel_room(room)
        if found:
            return entry
        self.dropped += 1
        return None
