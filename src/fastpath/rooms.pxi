# Part of src/_fastpath.pyx, which includes it: the room index (RoomIndex) and
# the recipient selection helpers.

# Same set as the twin's; only used by the generic (non-str) path.
_NUMERIC_CHARS = frozenset("0123456789.-+eE")


cdef inline bint _is_numeric_char(Py_UCS4 ch) noexcept:
    return (u"0" <= ch <= u"9") or ch in u".-+eE"


cdef inline dict _everyone(dict rooms):
    """``rooms[None]``, checked to be a dict."""
    return rooms[None]


cdef class RoomIndex:
    """The rooms of one namespace, with the reverse indexes the adapter needs.

    ``rooms`` keeps python-socketio's layout, ``rooms[room] = {sid: eio_sid}``,
    where room ``None`` holds every socket of the namespace and each socket has
    a room named after its sid.  ``sid_rooms`` maps a sid to the *other* rooms
    it is in, so a disconnect never scans every room.
    """

    cdef public dict rooms
    cdef public dict sid_rooms
    cdef public dict eio_to_sid

    def __init__(self):
        self.rooms = {None: {}}
        self.sid_rooms = {}
        self.eio_to_sid = {}

    def __len__(self):
        return len(_everyone(self.rooms))

    def connect(self, sid, eio_sid):
        """Add a socket; return False if ``eio_sid`` is already in the namespace."""
        cdef dict rooms = self.rooms
        cdef dict everyone
        cdef dict eio_to_sid = self.eio_to_sid
        cdef dict members
        if eio_sid in eio_to_sid:
            return False
        everyone = _everyone(rooms)
        if sid in everyone:
            return False
        everyone[sid] = eio_sid
        eio_to_sid[eio_sid] = sid
        members = rooms.get(sid)
        if members is None:
            rooms[sid] = {sid: eio_sid}
        else:
            # a room already named like the new sid: share it, as
            # python-socketio's enter_room does
            members[sid] = eio_sid
        return True

    def join(self, sid, room):
        """Put a connected socket in a room; return True if it was not in it.

        Raises ``KeyError`` for an unknown sid and ``ValueError`` when the room
        is another socket's own room.
        """
        cdef dict rooms = self.rooms
        cdef dict everyone = _everyone(rooms)
        cdef dict members
        cdef set joined
        cdef dict sid_rooms
        cdef Py_ssize_t size
        eio_sid = everyone[sid]
        if room is None:
            return False
        members = rooms.get(room)
        cdef bint own = not (room != sid)
        if not own and room in everyone:
            raise ValueError("cannot enter a sid room")
        if members is None:
            rooms[room] = {sid: eio_sid}
        else:
            # one lookup for "already in it?" and the insertion
            size = PyDict_Size(members)
            members.setdefault(sid, eio_sid)
            if PyDict_Size(members) == size:
                return False
        if not own:
            sid_rooms = self.sid_rooms
            joined = sid_rooms.get(sid)
            if joined is None:
                sid_rooms[sid] = {room}
            else:
                joined.add(room)
        return True

    def leave(self, sid, room):
        """Take a socket out of a room; return True if it was in it."""
        cdef dict rooms = self.rooms
        cdef dict members
        cdef set joined
        cdef dict sid_rooms
        if room is None:
            return False
        members = rooms.get(room)
        if members is None or members.pop(sid, _MISSING) is _MISSING:
            return False
        if not members:
            del rooms[room]
        if room != sid:
            sid_rooms = self.sid_rooms
            joined = sid_rooms[sid]
            joined.discard(room)
            if not joined:
                del sid_rooms[sid]
        return True

    def disconnect(self, sid):
        """Remove a socket from the namespace; return the rooms it left."""
        cdef dict rooms = self.rooms
        cdef dict members
        cdef dict own
        cdef list left
        eio_sid = _everyone(rooms).pop(sid, None)
        if eio_sid is None:
            return []
        self.eio_to_sid.pop(eio_sid, None)
        left = []
        own = rooms.get(sid)
        if own is not None and own.pop(sid, _MISSING) is not _MISSING:
            if not own:
                del rooms[sid]
            left.append(sid)
        joined = self.sid_rooms.pop(sid, None)
        if joined is not None:
            for room in joined:
                members = rooms[room]
                del members[sid]
                if not members:
                    del rooms[room]
                left.append(room)
        return left

    def close_room(self, room):
        """Empty a room; return the sids that were in it."""
        cdef dict rooms = self.rooms
        cdef dict sid_rooms
        cdef dict members
        cdef set joined
        if room is None:
            raise ValueError("cannot close the namespace room")
        if room in _everyone(rooms):
            raise ValueError("cannot close a sid room")
        members = rooms.pop(room, None)
        if members is None:
            return []
        sid_rooms = self.sid_rooms
        for sid in members:
            joined = sid_rooms[sid]
            joined.discard(room)
            if not joined:
                del sid_rooms[sid]
        return list(members)

    def has_room(self, room):
        """Return True if a socket of this namespace is in ``room``."""
        return room is not None and room in self.rooms

    def has_channel_room(self, name):
        """Room check for a name read from a channel, numeric form included.

        ``socket.io#/#123#`` names the room ``"123"`` or the number ``123``.
        """
        if type(name) is str:
            return self._has_channel_room(<str>name)
        # generic path, for names that are not exactly ``str``
        if name in self.rooms:
            return True
        if not name or not _NUMERIC_CHARS.issuperset(name):
            return False
        try:
            number = float(name)
        except ValueError:
            return False
        return number in self.rooms

    cdef bint _has_channel_room(self, str name) except -1:
        cdef dict rooms = self.rooms
        cdef Py_UCS4 ch
        if name in rooms:
            return True
        if not name:
            return False
        for ch in name:
            if not _is_numeric_char(ch):
                return False
        try:
            number = float(name)
        except ValueError:
            return False
        return number in rooms

    def rooms_of(self, sid):
        """Return the rooms a socket is in, its own room first."""
        cdef list result = []
        cdef dict own = self.rooms.get(sid)
        if own is not None and sid in own:
            result.append(sid)
        joined = self.sid_rooms.get(sid)
        if joined:
            result.extend(joined)
        return result

    def select(self, rooms, except_rooms):
        """Return ``{sid: eio_sid}`` of the recipients of a broadcast.

        The union of ``rooms`` (every socket when empty or None), minus every
        socket in any of ``except_rooms``; each socket appears once.
        """
        cdef dict all_rooms = self.rooms
        cdef dict selected
        if rooms:
            selected = {}
            if type(rooms) is list or type(rooms) is tuple:
                for room in rooms:
                    _add_members(selected, all_rooms.get(room))
            else:
                for room in rooms:
                    _add_members(selected, all_rooms.get(room))
        else:
            selected = _everyone(all_rooms).copy()
        if except_rooms and selected:
            if type(except_rooms) is list or type(except_rooms) is tuple:
                for room in except_rooms:
                    _remove_members(selected, all_rooms.get(room))
            else:
                for room in except_rooms:
                    _remove_members(selected, all_rooms.get(room))
        return selected

    def select_eio(self, rooms, except_rooms):
        """Return the ``eio_sid`` of each recipient of a broadcast, as a list.

        The recipients of ``select(rooms, except_rooms)``, in the same order,
        without their sids: what a fan-out needs.
        """
        cdef dict all_rooms = self.rooms
        cdef dict source
        cdef dict found
        cdef list excluded = []
        cdef list result
        cdef Py_ssize_t i, n_excluded, total
        cdef bint own_source = False  # ``source`` is a union made here
        if except_rooms:
            for room in except_rooms:
                members = all_rooms.get(room)
                if members:
                    excluded.append(members)
        if rooms:
            source = None
            sources = None  # from a second room on: the distinct non-empty rooms, in order
            for room in rooms:
                members = all_rooms.get(room)
                if not members or members is source:
                    continue
                if source is None:
                    source = <dict?>members
                elif sources is None:
                    sources = [source, members]
                elif not _holds(sources, members):
                    sources.append(members)
            if source is None:
                return []
            if sources is not None:
                if not excluded and _all_dicts(sources, _WALKED_ROOMS):
                    return _union_values(sources)
                source = source.copy()
                own_source = True
                for i in range(1, len(sources)):
                    PyDict_Update(source, sources[i])
        else:
            source = _everyone(all_rooms)
        n_excluded = len(excluded)
        if not n_excluded:
            return PyDict_Values(source)
        total = 0
        for i in range(n_excluded):
            if type(excluded[i]) is not dict:
                # not the index's own layout: the generic, slower test
                return [eio for sid, eio in source.items()
                        if not any(sid in members for members in excluded)]
            total += PyDict_Size(<dict>excluded[i])
        if total <= _FEW_TARGETS:
            # the sender alone, typically: read the values, then drop a few
            return _values_without(source, excluded)
        if total * 4 < PyDict_Size(source):
            # copy (a block copy for a dict without holes) and delete
            found = source if own_source else source.copy()
            for members in excluded:
                _remove_members(found, members)
            return PyDict_Values(found)
        result = []
        _append_absent(result, source, excluded, n_excluded)
        return result


cdef enum:
    # ``select_eio`` drops up to this many excluded sockets from a list of the
    # source's values; more go through a copy of the source, or a filter
    _FEW_TARGETS = 8
    # ``select_eio`` reads a union of up to this many rooms (and no except
    # rooms) room by room; more are merged into a copy of the first
    _WALKED_ROOMS = 4


cdef inline bint _holds(list items, object item):
    """True if ``item`` itself is in ``items``."""
    for other in items:
        if other is item:
            return True
    return False


cdef inline bint _all_dicts(list items, Py_ssize_t most):
    """True if ``items`` are at most ``most`` exact dicts."""
    if len(items) > most:
        return False
    for item in items:
        if type(item) is not dict:
            return False
    return True


cdef int _append_absent(list result, dict source, list others, Py_ssize_t count) except -1:
    """Append the values of ``source`` whose sid is in none of ``others[:count]`` (dicts)."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t i
    cdef PyObject *key
    cdef PyObject *value
    while PyDict_Next(source, &pos, &key, &value):
        # held: a key's __eq__ could change the dicts (never a str's)
        sid = <object>key
        eio = <object>value
        for i in range(count):
            if PyDict_Contains(<dict>others[i], sid):
                break
        else:
            result.append(eio)
    return 0


cdef list _union_values(list rooms):
    """The values of the union of ``rooms`` (dicts), in ``select``'s order.

    The first room's values are read in one call; each later room adds the
    sockets none of the rooms before it has.
    """
    cdef list result = PyDict_Values(<dict>rooms[0])
    cdef Py_ssize_t j
    for j in range(1, len(rooms)):
        _append_absent(result, <dict>rooms[j], rooms, j)
    return result


cdef inline Py_ssize_t _find(PyObject **targets, Py_ssize_t count, PyObject *item) noexcept:
    """The position of ``item`` among the first ``count`` targets, or -1."""
    cdef Py_ssize_t j
    for j in range(count):
        if targets[j] == item:
            return j
    return -1


cdef list _values_without(dict source, list excluded):
    """``source``'s values, in order, minus those of the sids in ``excluded``.

    ``excluded`` holds dicts with at most ``_FEW_TARGETS`` keys in all.  The
    values are read in one call, then the few excluded ones are found by
    identity: each is the very object ``source`` holds for its sid, and an
    index never holds one eio_sid for two sockets (``connect`` refuses it).
    """
    cdef PyObject *targets[_FEW_TARGETS]
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t pos, j, read, write, size
    cdef PyObject *key
    cdef PyObject *value
    cdef PyObject *found
    cdef PyObject *item
    cdef PyObject **items
    cdef list result = PyDict_Values(source)
    for members in excluded:
        pos = 0
        while count < _FEW_TARGETS and PyDict_Next(<dict>members, &pos, &key, &value):
            sid = <object>key  # held: a key's __eq__ could change the dicts
            found = PyDict_GetItemWithError(source, sid)
            if found is not NULL and _find(targets, count, found) < 0:
                targets[count] = found
                count += 1
    if not count:
        return result
    items = PySequence_Fast_ITEMS(result)
    size = len(result)
    write = 0
    for read in range(size):
        item = items[read]
        j = _find(targets, count, item)
        if j < 0:
            items[write] = item
            write += 1
            continue
        # a target: drop the list's reference (source still holds one)
        _decref(item)
        count -= 1
        targets[j] = targets[count]
        if not count:
            memmove(&items[write], &items[read + 1], (size - read - 1) * sizeof(PyObject *))
            write += size - read - 1
            break
    _set_list_size(result, write)
    return result


cdef inline int _add_members(dict selected, object members) except -1:
    if members is None:
        return 0
    if type(members) is dict:
        if PyDict_Size(members):
            PyDict_Update(selected, members)
    elif members:
        selected.update(members)
    return 0


cdef int _remove_members(dict selected, object members) except -1:
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *value
    cdef list doomed
    if members is None:
        return 0
    if type(members) is not dict:
        if members:
            for sid in members:
                selected.pop(sid, None)
        return 0
    if PyDict_Size(members) <= PyDict_Size(selected):
        while PyDict_Next(members, &pos, &key, &value):
            sid = <object>key  # held: a key's __eq__ could change the dicts
            selected.pop(sid, None)
    else:
        # walk the smaller dict; collect first, selected cannot change mid-walk
        doomed = []
        while PyDict_Next(selected, &pos, &key, &value):
            sid = <object>key  # held: a key's __eq__ could change the dicts
            if PyDict_Contains(members, sid):
                doomed.append(sid)
        for sid in doomed:
            PyDict_DelItem(selected, sid)
    return 0
