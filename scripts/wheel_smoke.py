"""Smoke test of an installed wheel: the compiled core is there and round-trips a broadcast.

Run by cibuildwheel's ``test-command`` on every wheel it builds, and by
scripts/check_dist.sh on the wheels and sdists built here.  Needs no Redis and
no network.  Run it from outside the checkout (cibuildwheel does), so that the
installed package is imported, not ``src/``::

    python scripts/wheel_smoke.py            # the compiled core must be there
    python scripts/wheel_smoke.py --pure-ok  # the pure-Python twin is accepted

Prints one line and exits 0 on success; raises on any failure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pure-ok", action="store_true", help="accept the pure-Python twin")
    args = parser.parse_args()
    if os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS") and not args.pure_ok:
        raise SystemExit("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS is set: nothing compiled to test")

    with warnings.catch_warnings():
        # a missing compiled core must fail here, not only warn
        warnings.simplefilter("error", RuntimeWarning)
        package = importlib.import_module("socketio_redis_adapter")
        fastpath = importlib.import_module("socketio_redis_adapter.fastpath")

    where = os.path.dirname(package.__file__)
    version = importlib.metadata.version("socketio-redis-adapter")
    assert package.__version__ == version, (package.__version__, version)
    if not args.pure_ok:
        assert package.FASTPATH is True, f"no compiled core in {where}"
        core = sys.modules["socketio_redis_adapter._fastpath"]
        assert core.__file__ is not None and core.__file__.startswith(where), core.__file__

    uid, nsp = "smoke-uid", "/chat"
    data = ["message", {"text": "héllo", "n": 1, "nested": [1.5, None, True]}, b"\x00\xff"]
    packed = fastpath.pack_broadcast(uid, nsp, data, ["room-a"], ["room-b"], {"volatile": True})
    assert isinstance(packed, bytes) and packed, packed
    got = fastpath.unpack_broadcast(packed)
    assert (got.uid, got.nsp, got.data) == (uid, nsp, data), got
    assert (got.rooms, got.except_rooms, got.flags) == (["room-a"], ["room-b"], {"volatile": True})
    core_name = "compiled core" if package.FASTPATH else "pure-Python twin"
    print(f"socketio-redis-adapter {version}: {core_name} round-trips a broadcast ({where})")


if __name__ == "__main__":
    main()
