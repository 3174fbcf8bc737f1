"""Build the optional Cython core ``socketio_redis_adapter._fastpath``.

Where the core's C comes from:

* with Cython installed and ``src/_fastpath.pyx`` present (a checkout, or an
  sdist built with build isolation), the ``.pyx`` is cythonized;
* without Cython, the ``src/_fastpath.c`` that every sdist ships (generated
  when the sdist is made) is compiled as it is;
* without a working C compiler, the package installs its pure-Python twin and
  says so at import time.

Environment variables:

* ``SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1``: build pure Python only.
* ``SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1``: a core that cannot be
  built (no compiler, no Cython and no shipped C) is an error.
"""

from __future__ import annotations

import glob
import importlib
import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

NAME = "socketio_redis_adapter._fastpath"
PYX = "src/_fastpath.pyx"
C_SOURCE = "src/_fastpath.c"
# the parts src/_fastpath.pyx includes: editing one rebuilds the module
PXI = sorted(glob.glob("src/fastpath/*.pxi"))
CYTHON_DIRECTIVES = {"embedsignature": True, "boundscheck": False, "wraparound": False}
# optimisation flags per compiler family (distutils' compiler_type)
COMPILE_ARGS = {"msvc": ["/O2"], "unix": ["-O2"], "mingw32": ["-O2"], "cygwin": ["-O2"]}

NO_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS"))
if sys.implementation.name != "cpython" and not REQUIRE_EXTENSIONS:
    NO_EXTENSIONS = True


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def cython() -> Any:
    """Cython's ``cythonize``, or None when Cython is not installed."""
    try:
        return importlib.import_module("Cython.Build").cythonize
    except ImportError:
        return None


def cythonized(cythonize: Any) -> list[Extension]:
    """Cythonize the core: writes ``src/_fastpath.c`` when it is older than its sources."""
    ext = Extension(NAME, [PYX], depends=PXI)
    return list(
        cythonize(
            [ext],
            language_level=3,
            compiler_directives=CYTHON_DIRECTIVES,
            quiet=True,
        )
    )


def extensions() -> list[Extension]:
    """The extension modules to build: none, the cythonized .pyx, or the shipped .c."""
    if NO_EXTENSIONS:
        return []
    cythonize = cython()
    if cythonize is not None and os.path.exists(PYX):
        return cythonized(cythonize)
    if os.path.exists(C_SOURCE):
        print(f"* Cython is not installed: compiling the shipped {C_SOURCE} *", file=sys.stderr)
        sources = [p for p in (PYX, *PXI) if os.path.exists(p)]
        if any(os.path.getmtime(p) > os.path.getmtime(C_SOURCE) for p in sources):
            warn(f"{C_SOURCE} is older than the Cython sources; install Cython to regenerate it")
        return [Extension(NAME, [C_SOURCE], depends=PXI)]
    reason = f"neither Cython nor {C_SOURCE} is available"
    if REQUIRE_EXTENSIONS:
        raise SystemExit(f"cannot build {NAME}: {reason}")
    warn(f"could not build {NAME} ({reason}); installing the pure-Python implementation")
    return []


class OptionalBuildExt(build_ext):
    """Compile the extension with the compiler's flags, falling back to pure Python
    unless required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._fail(exc)

    def build_extensions(self) -> None:
        flags = COMPILE_ARGS.get(self.compiler.compiler_type, [])
        for ext in self.extensions:
            ext.extra_compile_args = [*flags, *ext.extra_compile_args]
        super().build_extensions()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if REQUIRE_EXTENSIONS:
            raise
        warn(f"could not build {NAME} ({exc}); installing the pure-Python implementation")


class SdistWithC(sdist):
    """An sdist that also ships the generated ``src/_fastpath.c`` (see MANIFEST.in), so
    that it builds the compiled core where Cython is not installed."""

    def run(self) -> None:
        cythonize = cython()
        if cythonize is not None and os.path.exists(PYX):
            cythonized(cythonize)
        elif not os.path.exists(C_SOURCE):
            raise SystemExit(f"making an sdist needs Cython to generate {C_SOURCE}")
        super().run()


build_type = "Pure-Python" if NO_EXTENSIONS else "Accelerated"
print(f"* {build_type} build of socketio-redis-adapter *", file=sys.stderr)
setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "sdist": SdistWithC},
)
