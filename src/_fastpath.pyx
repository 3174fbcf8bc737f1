# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled core of the adapter, built as ``socketio_redis_adapter._fastpath``.

This is the twin of ``socketio_redis_adapter._fastpath_py``: both modules
expose the same names, signatures and behaviour, and the test suite runs every
test against both.  Nothing here does I/O: these are the per-message and
per-recipient hot paths of the adapter.
"""

import asyncio as _asyncio
import functools as _functools
import json as _json
import sys as _sys
from collections import deque as _deque

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport (
    PyDict_Contains,
    PyDict_DelItem,
    PyDict_GetItemWithError,
    PyDict_Next,
    PyDict_Size,
    PyDict_Update,
    PyDict_Values,
)
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memmove

cdef extern from "Python.h":
    # returns non-zero (1 on CPython 3.11) with RecursionError set
    int Py_EnterRecursiveCall(const char *where)
    void Py_LeaveRecursiveCall()
    PyObject **PySequence_Fast_ITEMS(object sequence)
    void _decref "Py_DECREF"(PyObject *item)

cdef extern from *:
    """
    /* Shorten a list in place, without touching the slots past the new end
       (their references have been moved or dropped by the caller). */
    static inline void _srafp_set_list_size(PyObject *list, Py_ssize_t size) {
        Py_SET_SIZE((PyVarObject *)list, size);
    }
    """
    void _set_list_size "_srafp_set_list_size"(list items, Py_ssize_t size)


cdef inline int _enter_recursive_call(const char *where) except -1:
    if Py_EnterRecursiveCall(where):
        return -1
    return 0

cdef object _MISSING = object()

# Same set as the twin's; only used by the generic (non-str) path.
_NUMERIC_CHARS = frozenset("0123456789.-+eE")

# Namespace tables up to this size are scanned with memcmp instead of slicing
# the channel name to look it up.
cdef enum:
    _SCAN_LIMIT = 8

cdef tuple _SEPARATORS = (",", ":")
cdef dict _DUMPS_KWARGS = {"separators": _SEPARATORS}
cdef object _JSON_DUMPS = _json.dumps
cdef object _JSON_ENCODER = _json.JSONEncoder
# ``json.dumps(obj, separators=(",", ":"))`` is documented as
# ``JSONEncoder(separators=(",", ":")).encode(obj)``; the encoder keeps no
# state between calls, so one instance serves every call made with the
# standard ``dumps`` (``engineio.json.dumps`` is the same function).
cdef object _COMPACT_ENCODE = _JSON_ENCODER(separators=_SEPARATORS).encode


# The adapter passes ``functools.partial(json.dumps, default=...)``:
# ``dumps(obj, separators=S)`` is then documented as
# ``JSONEncoder(separators=S, **partial.keywords).encode(obj)``.  The encoder
# of the last such partial is kept, with a copy of its keywords (a partial's
# keywords dict can be changed in place).
cdef object _Partial = _functools.partial
cdef frozenset _ENCODER_KEYWORDS = frozenset(
    ["skipkeys", "ensure_ascii", "check_circular", "allow_nan", "sort_keys", "default"]
)
cdef object _partial_dumps = None
cdef dict _partial_keywords = None
cdef object _partial_encode = None
# whether ``_partial_encode`` writes what ``_write_json`` writes (see there)
cdef bint _partial_fast = False
# the adapter's own ``default`` hook (Dates and Buffers as Node writes them):
# it has no side effects, so ``_write_json`` may call it itself, even though a
# give-up later in the same payload makes json call it again
from .protocol.parsers import json_default as _ADAPTER_DEFAULT
# ``_ADAPTER_DEFAULT`` when it is ``_partial_encode``'s ``default``, else None
cdef object _partial_default = None


cdef object _compact_encoder(object dumps):
    """The ``encode`` equivalent to ``dumps(obj, separators=(",", ":"))``, or None."""
    global _partial_dumps, _partial_keywords, _partial_encode, _partial_fast, _partial_default
    if _json.JSONEncoder is not _JSON_ENCODER:
        return None  # json.dumps would use the replacement
    if dumps is _JSON_DUMPS:
        return _COMPACT_ENCODE
    if type(dumps) is not _Partial:
        return None
    keywords = dumps.keywords
    if dumps is _partial_dumps and keywords == _partial_keywords:
        return _partial_encode
    if dumps.func is not _JSON_DUMPS or dumps.args or type(keywords) is not dict:
        return None
    if not _ENCODER_KEYWORDS.issuperset(keywords):
        return None
    encode = _JSON_ENCODER(separators=_SEPARATORS, **keywords).encode
    _partial_dumps = dumps
    _partial_keywords = dict(keywords)
    _partial_encode = encode
    _partial_fast = _default_output(keywords)
    default = keywords.get("default")
    _partial_default = default if default is _ADAPTER_DEFAULT else None
    return encode


cdef bint _default_output(dict keywords):
    """True if these ``JSONEncoder`` keywords give json's default text.

    ``skipkeys``, ``check_circular`` and ``default`` only matter for data
    ``_write_json`` hands back to json (non-str keys, cycles, other types).
    """
    try:
        return bool(
            keywords.get("ensure_ascii", True)
            and keywords.get("allow_nan", True)
            and not keywords.get("sort_keys", False)
        )
    except Exception:
        return False  # json will raise it, or not: its business


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

    def remove(self, nsp):
        """Stop routing the namespace ``nsp``."""
        self.namespaces.pop(nsp.encode(), None)

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


cdef bint _has_binary(object data) except -1:
    cdef bint found = False
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *value
    if isinstance(data, (bytes, bytearray, memoryview)):
        return True
    if isinstance(data, (list, tuple)):
        _enter_recursive_call(" while looking for binary data")
        try:
            for item in data:
                if _has_binary(item):
                    found = True
                    break
        finally:
            Py_LeaveRecursiveCall()
        return found
    if isinstance(data, dict):
        _enter_recursive_call(" while looking for binary data")
        try:
            if type(data) is dict:
                while PyDict_Next(data, &pos, &key, &value):
                    if _has_binary(<object>value):
                        found = True
                        break
            else:
                for item in data.values():
                    if _has_binary(item):
                        found = True
                        break
        finally:
            Py_LeaveRecursiveCall()
        return found
    return False


cdef object _deconstruct(object data, list attachments):
    cdef list out
    cdef dict mapping
    if PyBytes_CheckExact(data):
        attachments.append(data)
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, (bytes, bytearray, memoryview)):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, (list, tuple)):
        _enter_recursive_call(" while extracting binary data")
        try:
            out = []
            for item in data:
                out.append(_deconstruct(item, attachments))
        finally:
            Py_LeaveRecursiveCall()
        return out
    if isinstance(data, dict):
        _enter_recursive_call(" while extracting binary data")
        try:
            mapping = {}
            if type(data) is dict:
                for key, value in (<dict>data).items():
                    mapping[key] = _deconstruct(value, attachments)
            else:
                for key, value in data.items():
                    mapping[key] = _deconstruct(value, attachments)
        finally:
            Py_LeaveRecursiveCall()
        return mapping
    return data


# ---------------------------------------------------------------- JSON text
#
# For the usual payloads ``encode_event`` writes the JSON text itself, byte
# for byte what ``json.dumps(data, separators=(",", ":"))`` writes with the
# default ``ensure_ascii=True, allow_nan=True, sort_keys=False``: exact
# ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``, ``tuple`` and
# ``dict`` with exact ``str`` keys, and binary attachments (exact ``bytes`` and
# ``bytearray``) written as their placeholders.  With the adapter's own
# ``default`` hook (``codec.json_default``) it also calls the hook for other
# objects, as json does, and writes what it returns (a Date's ISO text).
# Anything else (subclasses, other key types, a ``default`` of the caller's,
# nesting deeper than ``_JSON_MAX_DEPTH``, which also catches cycles, an
# error from the hook) makes ``_write_json`` give up, and ``encode_event``
# starts again the old way: binary scan, placeholder copy, ``dumps``.  No
# Python code of the caller's runs here, so giving up midway has no visible
# effect.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.exc cimport PyErr_Clear
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_DecodeASCII,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
    PyUnicode_New,
    PyUnicode_READ,
)
from libc.math cimport isfinite, isnan
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030C0000
    #define _srx_unicode_ready(o) PyUnicode_READY(o)
    #else
    #define _srx_unicode_ready(o) 0
    #endif
    """
    int _srx_unicode_ready(object o) except -1
    bint PyUnicode_IS_ASCII(object o)

cdef extern from "Python.h":
    char *PyOS_double_to_string(double val, char format_code, int precision,
                                int flags, int *type) except NULL
    int Py_DTSF_ADD_DOT_0

cdef enum:
    # deeper data goes the old way, which reports too deep nesting and
    # cycles as it always did (a RecursionError from the binary scan)
    _JSON_MAX_DEPTH = 200
    # bytes written on the stack before the buffer moves to the heap
    _JSON_STACK_SIZE = 1024

# what ``JSONEncoder`` finds in ``json.encoder`` when it encodes (the C
# functions when there are); a replacement put there changes json's text
cdef dict _JSON_ENCODER_NS = _json.encoder.__dict__
cdef object _ENCODE_ASCII = _json.encoder.encode_basestring_ascii
cdef object _MAKE_ENCODER = _json.encoder.c_make_encoder


# what json encodes without ``default`` (subclasses included), and what
# ``encode_event`` makes attachments of
cdef tuple _JSON_NATIVE = (str, int, float, list, tuple, dict, bytes, bytearray, memoryview)


cdef inline bint _json_encoder_untouched():
    return (_JSON_ENCODER_NS.get("encode_basestring_ascii") is _ENCODE_ASCII
            and _JSON_ENCODER_NS.get("c_make_encoder") is _MAKE_ENCODER)


cdef const char *_HEX = b"0123456789abcdef"
cdef const char *_PLACEHOLDER = b'{"_placeholder":true,"num":'

# per byte value: how many bytes encode_basestring_ascii writes for it
cdef unsigned char _ESCAPED_SIZE[256]
# per byte value: the letter of its two-byte escape (\" \\ \b \f \n \r \t), or 0
cdef char _SHORT_ESCAPE[256]


cdef int _init_escaped_size() except -1:
    cdef int c
    memset(_SHORT_ESCAPE, 0, sizeof(_SHORT_ESCAPE))
    _SHORT_ESCAPE[0x22] = c'"'
    _SHORT_ESCAPE[0x5c] = c'\\'
    _SHORT_ESCAPE[0x08] = c'b'
    _SHORT_ESCAPE[0x0c] = c'f'
    _SHORT_ESCAPE[0x0a] = c'n'
    _SHORT_ESCAPE[0x0d] = c'r'
    _SHORT_ESCAPE[0x09] = c't'
    for c in range(256):
        if _SHORT_ESCAPE[c]:
            _ESCAPED_SIZE[c] = 2
        elif 0x20 <= c <= 0x7e:
            _ESCAPED_SIZE[c] = 1
        else:
            _ESCAPED_SIZE[c] = 6  # \u00XX
    return 0


_init_escaped_size()


cdef struct _Writer:
    char *data
    Py_ssize_t size
    Py_ssize_t capacity
    bint on_heap


cdef int _grow(_Writer *w, Py_ssize_t extra) except -1:
    cdef Py_ssize_t capacity = w.capacity * 2
    cdef char *fresh
    if capacity < w.size + extra:
        capacity = w.size + extra
    if w.on_heap:
        fresh = <char *>PyMem_Realloc(w.data, capacity)
        if fresh == NULL:
            raise MemoryError()
    else:
        fresh = <char *>PyMem_Malloc(capacity)
        if fresh == NULL:
            raise MemoryError()
        memcpy(fresh, w.data, w.size)
        w.on_heap = True
    w.data = fresh
    w.capacity = capacity
    return 0


cdef inline int _reserve(_Writer *w, Py_ssize_t extra) except -1:
    if w.size + extra > w.capacity:
        return _grow(w, extra)
    return 0


cdef inline int _put(_Writer *w, const char *text, Py_ssize_t size) except -1:
    _reserve(w, size)
    memcpy(w.data + w.size, text, size)
    w.size += size
    return 0


cdef inline int _put_char(_Writer *w, char c) except -1:
    _reserve(w, 1)
    w.data[w.size] = c
    w.size += 1
    return 0


cdef inline Py_ssize_t _format_integer(char *out, long long value) noexcept:
    """Write ``str(value)`` at ``out`` (room for 20 bytes); return its size."""
    cdef char digits[20]
    cdef unsigned long long rest
    cdef Py_ssize_t count = 0
    cdef Py_ssize_t size = 0
    if value < 0:
        out[0] = c'-'
        size = 1
        rest = <unsigned long long>0 - <unsigned long long>value
    else:
        rest = <unsigned long long>value
    while True:
        digits[count] = <char>(c'0' + rest % 10)
        count += 1
        rest //= 10
        if rest == 0:
            break
    while count:
        count -= 1
        out[size] = digits[count]
        size += 1
    return size


cdef inline Py_ssize_t _integer_size(long long value) noexcept:
    cdef char scratch[20]
    return _format_integer(scratch, value)


cdef inline char *_escape_ascii(char *out, unsigned int c) noexcept:
    """``encode_basestring_ascii``'s escape of one character at ``out``."""
    cdef unsigned int high
    out[0] = c'\\'
    if c < 256 and _SHORT_ESCAPE[c]:
        out[1] = _SHORT_ESCAPE[c]
        return out + 2
    if c >= 0x10000:  # a UTF-16 surrogate pair, as json writes it
        c -= 0x10000
        high = 0xd800 | (c >> 10)
        out[1] = c'u'
        out[2] = _HEX[(high >> 12) & 0xf]
        out[3] = _HEX[(high >> 8) & 0xf]
        out[4] = _HEX[(high >> 4) & 0xf]
        out[5] = _HEX[high & 0xf]
        out += 6
        out[0] = c'\\'
        c = 0xdc00 | (c & 0x3ff)
    out[1] = c'u'
    out[2] = _HEX[(c >> 12) & 0xf]
    out[3] = _HEX[(c >> 8) & 0xf]
    out[4] = _HEX[(c >> 4) & 0xf]
    out[5] = _HEX[c & 0xf]
    return out + 6


cdef int _write_str(_Writer *w, str text) except -1:
    """``json.encoder.encode_basestring_ascii(text)``."""
    cdef Py_ssize_t length, i, size
    cdef const unsigned char *narrow
    cdef const void *data
    cdef int kind
    cdef unsigned int c
    cdef char *out
    _srx_unicode_ready(text)
    length = PyUnicode_GET_LENGTH(text)
    kind = PyUnicode_KIND(text)
    size = 2
    if kind == 1:
        narrow = <const unsigned char *>PyUnicode_1BYTE_DATA(text)
        for i in range(length):
            size += _ESCAPED_SIZE[narrow[i]]
        _reserve(w, size)
        out = w.data + w.size
        out[0] = c'"'
        out += 1
        if size == length + 2:
            memcpy(out, narrow, length)
            out += length
        else:
            for i in range(length):
                c = narrow[i]
                if _ESCAPED_SIZE[c] == 1:
                    out[0] = <char>c
                    out += 1
                else:
                    out = _escape_ascii(out, c)
    else:
        data = PyUnicode_DATA(text)
        for i in range(length):
            c = PyUnicode_READ(kind, data, i)
            if c < 0x100:
                size += _ESCAPED_SIZE[c]
            elif c < 0x10000:
                size += 6
            else:
                size += 12
        _reserve(w, size)
        out = w.data + w.size
        out[0] = c'"'
        out += 1
        for i in range(length):
            c = PyUnicode_READ(kind, data, i)
            if c < 0x80 and _ESCAPED_SIZE[c] == 1:
                out[0] = <char>c
                out += 1
            else:
                out = _escape_ascii(out, c)
    out[0] = c'"'
    w.size += size
    return 0


cdef int _write_int(_Writer *w, object value) except -1:
    """``int.__repr__(value)``; 1 (give up) if that raises."""
    cdef int overflow = 0
    cdef long long small = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef bytes text
    if not overflow:
        _reserve(w, 20)
        w.size += _format_integer(w.data + w.size, small)
        return 0
    try:
        text = int.__repr__(value).encode("ascii")
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return 1
    return _put(w, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text))


cdef int _write_float(_Writer *w, double value) except -1:
    """What json writes for a float: ``float.__repr__`` or NaN/Infinity."""
    cdef char *text
    cdef Py_ssize_t size
    if not isfinite(value):
        if isnan(value):
            return _put(w, b"NaN", 3)
        if value > 0:
            return _put(w, b"Infinity", 8)
        return _put(w, b"-Infinity", 9)
    text = PyOS_double_to_string(value, c'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        size = 0
        while text[size]:
            size += 1
        _put(w, text, size)
    finally:
        PyMem_Free(text)
    return 0


cdef int _write_attachment(_Writer *w, list attachments, object data) except -1:
    cdef Py_ssize_t num = len(attachments)
    attachments.append(data)
    _put(w, _PLACEHOLDER, 27)
    _reserve(w, 21)
    w.size += _format_integer(w.data + w.size, num)
    w.data[w.size] = c'}'
    w.size += 1
    return 0


cdef int _write_json(_Writer *w, object value, list attachments, int depth,
                     object default) except -1:
    """Write ``value`` as json would; 0 when done, 1 to give up (see above).

    ``default`` is ``_ADAPTER_DEFAULT`` or None.
    """
    cdef type kind = type(value)
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *item
    cdef bint first = True
    cdef int result = 0
    if kind is str:
        return _write_str(w, <str>value)
    if kind is int:
        return _write_int(w, value)
    if kind is float:
        return _write_float(w, <double>value)
    if value is None:
        return _put(w, b"null", 4)
    if value is True:
        return _put(w, b"true", 4)
    if value is False:
        return _put(w, b"false", 5)
    if kind is bytes:
        return _write_attachment(w, attachments, value)
    if kind is bytearray:
        return _write_attachment(
            w, attachments,
            PyBytes_FromStringAndSize(PyByteArray_AS_STRING(value),
                                      PyByteArray_GET_SIZE(value)),
        )
    if depth >= _JSON_MAX_DEPTH:
        return 1
    if kind is not dict and kind is not list and kind is not tuple:
        if default is None or isinstance(value, _JSON_NATIVE):
            return 1  # json writes subclasses itself; binary becomes attachments
        try:
            value = default(value)
        except Exception:
            return 1  # json calls it again, and raises what it raises
        return _write_json(w, value, attachments, depth + 1, default)
    if Py_EnterRecursiveCall(" while encoding a JSON object"):
        PyErr_Clear()  # json raises it again, from the same depth
        return 1
    try:
        if kind is dict:
            _put_char(w, c'{')
            while PyDict_Next(value, &pos, &key, &item):
                name = <object>key
                member = <object>item
                if type(name) is not str:
                    result = 1
                    break
                if not first:
                    _put_char(w, c',')
                first = False
                _write_str(w, <str>name)
                _put_char(w, c':')
                result = _write_json(w, member, attachments, depth + 1, default)
                if result:
                    break
            else:
                _put_char(w, c'}')
        else:
            _put_char(w, c'[')
            for member in value:
                if not first:
                    _put_char(w, c',')
                first = False
                result = _write_json(w, member, attachments, depth + 1, default)
                if result:
                    break
            else:
                _put_char(w, c']')
    finally:
        Py_LeaveRecursiveCall()
    return result


cdef object _text_packet(object namespace, object ack_id, Py_ssize_t count,
                         const char *body, Py_ssize_t body_size):
    """The packet's text: header, then the ASCII JSON ``body``."""
    cdef Py_ssize_t nsp_size = 0
    cdef Py_ssize_t size
    cdef int overflow = 0
    cdef long long ack = 0
    cdef bint has_ack = ack_id is not None
    cdef bint has_nsp = False
    cdef char *out
    cdef str text
    if type(namespace) is str and PyUnicode_IS_ASCII(namespace) and (
            not has_ack or type(ack_id) is int):
        if has_ack:
            ack = PyLong_AsLongLongAndOverflow(ack_id, &overflow)
        if not overflow:
            nsp_size = PyUnicode_GET_LENGTH(namespace)
            has_nsp = nsp_size > 1 or (
                nsp_size == 1 and PyUnicode_1BYTE_DATA(namespace)[0] != c'/')
            size = body_size + 1
            if count:
                size += _integer_size(count) + 1
            if has_nsp:
                size += nsp_size + 1
            if has_ack:
                size += _integer_size(ack)
            text = PyUnicode_New(size, 127)
            out = <char *>PyUnicode_1BYTE_DATA(text)
            if count:
                out[0] = c'5'
                out += 1
                out += _format_integer(out, count)
                out[0] = c'-'
            else:
                out[0] = c'2'
            out += 1
            if has_nsp:
                memcpy(out, PyUnicode_1BYTE_DATA(namespace), nsp_size)
                out += nsp_size
                out[0] = c','
                out += 1
            if has_ack:
                out += _format_integer(out, ack)
            memcpy(out, body, body_size)
            return text
    # what encode_event did before it wrote JSON itself
    header = f"5{count}-" if count else "2"
    if namespace and namespace != "/":
        header += namespace + ","
    if ack_id is not None:
        header += str(ack_id)
    return header + PyUnicode_DecodeASCII(body, body_size, NULL)


cdef object _encode_event_fast(object namespace, object data, object ack_id, object default):
    """``encode_event`` for json's default output, or None to do it the old way."""
    cdef char stack[_JSON_STACK_SIZE]
    cdef _Writer w
    cdef list attachments = []
    cdef list parts
    w.data = stack
    w.size = 0
    w.capacity = _JSON_STACK_SIZE
    w.on_heap = False
    try:
        if _write_json(&w, data, attachments, 0, default):
            return None
        parts = [_text_packet(namespace, ack_id, len(attachments), w.data, w.size)]
    finally:
        if w.on_heap:
            PyMem_Free(w.data)
    if attachments:
        parts.extend(attachments)
    return parts


def encode_event(namespace, data, dumps, ack_id=None):
    """Encode a Socket.IO EVENT packet in the default (text) format.

    Returns the text part followed by one ``bytes`` part per binary
    attachment, e.g. ``['2/chat,["news",1]']`` or
    ``['51-["bin",{"_placeholder":true,"num":0}]', b"..."]``.
    ``dumps`` is the JSON module's ``dumps``.
    """
    cdef list attachments = []
    cdef list parts
    encode = _compact_encoder(dumps)
    if encode is not None and (encode is _COMPACT_ENCODE or _partial_fast) and \
            _json_encoder_untouched():
        parts = _encode_event_fast(
            namespace, data, ack_id, None if encode is _COMPACT_ENCODE else _partial_default)
        if parts is not None:
            return parts
    header = "2"
    if _has_binary(data):
        data = _deconstruct(data, attachments)
        header = f"5{len(attachments)}-"
    if namespace and namespace != "/":
        header += namespace + ","
    if ack_id is not None:
        header += str(ack_id)
    if encode is not None:
        body = encode(data)
    else:
        body = dumps(data, **_DUMPS_KWARGS)
    parts = [header + body]
    if attachments:
        parts.extend(attachments)
    return parts


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
            DeliveryCache cache=None):
    """Queue ``packets`` on each recipient's Engine.IO socket, without tasks.

    ``sockets`` is the Engine.IO server's ``sockets`` dict.  Sockets that are
    unknown or closed are skipped.  Websocket sockets share ``packets``; when
    ``polling_packets`` is given (binary messages), sockets still on
    long-polling get fresh packets from it, because Engine.IO caches a
    packet's first encoding and polling needs base64.  With ``volatile``,
    sockets that still have packets waiting are skipped.  ``cache`` (a
    ``DeliveryCache``, the same one for every call on ``sockets``) only makes
    it faster.  Returns the number of sockets the packets were queued on.
    """
    cdef Py_ssize_t delivered = 0
    cdef bint exact = type(sockets) is dict
    cdef bint has_polling = polling_packets is not None
    cdef bint fast = _queue_is_pristine()
    cdef bint event_fast = fast and _AsyncioEvent.clear is _event_clear
    cdef dict records = cache._records if cache is not None and fast else None
    cdef PyObject *found
    cdef _QueueRecord record
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


class RespError(Exception):
    """An error reply (``-ERR ...``) read from a Redis connection."""


cdef Py_ssize_t _PMESSAGE_HEAD_SIZE = 18  # len(b"*4\r\n$8\r\npmessage\r\n")


cdef Py_ssize_t _line_end(const char *buf, Py_ssize_t pos, Py_ssize_t size):
    """Index of the ``\\r\\n`` ending the line at ``pos``, or -1 if incomplete."""
    cdef const char *hit
    while pos < size:
        hit = <const char *>memchr(buf + pos, c'\r', size - pos)
        if hit == NULL or hit - buf + 1 >= size:
            return -1
        if hit[1] == c'\n':
            return hit - buf
        pos = hit - buf + 1
    return -1


cdef long long _parse_int(const char *buf, Py_ssize_t start, Py_ssize_t end) except? -2:
    cdef long long value = 0
    cdef bint negative = False
    cdef Py_ssize_t i = start
    if i < end and buf[i] == c'-':
        negative = True
        i += 1
    if i >= end or end - i > 18:
        raise ValueError("RESP protocol error: bad length or integer")
    while i < end:
        if buf[i] < c'0' or buf[i] > c'9':
            raise ValueError("RESP protocol error: bad length or integer")
        value = value * 10 + (buf[i] - c'0')
        i += 1
    return -value if negative else value


cdef Py_ssize_t _bulk_span(
    const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *start, Py_ssize_t *length
) except -2:
    """Parse ``$<n>\\r\\n<n bytes>\\r\\n``; return the position after it or -1."""
    cdef Py_ssize_t line_end
    cdef long long count
    if pos >= size:
        return -1
    if buf[pos] != c'$':
        raise ValueError("RESP protocol error: a bulk string was expected")
    line_end = _line_end(buf, pos + 1, size)
    if line_end < 0:
        return -1
    count = _parse_int(buf, pos + 1, line_end)
    if count < 0:
        raise ValueError("RESP protocol error: a null bulk string in a push message")
    start[0] = line_end + 2
    length[0] = <Py_ssize_t>count
    if start[0] + length[0] + 2 > size:
        return -1
    return start[0] + length[0] + 2


cdef object _value(const char *buf, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t *after):
    """Parse one RESP2 value at ``pos``; ``after[0]`` is -1 if incomplete."""
    cdef Py_ssize_t line_end, i, count_size
    cdef long long count
    cdef char kind
    cdef list items
    after[0] = -1
    if pos >= size:
        return None
    kind = buf[pos]
    line_end = _line_end(buf, pos + 1, size)
    if line_end < 0:
        return None
    if kind == c'+':
        after[0] = line_end + 2
        return PyBytes_FromStringAndSize(buf + pos + 1, line_end - pos - 1)
    if kind == c'-':
        after[0] = line_end + 2
        return RespError(
            PyUnicode_DecodeUTF8(buf + pos + 1, line_end - pos - 1, "replace")
        )
    if kind != c':' and kind != c'$' and kind != c'*':
        raise ValueError(f"RESP protocol error: unexpected byte {kind & 0xff:#x}")
    count = _parse_int(buf, pos + 1, line_end)
    if kind == c':':
        after[0] = line_end + 2
        return count
    if kind == c'$':
        if count < 0:
            after[0] = line_end + 2
            return None
        if line_end + 2 + count + 2 > size:
            return None
        after[0] = line_end + 2 + <Py_ssize_t>count + 2
        return PyBytes_FromStringAndSize(buf + line_end + 2, <Py_ssize_t>count)
    if kind == c'*':
        if count < 0:
            after[0] = line_end + 2
            return None
        items = []
        pos = line_end + 2
        count_size = <Py_ssize_t>count
        for i in range(count_size):
            item = _value(buf, pos, size, after)
            if after[0] < 0:
                return None
            items.append(item)
            pos = after[0]
        after[0] = pos
        return items
    raise ValueError(f"RESP protocol error: unexpected byte {kind & 0xff:#x}")


cdef class PushParser:
    """Split a subscriber connection's bytes into RESP2 replies, dropping early.

    ``feed(data)`` parses every complete reply.  A ``pmessage`` whose channel
    ``channel_filter.route(channel)`` rejects is dropped before its payload
    becomes an object; other ``pmessage`` and ``message`` pushes go to
    ``on_message(pattern, channel, data)`` (``pattern`` is None for
    ``message``); every other reply (subscription confirmations, ``pong``,
    errors as :class:`RespError`) goes to ``on_reply(value)``.  An exception
    raised by a callback is counted in ``handler_errors`` and passed to
    ``on_error``; it never loses the rest of the stream.  Raises
    ``ValueError`` when the stream is not RESP2.
    """

    cdef public object on_message
    cdef public object on_reply
    cdef public object on_error
    cdef public object channel_filter
    cdef public Py_ssize_t handler_errors
    cdef bytes _buffer

    def __init__(self, on_message, on_reply, on_error=None, channel_filter=None):
        self.on_message = on_message
        self.on_reply = on_reply
        self.on_error = on_error
        self.channel_filter = channel_filter
        self.handler_errors = 0
        self._buffer = b""

    def feed(self, data):
        """Parse ``data`` (plus what was left incomplete before)."""
        cdef bytes buffer
        cdef const char *buf
        cdef Py_ssize_t size, pos = 0, end
        if PyBytes_GET_SIZE(self._buffer):
            buffer = self._buffer + bytes(data)
        elif PyBytes_CheckExact(data):
            buffer = <bytes>data
        else:
            buffer = bytes(data)
        buf = PyBytes_AS_STRING(buffer)
        size = PyBytes_GET_SIZE(buffer)
        while pos < size:
            if (size - pos >= _PMESSAGE_HEAD_SIZE
                    and memcmp(buf + pos, b"*4\r\n$8\r\npmessage\r\n", _PMESSAGE_HEAD_SIZE) == 0):
                end = self._pmessage(buf, pos + _PMESSAGE_HEAD_SIZE, size)
            else:
                end = self._reply(buf, pos, size)
            if end < 0:
                break
            pos = end
        if pos == 0:
            self._buffer = buffer
        elif pos < size:
            self._buffer = PyBytes_FromStringAndSize(buf + pos, size - pos)
        else:
            self._buffer = b""

    cdef Py_ssize_t _pmessage(self, const char *buf, Py_ssize_t pos, Py_ssize_t size) except -2:
        cdef Py_ssize_t pattern_start, pattern_size, channel_start, channel_size
        cdef Py_ssize_t data_start, data_size
        pos = _bulk_span(buf, pos, size, &pattern_start, &pattern_size)
        if pos < 0:
            return -1
        pos = _bulk_span(buf, pos, size, &channel_start, &channel_size)
        if pos < 0:
            return -1
        pos = _bulk_span(buf, pos, size, &data_start, &data_size)
        if pos < 0:
            return -1
        channel_filter = self.channel_filter
        if channel_filter is not None:
            if type(channel_filter) is ChannelRouter:
                if (<ChannelRouter>channel_filter)._route(buf + channel_start, channel_size) is None:
                    return pos
            elif channel_filter.route(
                PyBytes_FromStringAndSize(buf + channel_start, channel_size)
            ) is None:
                return pos
        self._call(self.on_message, (
            PyBytes_FromStringAndSize(buf + pattern_start, pattern_size),
            PyBytes_FromStringAndSize(buf + channel_start, channel_size),
            PyBytes_FromStringAndSize(buf + data_start, data_size),
        ))
        return pos

    cdef Py_ssize_t _reply(self, const char *buf, Py_ssize_t pos, Py_ssize_t size) except -2:
        cdef Py_ssize_t after = -1
        value = _value(buf, pos, size, &after)
        if after < 0:
            return -1
        if (type(value) is list and len(value) == 3 and value[0] == b"message"
                and type(value[1]) is bytes and type(value[2]) is bytes):
            self._call(self.on_message, (None, value[1], value[2]))
        else:
            self._call(self.on_reply, (value,))
        return after

    cdef void _call(self, object function, tuple args):
        try:
            function(*args)
        except Exception as exc:
            self.handler_errors += 1
            if self.on_error is not None:
                try:
                    self.on_error(exc)
                except Exception:
                    pass


# ------------------------------------------------------- broadcast messages
#
# ``pack_broadcast`` writes the MessagePack bytes of ``[uid, packet, opts]``
# itself, byte for byte what ``msgpack_compat.packb(codec.broadcast_value(...))``
# writes: minimal headers (fixstr/str8/str16/str32, fixint and the smallest
# int, float64 for every float, bin for bytes-likes, timestamp ext -1 for
# ``datetime``, fixarray/array16/array32, fixmap/map16/map32), and map keys
# that are not strings written as the text JSON gives them.  Values of exact
# ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes``, ``bytearray``,
# ``memoryview``, ``list``, ``tuple``, ``dict`` and ``datetime`` (naive, or
# with a ``timezone`` or ``ZoneInfo``) are written here.  Anything else
# (subclasses, other types, ints beyond 64 bits, strings with lone
# surrogates, non-contiguous memoryviews, nesting deeper than packb allows,
# which also catches cycles) makes ``_pack_value`` give up, and the message
# is encoded again by ``msgpack_compat.packb``, which then decides: its bytes
# or its error.  Nothing here runs code of the caller's (``utcoffset`` is
# only called on the two C tzinfo types), so giving up midway has no visible
# effect.
#
# ``parse_broadcast`` validates in C what ``codec.parse_broadcast`` does in
# Python; exact ``list``/``tuple``/``dict`` containers are read here, and a
# subclass (whose methods Python would call) hands the whole value to
# ``codec.parse_broadcast``.

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release
from cpython.datetime cimport (
    PyDateTime_CheckExact,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_DATE_GET_MICROSECOND,
    PyDateTime_DATE_GET_MINUTE,
    PyDateTime_DATE_GET_SECOND,
    PyDateTime_DATE_GET_TZINFO,
    PyDateTime_DELTA_GET_DAYS,
    PyDateTime_DELTA_GET_MICROSECONDS,
    PyDateTime_DELTA_GET_SECONDS,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    PyDelta_CheckExact,
    datetime_new,
    import_datetime,
)
from cpython.bool cimport PyBool_Check
from cpython.exc cimport PyErr_Occurred
from cpython.float cimport PyFloat_Check
from cpython.long cimport PyLong_Check
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_GetSlice
from cpython.sequence cimport PySequence_Contains
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport int64_t, uint64_t

import datetime as _datetime

from socketio_redis_adapter.protocol import broadcast as _codec
from socketio_redis_adapter.protocol import notepack as _msgpack_compat

try:
    import zoneinfo as _zoneinfo
    _ZoneInfo = _zoneinfo.ZoneInfo
except ImportError:  # pragma: no cover - no tz database module
    _ZoneInfo = None

import_datetime()

cdef extern from "Python.h":
    # NULL with an exception set on failure (surrogates): checked by hand
    const char *PyUnicode_AsUTF8AndSize(object text, Py_ssize_t *size)
    # with the error left set (checked by hand), unlike cpython.* declares them
    unsigned long long _srx_as_unsigned "PyLong_AsUnsignedLongLong"(object value)
    int _srx_get_buffer "PyObject_GetBuffer"(object value, Py_buffer *view, int flags)
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf,
                               PyObject *kwnames)

cdef extern from *:
    """
    #include "structmember.h"

    /* The offset of a writable object slot (a member descriptor of __slots__),
       or -1 for any other attribute. */
    static Py_ssize_t _srx_slot_offset(PyObject *descr) {
        PyMemberDef *member;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != 16 /* T_OBJECT_EX */ || (member->flags & 1 /* READONLY */))
            return -1;
        return member->offset;
    }

    /* A new instance of ``type`` with its slots at ``offsets`` set to
       ``values``: what a dataclass __init__ that only assigns them makes. */
    static PyObject *_srx_new_with_slots(PyTypeObject *type, const Py_ssize_t *offsets,
                                         PyObject *const *values, int count) {
        int i;
        PyObject *obj = type->tp_alloc(type, 0);
        if (obj == NULL) return NULL;
        for (i = 0; i < count; i++) {
            Py_INCREF(values[i]);
            *(PyObject **)((char *)obj + offsets[i]) = values[i];
        }
        return obj;
    }
    """
    Py_ssize_t _srx_slot_offset(object descr)
    object _srx_new_with_slots(type kind, const Py_ssize_t *offsets, PyObject **values,
                               int count)

cdef enum:
    # msgpack_compat._pack refuses a value deeper than this (the top is 0)
    _PACK_MAX_DEPTH = 512
    # bytes written on the stack before the buffer moves to the heap
    _PACK_STACK_SIZE = 1024

cdef object _packb = _msgpack_compat.packb
cdef object _unpackb = _msgpack_compat.ormsgpack.unpackb
cdef tuple _EXT_HOOK_KWNAMES = ("ext_hook",)
cdef object _Broadcast = _codec.Broadcast
cdef object _MalformedMessage = _codec.MalformedMessage
cdef object _py_parse_broadcast = _codec.parse_broadcast
cdef object _py_ext_hook = _msgpack_compat._ext_hook
cdef object _UTC = _datetime.timezone.utc
cdef type _Timezone = _datetime.timezone
cdef object _ZoneInfoType = _ZoneInfo
cdef tuple _EVENT_TYPES = (2, 5)
cdef object _DEFAULT_TYPE = 2
cdef str _ROOT_NSP = "/"
# days from 0001-01-01 (ordinal 1) to 1970-01-01
cdef int64_t _EPOCH_ORDINAL = 719163
cdef int _DAYS_BEFORE_MONTH[13]
_DAYS_BEFORE_MONTH[:] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]


cdef inline void _store16(char *out, unsigned int value) noexcept:
    out[0] = <char>(value >> 8)
    out[1] = <char>value


cdef inline void _store32(char *out, uint64_t value) noexcept:
    out[0] = <char>(value >> 24)
    out[1] = <char>(value >> 16)
    out[2] = <char>(value >> 8)
    out[3] = <char>value


cdef inline void _store64(char *out, uint64_t value) noexcept:
    _store32(out, value >> 32)
    _store32(out + 4, value & 0xFFFFFFFF)


cdef inline int _pack_byte(_Writer *w, unsigned char byte) except -1:
    _reserve(w, 1)
    w.data[w.size] = <char>byte
    w.size += 1
    return 0


cdef inline int _pack_head(_Writer *w, size_t size, unsigned char fix, size_t fix_limit,
                    unsigned char code8, unsigned char code16) except -1:
    """A str/bin/array/map header: ``fix | size``, or a 1-, 2- or 4-byte size.

    ``fix_limit`` 0 means no fix form; ``code8`` 0 means no 1-byte form.
    Returns 1 (give up) for sizes of 2**32 and more.
    """
    cdef char *out
    _reserve(w, 5)
    out = w.data + w.size
    if size < fix_limit:
        out[0] = <char>(fix | size)
        w.size += 1
    elif code8 and size < 0x100:
        out[0] = <char>code8
        out[1] = <char>size
        w.size += 2
    elif size < 0x10000:
        out[0] = <char>code16
        _store16(out + 1, <unsigned int>size)
        w.size += 3
    elif size <= 0xFFFFFFFF:
        out[0] = <char>(code16 + 1)  # the 4-byte form follows the 2-byte one
        _store32(out + 1, size)
        w.size += 5
    else:
        return 1
    return 0


cdef inline int _pack_utf8(_Writer *w, const char *data, Py_ssize_t size) except -1:
    if _pack_head(w, <size_t>size, 0xA0, 32, 0xD9, 0xDA):
        return 1
    return _put(w, data, size)


cdef inline int _pack_str(_Writer *w, object text) except -1:
    """An exact ``str``; 1 (give up) if it does not encode to UTF-8."""
    cdef Py_ssize_t size
    cdef const char *data
    _srx_unicode_ready(text)
    if PyUnicode_IS_ASCII(text):
        return _pack_utf8(w, <const char *>PyUnicode_1BYTE_DATA(text),
                          PyUnicode_GET_LENGTH(text))
    data = PyUnicode_AsUTF8AndSize(text, &size)
    if data == NULL:
        PyErr_Clear()  # lone surrogates: packb writes them its own way
        return 1
    return _pack_utf8(w, data, size)


cdef int _pack_int(_Writer *w, object value) except -1:
    """An exact ``int``; 1 (give up) beyond the 64-bit range."""
    cdef int overflow = 0
    cdef long long small = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef unsigned long long big
    cdef char *out
    if overflow < 0:
        return 1
    if overflow > 0:
        big = _srx_as_unsigned(value)
        if big == <unsigned long long>-1 and PyErr_Occurred():
            PyErr_Clear()
            return 1
        _reserve(w, 9)
        out = w.data + w.size
        out[0] = <char>0xCF
        _store64(out + 1, big)
        w.size += 9
        return 0
    _reserve(w, 9)
    out = w.data + w.size
    if small >= 0:
        if small < 0x80:
            out[0] = <char>small
            w.size += 1
        elif small < 0x100:
            out[0] = <char>0xCC
            out[1] = <char>small
            w.size += 2
        elif small < 0x10000:
            out[0] = <char>0xCD
            _store16(out + 1, <unsigned int>small)
            w.size += 3
        elif small < 0x100000000:
            out[0] = <char>0xCE
            _store32(out + 1, <uint64_t>small)
            w.size += 5
        else:
            out[0] = <char>0xCF
            _store64(out + 1, <uint64_t>small)
            w.size += 9
    elif small >= -0x20:
        out[0] = <char>small
        w.size += 1
    elif small >= -0x80:
        out[0] = <char>0xD0
        out[1] = <char>small
        w.size += 2
    elif small >= -0x8000:
        out[0] = <char>0xD1
        _store16(out + 1, <unsigned int>(small & 0xFFFF))
        w.size += 3
    elif small >= -0x80000000:
        out[0] = <char>0xD2
        _store32(out + 1, <uint64_t>small & 0xFFFFFFFF)
        w.size += 5
    else:
        out[0] = <char>0xD3
        _store64(out + 1, <uint64_t>small)
        w.size += 9
    return 0


cdef int _pack_float(_Writer *w, double value) except -1:
    cdef uint64_t bits
    memcpy(&bits, &value, 8)
    _reserve(w, 9)
    w.data[w.size] = <char>0xCB
    _store64(w.data + w.size + 1, bits)
    w.size += 9
    return 0


cdef inline int _pack_bin(_Writer *w, const char *data, Py_ssize_t size) except -1:
    if _pack_head(w, <size_t>size, 0, 0, 0xC4, 0xC5):
        return 1
    return _put(w, data, size)


cdef int _pack_memoryview(_Writer *w, object view) except -1:
    """``bytes(view)`` as bin; 1 (give up) unless it is C-contiguous."""
    cdef Py_buffer buffer
    cdef int result
    if _srx_get_buffer(view, &buffer, PyBUF_SIMPLE) < 0:
        PyErr_Clear()
        return 1
    try:
        result = _pack_bin(w, <const char *>buffer.buf, buffer.len)
    finally:
        PyBuffer_Release(&buffer)
    return result


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef int _pack_datetime(_Writer *w, object value) except -1:
    """A ``datetime`` as timestamp ext -1 (naive means UTC); 1 to give up."""
    cdef PyObject *tzinfo = PyDateTime_DATE_GET_TZINFO(value)
    cdef int64_t year, month, days, micros, seconds, nanos
    cdef char *out
    year = PyDateTime_GET_YEAR(value)
    month = PyDateTime_GET_MONTH(value)
    days = ((year - 1) * 365 + (year - 1) // 4 - (year - 1) // 100 + (year - 1) // 400
            + _DAYS_BEFORE_MONTH[month] + PyDateTime_GET_DAY(value) - _EPOCH_ORDINAL)
    if month > 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days += 1
    micros = (days * 86400
              + PyDateTime_DATE_GET_HOUR(value) * 3600
              + PyDateTime_DATE_GET_MINUTE(value) * 60
              + PyDateTime_DATE_GET_SECOND(value)) * 1000000 \
        + PyDateTime_DATE_GET_MICROSECOND(value)
    if tzinfo != NULL and <object>tzinfo is not None and <object>tzinfo is not _UTC:
        zone = <object>tzinfo
        if type(zone) is not _Timezone and (
                _ZoneInfoType is None or type(zone) is not _ZoneInfoType):
            return 1  # a tzinfo of the caller's: its utcoffset is Python code
        offset = value.utcoffset()
        if not PyDelta_CheckExact(offset):
            return 1
        micros -= (<int64_t>PyDateTime_DELTA_GET_DAYS(offset) * 86400
                   + PyDateTime_DELTA_GET_SECONDS(offset)) * 1000000 \
            + PyDateTime_DELTA_GET_MICROSECONDS(offset)
    seconds = _floor_div(micros, 1000000)
    nanos = (micros - seconds * 1000000) * 1000
    _reserve(w, 15)
    out = w.data + w.size
    if nanos == 0 and 0 <= seconds < 0x100000000:
        out[0] = <char>0xD6
        out[1] = <char>0xFF
        _store32(out + 2, <uint64_t>seconds)
        w.size += 6
    elif 0 <= seconds < 0x400000000:
        out[0] = <char>0xD7
        out[1] = <char>0xFF
        _store64(out + 2, (<uint64_t>nanos << 34) | <uint64_t>seconds)
        w.size += 10
    else:
        out[0] = <char>0xC7
        out[1] = 12
        out[2] = <char>0xFF
        _store32(out + 3, <uint64_t>nanos)
        _store64(out + 7, <uint64_t>seconds)
        w.size += 15
    return 0


cdef int _pack_key(_Writer *w, object key) except -1:
    """A map key: a string, or the JSON text of None, a bool, an int or a float."""
    cdef type kind = type(key)
    cdef char digits[32]
    cdef _Writer text_writer
    cdef int overflow = 0
    cdef long long small
    if kind is str:
        return _pack_str(w, key)
    if key is None:
        return _pack_utf8(w, b"null", 4)
    if key is True:
        return _pack_utf8(w, b"true", 4)
    if key is False:
        return _pack_utf8(w, b"false", 5)
    if kind is int:
        small = PyLong_AsLongLongAndOverflow(key, &overflow)
        if overflow:
            return 1
        return _pack_utf8(w, digits, _format_integer(digits, small))
    if kind is float:
        # the JSON text, as the JSON writer makes it (a float's repr is short:
        # the stack buffer is enough, but the writer may move to the heap)
        text_writer.data = digits
        text_writer.size = 0
        text_writer.capacity = sizeof(digits)
        text_writer.on_heap = False
        try:
            _write_float(&text_writer, <double>key)
            return _pack_utf8(w, text_writer.data, text_writer.size)
        finally:
            if text_writer.on_heap:
                PyMem_Free(text_writer.data)
    return 1


cdef int _pack_value(_Writer *w, object value, int depth) except -1:
    """Write ``value`` as packb would; 0 when done, 1 to give up (see above)."""
    cdef type kind = type(value)
    cdef Py_ssize_t pos = 0, size, i
    cdef PyObject *key
    cdef PyObject *item
    cdef int result = 0
    if depth > _PACK_MAX_DEPTH:
        return 1
    if kind is str:
        return _pack_str(w, value)
    if kind is int:
        return _pack_int(w, value)
    if value is None:
        return _pack_byte(w, 0xC0)
    if value is True:
        return _pack_byte(w, 0xC3)
    if value is False:
        return _pack_byte(w, 0xC2)
    if kind is float:
        return _pack_float(w, <double>value)
    if kind is bytes:
        return _pack_bin(w, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    if kind is bytearray:
        return _pack_bin(w, PyByteArray_AS_STRING(value), PyByteArray_GET_SIZE(value))
    if kind is memoryview:
        return _pack_memoryview(w, value)
    if PyDateTime_CheckExact(value):
        return _pack_datetime(w, value)
    if kind is not dict and kind is not list and kind is not tuple:
        return 1
    if Py_EnterRecursiveCall(" while encoding a MessagePack value"):
        PyErr_Clear()  # packb meets the same depth and reports it
        return 1
    try:
        if kind is dict:
            if _pack_head(w, <size_t>PyDict_Size(value), 0x80, 16, 0, 0xDE):
                return 1
            while PyDict_Next(value, &pos, &key, &item):
                # the key is as deep as its value, which checks the depth
                result = _pack_key(w, <object>key)
                if not result:
                    result = _pack_value(w, <object>item, depth + 1)
                if result:
                    break
        elif kind is list:
            size = PyList_GET_SIZE(value)
            if _pack_head(w, <size_t>size, 0x90, 16, 0, 0xDC):
                return 1
            for i in range(size):
                # no code of the caller's runs while packing, but should the
                # list change size anyway, give up rather than read past it
                if PyList_GET_SIZE(value) != size:
                    return 1
                result = _pack_value(w, <object>PyList_GET_ITEM(value, i), depth + 1)
                if result:
                    break
        else:
            size = PyTuple_GET_SIZE(value)
            if _pack_head(w, <size_t>size, 0x90, 16, 0, 0xDC):
                return 1
            for i in range(size):
                result = _pack_value(w, <object>PyTuple_GET_ITEM(value, i), depth + 1)
                if result:
                    break
    finally:
        Py_LeaveRecursiveCall()
    return result


cdef const char *_PACKET_HEAD = b"\x83\xa4type\x02\xa4data"  # 12 bytes
cdef const char *_OPTS_HEAD = b"\x83\xa5rooms"  # 7 bytes


cdef int _pack_message(_Writer *w, object uid, object nsp, object data, object rooms,
                       object except_rooms, object flags, bint emitter) except -1:
    """``[uid, packet, opts]``; 0 when done, 1 to give up."""
    _pack_byte(w, 0x93)
    if _pack_value(w, uid, 1):
        return 1
    _put(w, _PACKET_HEAD, 12)
    if _pack_value(w, data, 2):
        return 1
    _put(w, b"\xa3nsp", 4)
    if _pack_value(w, nsp, 2):
        return 1
    _put(w, _OPTS_HEAD, 7)
    if _pack_value(w, rooms, 2):
        return 1
    if emitter:
        _put(w, b"\xa5flags", 6)
        if _pack_value(w, flags, 2):
            return 1
        _put(w, b"\xa6except", 7)
        return _pack_value(w, except_rooms, 2)
    _put(w, b"\xa6except", 7)
    if _pack_value(w, except_rooms, 2):
        return 1
    _put(w, b"\xa5flags", 6)
    return _pack_value(w, flags, 2)


cdef object _unique(object except_rooms):
    """``list(dict.fromkeys(except_rooms))``, without the dict for 0 or 1 rooms."""
    cdef type kind = type(except_rooms)
    cdef Py_ssize_t size
    if kind is list or kind is tuple:
        size = len(except_rooms)
        if size == 0:
            return except_rooms
        if size == 1:
            try:
                hash(except_rooms[0])
            except TypeError:
                pass  # dict.fromkeys raises it, in its own words
            else:
                return except_rooms
    return list(dict.fromkeys(except_rooms))


def pack_broadcast(uid, nsp, data, rooms, except_rooms, flags, *, bint emitter=False):
    """Encode a ``[uid, packet, opts]`` broadcast message with the msgpack parser.

    The bytes are ``notepack.packb(broadcast.broadcast_value(uid, nsp,
    data, rooms, except_rooms, flags))``: what Node's adapter writes with
    notepack.io 3, ``except`` de-duplicated in order.

    :param uid: the sending server's uid.
    :param nsp: the namespace.
    :param data: the event name followed by its arguments.
    :param rooms: the rooms to broadcast to (none for everyone).
    :param except_rooms: the rooms whose clients must not get the event.
    :param flags: Socket.IO's broadcast flags (``volatile``, ``compress``...).
    :param emitter: write the ``opts`` keys in the order of Node's
                    ``@socket.io/redis-emitter`` (``rooms, flags, except``)
                    instead of the adapter's (``rooms, except, flags``).

    Raises ``TypeError`` when the data cannot be serialized.
    """
    cdef char stack[_PACK_STACK_SIZE]
    cdef _Writer w
    cdef type kind = type(rooms)
    if kind is not list and kind is not tuple:
        rooms = list(rooms)
    except_rooms = _unique(except_rooms)
    w.data = stack
    w.size = 0
    w.capacity = _PACK_STACK_SIZE
    w.on_heap = False
    try:
        if not _pack_message(&w, uid, nsp, data, rooms, except_rooms, flags, emitter):
            return PyBytes_FromStringAndSize(w.data, w.size)
    finally:
        if w.on_heap:
            PyMem_Free(w.data)
    # what packb makes of it: the same bytes, written the slow way, or its error
    return _packb(_codec.broadcast_value(uid, nsp, data, rooms, except_rooms, flags,
                                         emitter=emitter))


# ``Broadcast(uid, nsp, data, rooms, except_rooms, flags)`` without running
# the dataclass's __init__, which only assigns the six slots; any other shape
# of the class (a __post_init__, other fields, no slots) calls the class.
cdef Py_ssize_t _BROADCAST_SLOTS[6]
cdef bint _broadcast_by_slots = False


cdef int _init_broadcast_slots() except -1:
    global _broadcast_by_slots
    cdef Py_ssize_t i
    names = ("uid", "nsp", "data", "rooms", "except_rooms", "flags")
    if (_Broadcast.__new__ is not object.__new__
            or type(_Broadcast).__call__ is not type.__call__
            or hasattr(_Broadcast, "__post_init__")
            or tuple(_Broadcast.__dataclass_fields__) != names
            or _Broadcast.__init__.__qualname__ != "Broadcast.__init__"):
        return 0
    for i in range(6):
        _BROADCAST_SLOTS[i] = _srx_slot_offset(_Broadcast.__dict__[names[i]])
        if _BROADCAST_SLOTS[i] < 0:
            return 0
    _broadcast_by_slots = True
    return 0


_init_broadcast_slots()


cdef object _new_broadcast(object uid, object nsp, object data, object rooms,
                           object except_rooms, object flags):
    cdef PyObject *values[6]
    if not _broadcast_by_slots:
        return _Broadcast(uid, nsp, data, rooms, except_rooms, flags)
    values[0] = <PyObject *>uid
    values[1] = <PyObject *>nsp
    values[2] = <PyObject *>data
    values[3] = <PyObject *>rooms
    values[4] = <PyObject *>except_rooms
    values[5] = <PyObject *>flags
    return _srx_new_with_slots(<type>_Broadcast, _BROADCAST_SLOTS, values, 6)


# the MessagePack timestamps that decode to a datetime (years 1 to 9999)
cdef int64_t _MIN_MICROS = -62135596800 * <int64_t>1000000
cdef int64_t _MAX_MICROS = 253402300800 * <int64_t>1000000 - 1


cdef inline uint64_t _load32(const unsigned char *data) noexcept:
    return ((<uint64_t>data[0] << 24) | (<uint64_t>data[1] << 16)
            | (<uint64_t>data[2] << 8) | <uint64_t>data[3])


cdef object _utc_datetime(int64_t micros):
    """The aware UTC datetime ``micros`` microseconds after 1970-01-01."""
    cdef int64_t days = _floor_div(micros, 86400 * <int64_t>1000000)
    cdef int64_t rest = micros - days * 86400 * <int64_t>1000000
    cdef int64_t n, n400, n100, n4, n1, year, month, preceding
    cdef bint leap
    # CPython's ord_to_ymd
    n = days + _EPOCH_ORDINAL - 1
    n400 = n // 146097
    n = n % 146097
    year = n400 * 400 + 1
    n100 = n // 36524
    n = n % 36524
    n4 = n // 1461
    n = n % 1461
    n1 = n // 365
    n = n % 365
    year += n100 * 100 + n4 * 4 + n1
    if n1 == 4 or n100 == 4:
        year -= 1
        month = 12
        n = 30
    else:
        leap = n1 == 3 and (n4 != 24 or n100 == 3)
        month = (n + 50) >> 5
        preceding = _DAYS_BEFORE_MONTH[month] + (1 if month > 2 and leap else 0)
        if preceding > n:
            month -= 1
            preceding = _DAYS_BEFORE_MONTH[month] + (1 if month > 2 and leap else 0)
        n -= preceding
    return datetime_new(
        <int>year, <int>month, <int>(n + 1),
        <int>(rest // 3600000000), <int>(rest // 60000000 % 60),
        <int>(rest // 1000000 % 60), <int>(rest % 1000000), _UTC,
    )


cdef object _timestamp(const unsigned char *raw, Py_ssize_t size):
    """The datetime of the timestamp (ext -1) body at ``raw``; ``_MISSING``
    for a body of another size or a date out of range (years 1 to 9999)."""
    cdef int64_t seconds, nanos, micros
    cdef uint64_t packed
    if size == 4:
        seconds = <int64_t>_load32(raw)
        nanos = 0
    elif size == 8:
        packed = (_load32(raw) << 32) | _load32(raw + 4)
        seconds = <int64_t>(packed & 0x3FFFFFFFF)
        nanos = <int64_t>(packed >> 34)
    elif size == 12:
        nanos = <int64_t>_load32(raw)
        seconds = <int64_t>((_load32(raw + 4) << 32) | _load32(raw + 8))
    else:
        return _MISSING
    if -62135596800 - 10 <= seconds <= 253402300800 + 10:
        micros = seconds * 1000000 + nanos // 1000
        if _MIN_MICROS <= micros <= _MAX_MICROS:
            return _utc_datetime(micros)
    return _MISSING


def _ext_hook(code, data):
    """``msgpack_compat._ext_hook``, timestamps (ext -1) decoded in C."""
    if type(code) is int and code == -1 and type(data) is bytes:
        value = _timestamp(<const unsigned char *>PyBytes_AS_STRING(data),
                           PyBytes_GET_SIZE(data))
        if value is not _MISSING:
            return value
    # other extensions, bad sizes (its ValueError) and dates out of range
    # (its OverflowError)
    return _py_ext_hook(code, data)


cdef object _c_ext_hook = _ext_hook


cdef inline bint _is_room(object room) noexcept:
    return (PyUnicode_Check(room) or PyLong_Check(room) or PyFloat_Check(room)) \
        and not PyBool_Check(room)


cdef object _parse_rooms(object rooms, str what):
    """``codec.parse_rooms``; None when ``rooms`` is a list or tuple subclass."""
    cdef type kind = type(rooms)
    cdef Py_ssize_t i
    if rooms is None:
        return []
    if kind is list:
        for i in range(PyList_GET_SIZE(rooms)):
            if not _is_room(<object>PyList_GET_ITEM(rooms, i)):
                break
        else:
            return PyList_GetSlice(rooms, 0, PyList_GET_SIZE(rooms))
    elif kind is tuple:
        for i in range(PyTuple_GET_SIZE(rooms)):
            if not _is_room(<object>PyTuple_GET_ITEM(rooms, i)):
                break
        else:
            return list(rooms)
    elif isinstance(rooms, (list, tuple)):
        return None  # its own iteration: codec.parse_rooms does it
    raise _MalformedMessage(f"opts.{what} is not a list of room names")


cdef inline object _get(dict mapping, str key, object default):
    cdef PyObject *found = PyDict_GetItemWithError(mapping, key)
    if found == NULL:
        if PyErr_Occurred():
            raise
        return default
    return <object>found


cdef object _parse(object value):
    """``codec.parse_broadcast`` (which gets any container subclass)."""
    cdef type kind = type(value)
    cdef Py_ssize_t size
    if kind is list:
        size = PyList_GET_SIZE(value)
    elif kind is tuple:
        size = PyTuple_GET_SIZE(value)
    elif isinstance(value, (list, tuple)):
        return _py_parse_broadcast(value)
    else:
        size = -1
    if size < 3:
        raise _MalformedMessage("a broadcast is not a [uid, packet, opts] array")
    uid = value[0]
    packet = value[1]
    opts = value[2]
    if type(packet) is not dict:
        if isinstance(packet, dict):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("packet is not a map")
    kind_value = _get(<dict>packet, "type", _DEFAULT_TYPE)
    if not PySequence_Contains(_EVENT_TYPES, kind_value):
        raise _MalformedMessage(
            f"packet type {_get(<dict>packet, 'type', None)!r} is not an event"
        )
    data = _get(<dict>packet, "data", None)
    if type(data) is not list:
        if isinstance(data, list):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("packet.data is not [event, ...args]")
    if not PyList_GET_SIZE(data) or not PyUnicode_Check(<object>PyList_GET_ITEM(data, 0)):
        raise _MalformedMessage("packet.data is not [event, ...args]")
    nsp = _get(<dict>packet, "nsp", _ROOT_NSP)
    if nsp is None:
        nsp = _ROOT_NSP
    if not PyUnicode_Check(nsp):
        raise _MalformedMessage("packet.nsp is not a string")
    if opts is None:
        opts = {}
    elif type(opts) is not dict:
        if isinstance(opts, dict):
            return _py_parse_broadcast(value)
        raise _MalformedMessage("opts is not a map")
    flags = _get(<dict>opts, "flags", None)
    if flags is None:
        flags = {}
    elif not isinstance(flags, dict):
        raise _MalformedMessage("opts.flags is not a map")
    rooms = _parse_rooms(_get(<dict>opts, "rooms", None), "rooms")
    if rooms is None:
        return _py_parse_broadcast(value)
    except_rooms = _parse_rooms(_get(<dict>opts, "except", None), "except")
    if except_rooms is None:
        return _py_parse_broadcast(value)
    return _new_broadcast(uid, nsp, data, rooms, except_rooms, flags)


def parse_broadcast(value):
    """Validate a decoded ``[uid, packet, opts]`` broadcast message.

    Returns a :class:`Broadcast`: ``nsp`` defaults to ``"/"``, and missing
    ``rooms``, ``except`` and ``flags`` to empty ones.

    :param value: the message, as the parser decoded it.

    Raises ``MalformedMessage`` when it is not a broadcast of an event.
    """
    return _parse(value)


# ``unpack_broadcast`` reads the envelope of a well-formed message itself:
# the ``[uid, packet, opts]`` array (fixarray, array16 or array32 of exactly
# 3 items), a ``str`` uid, the packet map (fixmap, map16 or map32) with
# ``str`` keys among ``type`` (the positive fixint 2 or 5), ``data`` (an
# array) and ``nsp`` (``str`` or nil), each at most once and in any order,
# then ``opts``: nil, or such a map with keys among ``rooms`` and ``except``
# (nil, or arrays of ``str``, int and float) and ``flags`` (nil, or a map of
# distinct ``str`` keys to nil, bool, int, float or ``str``), and nothing
# after it.  ``_skip_value`` first finds where ``data`` ends without making
# objects, at most ``_SKIP_MAX_DEPTH`` containers deep (far from ormsgpack's
# and Python's recursion limits, which would count the two levels above it);
# then ``_read_value`` decodes it as ormsgpack does with the same
# ``ext_hook`` (``bin`` as bytes, every float as a Python float, ext values
# through the hook), refusing what ormsgpack refuses.  A message of any other
# shape (unknown or repeated keys, other key or value types, ext values in
# the envelope, bytes after it, which ormsgpack ignores, invalid UTF-8, a map
# key in ``data`` that is not a ``str``, a ``data`` that is not
# ``[event, ...]``, a ``bytes`` subclass or other buffer) is decoded again
# the whole way with ormsgpack, which
# then decides: its result or its error.  The fast path runs no code of the
# caller's, so giving up midway has no visible effect.

from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int8_t, int16_t, int32_t, uint32_t

cdef enum:
    # containers open at once inside ``data`` (``data`` itself included)
    _SKIP_MAX_DEPTH = 64
    # which keys of the packet and of opts were read
    _SEEN_TYPE = 1
    _SEEN_DATA = 2
    _SEEN_NSP = 4
    _SEEN_ROOMS = 1
    _SEEN_EXCEPT = 2
    _SEEN_FLAGS = 4

# Short strings of the envelope (uids, namespaces, rooms, socket ids, flag
# keys: a server reads the same ones again and again) are kept by the hash of
# their UTF-8 in a small table, as UTF-8 and as text, and reused.
cdef enum:
    _NAMES_SIZE = 256  # a power of 2
    _NAME_MAX = 32  # longer strings are decoded every time
cdef list _names_raw = [b""] * _NAMES_SIZE
cdef list _names_text = [""] * _NAMES_SIZE


cdef inline Py_ssize_t _load16(const unsigned char *data) noexcept:
    return (<Py_ssize_t>data[0] << 8) | <Py_ssize_t>data[1]


cdef inline uint64_t _load64(const unsigned char *data) noexcept:
    return (_load32(data) << 32) | _load32(data + 4)


cdef inline Py_ssize_t _read_length(const unsigned char *buf, Py_ssize_t *pos,
                                    Py_ssize_t size, unsigned char fix_mask,
                                    unsigned char fix, unsigned char code8,
                                    unsigned char code16) noexcept:
    """The length or item count in the header at ``pos[0]``, which moves past
    it, in the forms ``_pack_head`` writes: ``fix`` with the count in the bits
    ``fix_mask`` leaves (when ``fix_mask`` is not 0), ``code8`` and one byte
    (when not 0), or ``code16`` / ``code16 + 1`` and two / four bytes.  -1 for
    any other value, a header cut short, or more than the rest of the buffer
    could hold (a byte a string byte or a container item at least)."""
    cdef Py_ssize_t at = pos[0]
    cdef Py_ssize_t head
    cdef uint64_t length  # unsigned: a 32-bit length never turns negative
    cdef unsigned char byte
    if at >= size:
        return -1
    byte = buf[at]
    if fix_mask and byte & fix_mask == fix:
        head = 1
        length = byte & ~fix_mask
    elif code8 and byte == code8:
        if size - at < 2:
            return -1
        head = 2
        length = buf[at + 1]
    elif byte == code16:
        if size - at < 3:
            return -1
        head = 3
        length = <uint64_t>_load16(buf + at + 1)
    elif byte == code16 + 1:
        if size - at < 5:
            return -1
        head = 5
        length = _load32(buf + at + 1)
    else:
        return -1
    if length > <uint64_t>(size - at - head):
        return -1
    pos[0] = at + head
    return <Py_ssize_t>length


cdef inline Py_ssize_t _read_head(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size,
                                  unsigned char fix) noexcept:
    """The item count of the array (``fix`` 0x90) or map (0x80) header at
    ``pos[0]``, which moves past it; -1 for any other value, a header cut
    short, or a count the rest of the buffer cannot hold."""
    # array16 and array32 are 0xdc and 0xdd, map16 and map32 0xde and 0xdf
    return _read_length(buf, pos, size, 0xF0, fix, 0, 0xDC if fix == 0x90 else 0xDE)


cdef inline Py_ssize_t _read_str_head(const unsigned char *buf, Py_ssize_t *pos,
                                      Py_ssize_t size) noexcept:
    """The length of the ``str`` at ``pos[0]``, which moves to its bytes (all
    within the buffer); -1 for any other value or a string cut short."""
    return _read_length(buf, pos, size, 0xE0, 0xA0, 0xD9, 0xDA)


cdef inline Py_ssize_t _read_bin_head(const unsigned char *buf, Py_ssize_t *pos,
                                      Py_ssize_t size) noexcept:
    """The length of the ``bin`` at ``pos[0]``, which moves to its bytes (all
    within the buffer); -1 for any other value or one cut short."""
    return _read_length(buf, pos, size, 0, 0, 0xC4, 0xC5)


cdef inline bint _is_key(const unsigned char *text, Py_ssize_t length, const char *key,
                         Py_ssize_t key_length) noexcept:
    return length == key_length and memcmp(text, key, <size_t>length) == 0


cdef Py_ssize_t _skip_value(const unsigned char *buf, Py_ssize_t pos,
                            Py_ssize_t size) noexcept:
    """Where the MessagePack value at ``pos`` ends; -1 when it is cut short,
    holds the never-used byte 0xc1 or nests deeper than ``_SKIP_MAX_DEPTH``."""
    cdef Py_ssize_t left[_SKIP_MAX_DEPTH]
    cdef int depth = 0
    cdef Py_ssize_t pending = 1  # values still to skip in the innermost container
    cdef Py_ssize_t head
    # unsigned and 64-bit: a 32-bit size (twice that for a map) never turns
    # negative, even where Py_ssize_t has 32 bits
    cdef uint64_t length, items
    cdef unsigned char byte
    while True:
        if pos >= size:
            return -1
        byte = buf[pos]
        items = 0
        length = 0
        if byte <= 0x7F or byte >= 0xE0:  # fixints
            head = 1
        elif byte <= 0x8F:  # fixmap
            head = 1
            items = 2 * (byte & 0x0F)
        elif byte <= 0x9F:  # fixarray
            head = 1
            items = byte & 0x0F
        elif byte <= 0xBF:  # fixstr
            head = 1
            length = byte & 0x1F
        elif byte == 0xC0 or byte == 0xC2 or byte == 0xC3:  # nil, false, true
            head = 1
        elif byte == 0xC1:  # never used
            return -1
        elif byte == 0xC4 or byte == 0xD9:  # bin8, str8
            head = 2
        elif byte == 0xC5 or byte == 0xDA:  # bin16, str16
            head = 3
        elif byte == 0xC6 or byte == 0xDB:  # bin32, str32
            head = 5
        elif byte == 0xC7:  # ext8
            head = 3
        elif byte == 0xC8:  # ext16
            head = 4
        elif byte == 0xC9:  # ext32
            head = 6
        elif byte == 0xCC or byte == 0xD0:  # uint8, int8
            head = 2
        elif byte == 0xCD or byte == 0xD1:  # uint16, int16
            head = 3
        elif byte == 0xCA or byte == 0xCE or byte == 0xD2:  # float32, uint32, int32
            head = 5
        elif byte == 0xCB or byte == 0xCF or byte == 0xD3:  # float64, uint64, int64
            head = 9
        elif byte <= 0xD8:  # fixext 1, 2, 4, 8 and 16 (0xd4 to 0xd8)
            head = 2 + (1 << (byte - 0xD4))
        elif byte == 0xDC or byte == 0xDE:  # array16, map16
            head = 3
        else:  # array32, map32 (0xdd, 0xdf)
            head = 5
        if head > size - pos:
            return -1
        if byte == 0xC4 or byte == 0xC7 or byte == 0xD9:
            length = buf[pos + 1]
        elif byte == 0xC5 or byte == 0xC8 or byte == 0xDA:
            length = _load16(buf + pos + 1)
        elif byte == 0xC6 or byte == 0xC9 or byte == 0xDB:
            length = _load32(buf + pos + 1)
        elif byte == 0xDC:
            items = <uint64_t>_load16(buf + pos + 1)
        elif byte == 0xDD:
            items = _load32(buf + pos + 1)
        elif byte == 0xDE:
            items = 2 * <uint64_t>_load16(buf + pos + 1)
        elif byte == 0xDF:
            items = 2 * _load32(buf + pos + 1)
        pos += head
        if length > <uint64_t>(size - pos):
            return -1
        pos += <Py_ssize_t>length
        pending -= 1
        if items:
            # a byte an item at least
            if depth == _SKIP_MAX_DEPTH or items > <uint64_t>(size - pos):
                return -1
            left[depth] = pending
            depth += 1
            pending = <Py_ssize_t>items
        while pending == 0:
            if depth == 0:
                return pos
            depth -= 1
            pending = left[depth]


cdef str _name(const unsigned char *text, Py_ssize_t length):
    """The ``str`` of ``length`` bytes of UTF-8 at ``text``, from the table when
    it is there.  Raises UnicodeDecodeError."""
    cdef uint64_t mixed = <uint64_t>length
    cdef uint64_t word
    cdef Py_ssize_t i = 0
    cdef uint32_t slot
    cdef object raw
    if length > _NAME_MAX:
        return PyUnicode_DecodeUTF8(<const char *>text, length, NULL)
    # eight bytes at a time (a slot only: the bytes are compared after)
    while i + 8 <= length:
        memcpy(&word, text + i, 8)  # one load
        mixed = (mixed ^ word) * <uint64_t>0x9E3779B97F4A7C15
        mixed ^= mixed >> 29
        i += 8
    if i < length:
        word = 0
        while i < length:
            word = (word << 8) | text[i]
            i += 1
        mixed = (mixed ^ word) * <uint64_t>0x9E3779B97F4A7C15
        mixed ^= mixed >> 29
    slot = <uint32_t>(mixed >> 32) & (_NAMES_SIZE - 1)
    raw = <object>PyList_GET_ITEM(_names_raw, slot)
    if PyBytes_GET_SIZE(raw) == length and memcmp(
            PyBytes_AS_STRING(raw), text, <size_t>length) == 0:
        return <str>PyList_GET_ITEM(_names_text, slot)
    name = PyUnicode_DecodeUTF8(<const char *>text, length, NULL)
    _names_raw[slot] = PyBytes_FromStringAndSize(<const char *>text, length)
    _names_text[slot] = name
    return name


cdef object _read_scalar(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size,
                         bint room):
    """The room name (``room``: ``str``, int or float) or flag value (those,
    nil and bool) at ``pos[0]``, which moves past it; ``_MISSING`` for any
    other value or one cut short.  Raises UnicodeDecodeError."""
    cdef Py_ssize_t at = pos[0]
    cdef Py_ssize_t length
    cdef unsigned char byte
    cdef uint32_t bits32
    cdef uint64_t bits64
    cdef float single
    cdef double number
    if at >= size:
        return _MISSING
    byte = buf[at]
    if byte <= 0x7F:  # positive fixint
        pos[0] = at + 1
        return <long>byte
    if byte >= 0xE0:  # negative fixint
        pos[0] = at + 1
        return <long>(<int8_t>byte)
    if 0xA0 <= byte <= 0xBF or byte == 0xD9 or byte == 0xDA or byte == 0xDB:
        length = _read_str_head(buf, pos, size)
        if length < 0:
            return _MISSING
        pos[0] += length
        return _name(buf + pos[0] - length, length)
    if not room:
        if byte == 0xC0:
            pos[0] = at + 1
            return None
        if byte == 0xC2:
            pos[0] = at + 1
            return False
        if byte == 0xC3:
            pos[0] = at + 1
            return True
    if byte == 0xCC or byte == 0xD0:
        if size - at < 2:
            return _MISSING
        pos[0] = at + 2
        if byte == 0xCC:
            return <long>buf[at + 1]
        return <long>(<int8_t>buf[at + 1])
    if byte == 0xCD or byte == 0xD1:
        if size - at < 3:
            return _MISSING
        pos[0] = at + 3
        if byte == 0xCD:
            return <long>_load16(buf + at + 1)
        return <long>(<int16_t>_load16(buf + at + 1))
    if byte == 0xCA or byte == 0xCE or byte == 0xD2:
        if size - at < 5:
            return _MISSING
        pos[0] = at + 5
        bits32 = <uint32_t>_load32(buf + at + 1)
        if byte == 0xCE:
            return <long long>bits32
        if byte == 0xD2:
            return <long long>(<int32_t>bits32)
        memcpy(&single, &bits32, 4)
        return <double>single
    if byte == 0xCB or byte == 0xCF or byte == 0xD3:
        if size - at < 9:
            return _MISSING
        pos[0] = at + 9
        bits64 = _load64(buf + at + 1)
        if byte == 0xCF:
            return bits64
        if byte == 0xD3:
            return <int64_t>bits64
        memcpy(&number, &bits64, 8)
        return number
    return _MISSING


cdef object _read_rooms(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size):
    """The rooms list (nil: empty) at ``pos[0]``; None to give up."""
    cdef Py_ssize_t count, i
    if pos[0] < size and buf[pos[0]] == 0xC0:
        pos[0] += 1
        return []
    count = _read_head(buf, pos, size, 0x90)
    if count < 0:
        return None
    # filled in place (a list given up with empty slots is freed as it is)
    rooms = PyList_New(count)
    for i in range(count):
        room = _read_scalar(buf, pos, size, True)
        if room is _MISSING:
            return None
        Py_INCREF(room)
        PyList_SET_ITEM(rooms, i, room)
    return rooms


cdef object _read_key(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size):
    """The ``str`` map key at ``pos[0]``, which moves past it; ``_MISSING``
    for any other value or one cut short.  Raises UnicodeDecodeError."""
    cdef Py_ssize_t length = _read_str_head(buf, pos, size)
    if length < 0:
        return _MISSING
    pos[0] += length
    return _name(buf + pos[0] - length, length)


cdef object _read_flags(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size):
    """The flags dict (nil: empty) at ``pos[0]``; None to give up."""
    cdef Py_ssize_t count, i
    if pos[0] < size and buf[pos[0]] == 0xC0:
        pos[0] += 1
        return {}
    count = _read_head(buf, pos, size, 0x80)
    if count < 0:
        return None
    flags = {}
    for i in range(count):
        key = _read_key(buf, pos, size)
        if key is _MISSING:
            return None
        value = _read_scalar(buf, pos, size, False)
        if value is _MISSING:
            return None
        flags[key] = value
    if len(flags) != count:  # a repeated key
        return None
    return flags


cdef object _read_ext(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size):
    """The ext value at ``pos[0]``, as ``_ext_hook`` makes it; ``_MISSING``
    when it is cut short.  Raises what ``_ext_hook`` raises."""
    cdef Py_ssize_t at = pos[0]
    cdef Py_ssize_t head
    cdef uint64_t length  # unsigned: a 32-bit length never turns negative
    cdef unsigned char byte = buf[at]
    if 0xD4 <= byte <= 0xD8:  # fixext 1, 2, 4, 8 and 16
        head = 2
        length = <uint64_t>1 << (byte - 0xD4)
    elif byte == 0xC7:  # ext8
        head = 3
    elif byte == 0xC8:  # ext16
        head = 4
    else:  # ext32 (0xc9)
        head = 6
    if head > size - at:
        return _MISSING
    if byte == 0xC7:
        length = buf[at + 1]
    elif byte == 0xC8:
        length = <uint64_t>_load16(buf + at + 1)
    elif byte == 0xC9:
        length = _load32(buf + at + 1)
    if length > <uint64_t>(size - at - head):
        return _MISSING
    pos[0] = at + head + <Py_ssize_t>length
    if buf[at + head - 1] == 0xFF:  # ext -1, the timestamp
        value = _timestamp(buf + at + head, <Py_ssize_t>length)
        if value is not _MISSING:
            return value
    return _py_ext_hook(<long>(<int8_t>buf[at + head - 1]), PyBytes_FromStringAndSize(
        <const char *>buf + at + head, <Py_ssize_t>length))


cdef object _read_value(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t size):
    """The value at ``pos[0]``, which moves past it, as ormsgpack decodes it
    with ``_ext_hook``; ``_MISSING`` for a map key that is not a ``str``
    (ormsgpack refuses those) or a value cut short.

    Called only on what ``_skip_value`` accepted, so it recurses at most
    ``_SKIP_MAX_DEPTH`` deep.  Raises UnicodeDecodeError for invalid UTF-8
    (which ormsgpack refuses too) and what ``_ext_hook`` raises.
    """
    cdef Py_ssize_t count, length, i
    cdef unsigned char byte
    if pos[0] >= size:
        return _MISSING
    byte = buf[pos[0]]
    if 0x90 <= byte <= 0x9F or byte == 0xDC or byte == 0xDD:
        count = _read_head(buf, pos, size, 0x90)
        if count < 0:
            return _MISSING
        # filled in place (a list given up with empty slots is freed as it is)
        items = PyList_New(count)
        for i in range(count):
            item = _read_value(buf, pos, size)
            if item is _MISSING:
                return _MISSING
            Py_INCREF(item)
            PyList_SET_ITEM(items, i, item)
        return items
    if 0x80 <= byte <= 0x8F or byte == 0xDE or byte == 0xDF:
        count = _read_head(buf, pos, size, 0x80)
        if count < 0:
            return _MISSING
        mapping = {}
        for i in range(count):
            key = _read_key(buf, pos, size)
            if key is _MISSING:
                return _MISSING
            item = _read_value(buf, pos, size)
            if item is _MISSING:
                return _MISSING
            mapping[key] = item  # a repeated key: the last one wins, as in ormsgpack
        return mapping
    if 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB:
        length = _read_str_head(buf, pos, size)
        if length < 0:
            return _MISSING
        pos[0] += length
        return PyUnicode_DecodeUTF8(<const char *>buf + pos[0] - length, length, NULL)
    if 0xC4 <= byte <= 0xC6:  # bin8, bin16, bin32
        length = _read_bin_head(buf, pos, size)
        if length < 0:
            return _MISSING
        pos[0] += length
        return PyBytes_FromStringAndSize(<const char *>buf + pos[0] - length, length)
    if 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
        return _read_ext(buf, pos, size)
    return _read_scalar(buf, pos, size, False)


cdef object _unpack_fast(bytes message):
    """The Broadcast of a well-formed ``message``; None to decode it the
    whole way.  Raises what ormsgpack and the UTF-8 decoder raise."""
    cdef const unsigned char *buf = <const unsigned char *>PyBytes_AS_STRING(message)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(message)
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t count, length, i
    cdef Py_ssize_t data_start = 0, data_end = 0
    cdef const unsigned char *key
    cdef unsigned char byte
    cdef int seen = 0
    cdef int bit
    if _read_head(buf, &pos, size, 0x90) != 3:
        return None
    length = _read_str_head(buf, &pos, size)
    if length < 0:
        return None
    uid = _name(buf + pos, length)
    pos += length
    # the packet
    count = _read_head(buf, &pos, size, 0x80)
    if count < 0 or count > 3:
        return None
    nsp = _ROOT_NSP
    for i in range(count):
        length = _read_str_head(buf, &pos, size)
        if length < 0:
            return None
        key = buf + pos
        pos += length
        if pos >= size:
            return None
        byte = buf[pos]
        if _is_key(key, length, "data", 4):
            if seen & _SEEN_DATA or not (0x91 <= byte <= 0x9F or byte == 0xDC or byte == 0xDD):
                return None
            seen |= _SEEN_DATA
            data_start = pos
            data_end = _skip_value(buf, pos, size)
            if data_end < 0:
                return None
            pos = data_end
        elif _is_key(key, length, "type", 4):
            if seen & _SEEN_TYPE or (byte != 2 and byte != 5):
                return None
            seen |= _SEEN_TYPE
            pos += 1
        elif _is_key(key, length, "nsp", 3):
            if seen & _SEEN_NSP:
                return None
            seen |= _SEEN_NSP
            if byte == 0xC0:
                pos += 1
            else:
                length = _read_str_head(buf, &pos, size)
                if length < 0:
                    return None
                nsp = _name(buf + pos, length)
                pos += length
        else:
            return None
    if not seen & _SEEN_DATA:
        return None
    # opts
    rooms = except_rooms = flags = None
    seen = 0
    if pos < size and buf[pos] == 0xC0:
        pos += 1
    else:
        count = _read_head(buf, &pos, size, 0x80)
        if count < 0 or count > 3:
            return None
        for i in range(count):
            length = _read_str_head(buf, &pos, size)
            if length < 0:
                return None
            key = buf + pos
            pos += length
            if _is_key(key, length, "rooms", 5):
                bit = _SEEN_ROOMS
            elif _is_key(key, length, "except", 6):
                bit = _SEEN_EXCEPT
            elif _is_key(key, length, "flags", 5):
                bit = _SEEN_FLAGS
            else:
                return None
            if seen & bit:
                return None
            seen |= bit
            if bit == _SEEN_FLAGS:
                value = flags = _read_flags(buf, &pos, size)
            elif bit == _SEEN_ROOMS:
                value = rooms = _read_rooms(buf, &pos, size)
            else:
                value = except_rooms = _read_rooms(buf, &pos, size)
            if value is None:
                return None
    if pos != size:
        return None
    if rooms is None:
        rooms = []
    if except_rooms is None:
        except_rooms = []
    if flags is None:
        flags = {}
    # the data, last: nothing is decoded for a message that is given up
    pos = data_start
    data = _read_value(buf, &pos, data_end)
    # _MISSING (a map key ormsgpack refuses) is not a list either
    if (type(data) is not list or not PyList_GET_SIZE(data)
            or not PyUnicode_Check(<object>PyList_GET_ITEM(data, 0))):
        return None
    return _new_broadcast(uid, nsp, data, rooms, except_rooms, flags)


def unpack_broadcast(data):
    """Decode and validate a broadcast message written with the msgpack parser.

    The same as ``protocol.broadcast.decode_broadcast(MsgpackParser(), data)``.

    :param data: the message, as published on a broadcast channel.

    Raises ``MalformedMessage`` when the message cannot be decoded or is not
    a ``[uid, packet, opts]`` broadcast.
    """
    cdef PyObject *args[2]
    if type(data) is bytes:
        try:
            message = _unpack_fast(<bytes>data)
        except Exception:
            message = None
        if message is not None:
            return message
    args[0] = <PyObject *>data
    args[1] = <PyObject *>_c_ext_hook
    try:
        # msgpack_compat.unpackb(data), without its frame
        value = PyObject_Vectorcall(_unpackb, args, 1, <PyObject *>_EXT_HOOK_KWNAMES)
    except Exception as exc:
        raise _MalformedMessage(f"undecodable broadcast: {exc}") from exc
    return _parse(value)
