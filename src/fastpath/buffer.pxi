# Part of src/_fastpath.pyx, which includes it: _Writer, the byte buffer the
# JSON and MessagePack writers fill.

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
