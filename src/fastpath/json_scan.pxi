# -- json_scan: where a JSON value ends, checked but not built ---------------
#
# The sharded flavour's broadcasts arrive as JSON whose event part
# (``packet.data``) is already the text a Socket.IO text packet carries; the
# receiver hands that text to the fan-out instead of decoding the event and
# encoding it again.  This part finds where that value ends and checks that
# it is JSON (RFC 8259: no NaN or Infinity, no control characters in
# strings; valid UTF-8) without building any object.  The pure twin:
# ``_fastpath_py/json_scan.py``.

cdef enum:
    _SCAN_MAX_DEPTH = 128  # containers nested deeper than this are not accepted


cdef inline Py_ssize_t _json_ws(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (s[i] == 32 or s[i] == 9 or s[i] == 10 or s[i] == 13):
        i += 1
    return i


cdef inline bint _json_digit(unsigned char c) noexcept:
    return 48 <= c <= 57


cdef inline bint _json_hex(unsigned char c) noexcept:
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


cdef Py_ssize_t _json_string_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) noexcept:
    """``s[i]`` is the opening quote: the index after the closing one, or -1."""
    cdef unsigned char c
    cdef Py_ssize_t k
    i += 1
    while i < n:
        c = s[i]
        if c == 34:  # "
            return i + 1
        if c == 92:  # backslash
            if i + 1 >= n:
                return -1
            c = s[i + 1]
            if c == 117:  # \uXXXX
                if i + 5 >= n:
                    return -1
                for k in range(i + 2, i + 6):
                    if not _json_hex(s[k]):
                        return -1
                i += 6
            elif c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 \
                    or c == 114 or c == 116:
                i += 2
            else:
                return -1
        elif c < 32:
            return -1
        else:
            i += 1  # UTF-8 bytes are checked when the text is decoded
    return -1


cdef Py_ssize_t _json_number_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) noexcept:
    cdef Py_ssize_t k
    if s[i] == 45:  # -
        i += 1
        if i >= n:
            return -1
    if s[i] == 48:  # a leading 0 stands alone
        i += 1
    elif 49 <= s[i] <= 57:
        while i < n and _json_digit(s[i]):
            i += 1
    else:
        return -1
    # a fraction or an exponent without digits is not part of the number (as json reads
    # it): the number ends before it, and what follows decides
    if i + 1 < n and s[i] == 46 and _json_digit(s[i + 1]):  # .
        i += 2
        while i < n and _json_digit(s[i]):
            i += 1
    if i < n and (s[i] == 101 or s[i] == 69):  # e E
        k = i + 1
        if k < n and (s[k] == 43 or s[k] == 45):
            k += 1
        if k < n and _json_digit(s[k]):
            i = k + 1
            while i < n and _json_digit(s[i]):
                i += 1
    return i


cdef inline Py_ssize_t _json_word_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n,
                                      const char *word, Py_ssize_t size) noexcept:
    if i + size > n or memcmp(s + i, word, size) != 0:
        return -1
    return i + size


cdef Py_ssize_t _json_value_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n,
                                int depth) noexcept:
    """The index after the JSON value that starts at ``s[i]``, or -1."""
    cdef unsigned char c
    cdef unsigned char close
    if i >= n:
        return -1
    c = s[i]
    if c == 34:
        return _json_string_end(s, i, n)
    if c == 123 or c == 91:  # { [
        if depth >= _SCAN_MAX_DEPTH:
            return -1
        close = 125 if c == 123 else 93
        i = _json_ws(s, i + 1, n)
        if i < n and s[i] == close:
            return i + 1
        while True:
            if c == 123:  # "key" :
                if i >= n or s[i] != 34:
                    return -1
                i = _json_string_end(s, i, n)
                if i < 0:
                    return -1
                i = _json_ws(s, i, n)
                if i >= n or s[i] != 58:
                    return -1
                i = _json_ws(s, i + 1, n)
            i = _json_value_end(s, i, n, depth + 1)
            if i < 0:
                return -1
            i = _json_ws(s, i, n)
            if i >= n:
                return -1
            if s[i] == close:
                return i + 1
            if s[i] != 44:  # ,
                return -1
            i = _json_ws(s, i + 1, n)
    if c == 116:
        return _json_word_end(s, i, n, b"true", 4)
    if c == 102:
        return _json_word_end(s, i, n, b"false", 5)
    if c == 110:
        return _json_word_end(s, i, n, b"null", 4)
    if c == 45 or _json_digit(c):
        return _json_number_end(s, i, n)
    return -1


def json_value_text(bytes payload, Py_ssize_t start):
    """The JSON value that starts at ``payload[start]``: ``(its text, the offset after it)``.

    None when no valid JSON value starts exactly there (whitespace first
    included), when it is not valid UTF-8, uses NaN or Infinity, or nests
    containers more than 128 deep.  Bytes after the value are not looked at.
    """
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t end
    cdef const unsigned char *s = <const unsigned char *>PyBytes_AS_STRING(payload)
    if start < 0 or start >= n:
        return None
    end = _json_value_end(s, start, n, 0)
    if end < 0:
        return None
    try:
        text = PyUnicode_DecodeUTF8(<const char *>s + start, end - start, NULL)
    except UnicodeDecodeError:
        return None
    return text, end
