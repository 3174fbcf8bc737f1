# Part of src/_fastpath.pyx, which includes it: encode_event and the JSON text
# writer behind it.

# ---------------------------------------------------------------- JSON text
#
# For the usual payloads ``encode_event`` writes the JSON text itself, byte
# for byte what ``json.dumps(data, separators=(",", ":"))`` writes with the
# default ``ensure_ascii=True, allow_nan=True, sort_keys=False``: exact
# ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``, ``tuple`` and
# ``dict`` with exact ``str`` keys, and binary attachments (exact ``bytes`` and
# ``bytearray``) written as their placeholders.  With the adapter's own
# ``default`` hook (``protocol.parsers.json_default``) it also calls the hook for other
# objects, as json does, and writes what it returns (a Date's ISO text).
# Anything else (subclasses, other key types, a ``default`` of the caller's,
# nesting deeper than ``_JSON_MAX_DEPTH``, which also catches cycles, an
# error from the hook) makes ``_write_json`` give up, and ``encode_event``
# starts again the old way: binary scan, placeholder copy, ``dumps``.  No
# Python code of the caller's runs here, so giving up midway has no visible
# effect.


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
