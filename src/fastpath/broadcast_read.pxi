# Part of src/_fastpath.pyx, which includes it: the MessagePack readers
# unpack_broadcast uses.

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
