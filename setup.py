"""Build the optional Cython core ``socketio_redis_adapter._fastpath``.

Environment variables:

* ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1``: build pure Python only.
* ``SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1``: a failed compile is an error
  (without it the package installs pure Python and warns at import time).
"""

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS"))
if sys.implementation.name != "cpython" and not REQUIRE_EXTENSIONS:
    NO_EXTENSIONS = True


class OptionalBuildExt(build_ext):
    """Compile the extension, falling back to pure Python unless required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._fail(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if REQUIRE_EXTENSIONS:
            raise
        print(
            f"WARNING: could not build socketio_redis_adapter._fastpath ({exc}); "
            "installing the pure-Python implementation",
            file=sys.stderr,
        )


def extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        print("WARNING: Cython is missing; pure-Python build", file=sys.stderr)
        return []
    ext = Extension(
        "socketio_redis_adapter._fastpath",
        ["src/_fastpath.pyx"],
        # the parts src/_fastpath.pyx includes: editing one rebuilds the module
        depends=sorted(glob.glob("src/fastpath/*.pxi")),
        extra_compile_args=["-O2"],
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={"embedsignature": True, "boundscheck": False, "wraparound": False},
    )


build_type = "Pure-Python" if NO_EXTENSIONS else "Accelerated"
print(f"* {build_type} build of socketio-redis-adapter *", file=sys.stderr)
setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
