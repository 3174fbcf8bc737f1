"""MessagePack encoding and decoding compatible with Node's ``notepack.io`` 3.

ormsgpack does the work on the common path.  It cannot write extension type
-1 (the MessagePack timestamp notepack uses for ``Date``) and refuses
non-string map keys, so values holding a ``datetime`` or such a key are
encoded by the small encoder below, which follows notepack's rules:
float64 for every float, ``bin`` for bytes, timestamp ext -1 for dates, and
map keys turned into strings the way ``JSON``/JavaScript do.
"""

from __future__ import annotations

import datetime
import json
import struct
from typing import Any

import ormsgpack

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_PACK_OPTIONS = ormsgpack.OPT_PASSTHROUGH_DATETIME


def _refuse(obj: Any) -> Any:
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise TypeError(f"Type is not msgpack serializable: {type(obj).__name__}")


def packb(obj: Any) -> bytes:
    """Encode ``obj`` as notepack would; raise ``TypeError`` if it cannot be."""
    try:
        return ormsgpack.packb(obj, default=_refuse, option=_PACK_OPTIONS)
    except TypeError:
        pass
    out = bytearray()
    _pack(obj, out, 0)
    return bytes(out)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        # the text JSON (and so a JavaScript property name) would use
        return json.dumps(key)
    raise TypeError(f"Map key is not serializable: {type(key).__name__}")


def _pack(obj: Any, out: bytearray, depth: int) -> None:
    if depth > 512:
        raise TypeError("Value is nested too deeply to serialize")
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        size = len(data)
        if size < 32:
            out.append(0xA0 | size)
        elif size < 0x100:
            out += b"\xd9" + struct.pack(">B", size)
        elif size < 0x10000:
            out += b"\xda" + struct.pack(">H", size)
        else:
            out += b"\xdb" + struct.pack(">I", size)
        out += data
    elif isinstance(obj, int):
        _pack_int(obj, out)
    elif isinstance(obj, float):
        out += b"\xcb" + struct.pack(">d", obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        size = len(data)
        if size < 0x100:
            out += b"\xc4" + struct.pack(">B", size)
        elif size < 0x10000:
            out += b"\xc5" + struct.pack(">H", size)
        else:
            out += b"\xc6" + struct.pack(">I", size)
        out += data
    elif isinstance(obj, datetime.datetime):
        _pack_timestamp(obj, out)
    elif isinstance(obj, (list, tuple)):
        size = len(obj)
        if size < 16:
            out.append(0x90 | size)
        elif size < 0x10000:
            out += b"\xdc" + struct.pack(">H", size)
        else:
            out += b"\xdd" + struct.pack(">I", size)
        for item in obj:
            _pack(item, out, depth + 1)
    elif isinstance(obj, dict):
        size = len(obj)
        if size < 16:
            out.append(0x80 | size)
        elif size < 0x10000:
            out += b"\xde" + struct.pack(">H", size)
        else:
            out += b"\xdf" + struct.pack(">I", size)
        for key, value in obj.items():
            _pack(_key_text(key), out, depth + 1)
            _pack(value, out, depth + 1)
    else:
        raise TypeError(f"Type is not msgpack serializable: {type(obj).__name__}")


def _pack_int(value: int, out: bytearray) -> None:
    if 0 <= value < 0x80:
        out.append(value)
    elif 0 <= value < 0x100:
        out += b"\xcc" + struct.pack(">B", value)
    elif 0 <= value < 0x10000:
        out += b"\xcd" + struct.pack(">H", value)
    elif 0 <= value < 0x100000000:
        out += b"\xce" + struct.pack(">I", value)
    elif 0 <= value < 0x10000000000000000:
        out += b"\xcf" + struct.pack(">Q", value)
    elif -0x20 <= value < 0:
        out += struct.pack(">b", value)
    elif -0x80 <= value < 0:
        out += b"\xd0" + struct.pack(">b", value)
    elif -0x8000 <= value < 0:
        out += b"\xd1" + struct.pack(">h", value)
    elif -0x80000000 <= value < 0:
        out += b"\xd2" + struct.pack(">i", value)
    elif -0x8000000000000000 <= value < 0:
        out += b"\xd3" + struct.pack(">q", value)
    else:
        raise TypeError("Integer is too large to serialize")


def _pack_timestamp(value: datetime.datetime, out: bytearray) -> None:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    delta = value - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    nanoseconds = delta.microseconds * 1000
    if nanoseconds == 0 and 0 <= seconds < 0x100000000:
        out += b"\xd6\xff" + struct.pack(">I", seconds)
    elif 0 <= seconds < 0x400000000:
        out += b"\xd7\xff" + struct.pack(">Q", (nanoseconds << 34) | seconds)
    else:
        out += b"\xc7\x0c\xff" + struct.pack(">Iq", nanoseconds, seconds)


def _timestamp(data: bytes) -> datetime.datetime:
    if len(data) == 4:
        seconds, nanoseconds = struct.unpack(">I", data)[0], 0
    elif len(data) == 8:
        packed = struct.unpack(">Q", data)[0]
        seconds, nanoseconds = packed & 0x3FFFFFFFF, packed >> 34
    elif len(data) == 12:
        nanoseconds, seconds = struct.unpack(">Iq", data)
    else:
        raise ValueError(f"invalid timestamp extension of {len(data)} bytes")
    return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=nanoseconds // 1000)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == -1:
        return _timestamp(data)
    if code == 0:
        # notepack 2.x (socket.io-redis <= 7, redis-emitter <= 4)
        if len(data) == 1:
            return None  # undefined
        if len(data) == 8:
            milliseconds = struct.unpack(">q", data)[0]
            return _EPOCH + datetime.timedelta(milliseconds=milliseconds)
        return bytes(data)  # ArrayBuffer
    return [code, bytes(data)]


# bytes after a head byte: (bytes of a length field, fixed payload size)
_HEADS: dict[int, tuple[int, int]] = {
    0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0),  # bin
    0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),  # ext (the type byte)
    0xCA: (0, 4), 0xCB: (0, 8),  # float
    0xCC: (0, 1), 0xCD: (0, 2), 0xCE: (0, 4), 0xCF: (0, 8),  # uint
    0xD0: (0, 1), 0xD1: (0, 2), 0xD2: (0, 4), 0xD3: (0, 8),  # int
    0xD4: (0, 2), 0xD5: (0, 3), 0xD6: (0, 5), 0xD7: (0, 9), 0xD8: (0, 17),  # fixext
    0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),  # str
}


def check_declared_sizes(data: bytes | bytearray) -> None:
    """Raise ``ValueError`` when a header claims more than the data can hold.

    Every array item and map key or value takes at least one byte, and a
    string, bin or ext payload takes its length, so a count or a length
    larger than what is left cannot be right.  Reads headers only, at most
    once per byte.
    """
    size = len(data)
    pos = 0
    pending = 1  # values still to read
    while pending and pos < size:
        pending -= 1
        head = data[pos]
        pos += 1
        if head <= 0x7F or head >= 0xE0 or head in (0xC0, 0xC2, 0xC3):
            continue
        if head <= 0x9F:  # fixmap, fixarray
            count = (head & 0x0F) * (2 if head <= 0x8F else 1)
        elif head <= 0xBF:  # fixstr
            pos += head & 0x1F
            continue
        elif head in (0xDC, 0xDD, 0xDE, 0xDF):  # array16/32, map16/32
            width = 2 if head in (0xDC, 0xDE) else 4
            count = int.from_bytes(data[pos : pos + width], "big") * (2 if head >= 0xDE else 1)
            pos += width
        elif head in _HEADS:
            width, fixed = _HEADS[head]
            length = int.from_bytes(data[pos : pos + width], "big") if width else 0
            pos += width + fixed + length
            continue
        else:
            return  # 0xc1, never used: the decoder refuses it
        if count > size - pos:
            raise ValueError(f"a container of {count} items in {size - pos} bytes")
        pending += count


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


#: ormsgpack before 1.13.1 (1.12.2 is the last release for Python 3.10) can
#: crash the process on an array header that claims billions of items
#: (``dd ff ff ff ff``), so its input is checked first.
CHECK_SIZES = _version(getattr(ormsgpack, "__version__", "0")) < (1, 13, 1)


def _checked_unpackb(data: Any, *, ext_hook: Any = None) -> Any:
    if isinstance(data, (bytes, bytearray)):
        check_declared_sizes(data)
    elif isinstance(data, memoryview):
        check_declared_sizes(data.tobytes())
    return ormsgpack.unpackb(data, ext_hook=ext_hook)


#: ``ormsgpack.unpackb``, with the size check where the installed version needs it
ormsgpack_unpackb: Any = _checked_unpackb if CHECK_SIZES else ormsgpack.unpackb


def unpackb(data: bytes) -> Any:
    """Decode one MessagePack value; raise ``ValueError`` for bad input."""
    try:
        return ormsgpack_unpackb(data, ext_hook=_ext_hook)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from exc
