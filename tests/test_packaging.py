"""Build modes of the wheel: compiled core, forced pure Python, broken compiler; the
sdist, and a wheel built from it where Cython is not installed.

Every build runs ``pip wheel --no-build-isolation`` (no network: setuptools and
Cython come from the running interpreter) on a copy of the checkout in a tmp
dir, so nothing is ever written into the repository.  The sdist is made by
setuptools' PEP 517 hook, in the same way.  Each wheel is built once
per module and installed with ``pip install --target`` into its own directory,
which a child interpreter puts first on ``sys.path`` so that the editable
install of the checkout cannot shadow it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
PKG = "socketio_redis_adapter"
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 120
IMPORT_TIMEOUT = 60
OWN_ENV_VARS = (
    "SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS",
    "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS",
)
# Build artefacts that a developer's checkout may hold; a clean copy has none.
ARTEFACTS = ("*.so", "*.pyd", "*.c", "*.o", "__pycache__", "build", "dist", "*.egg-info")
BROKEN_COMPILER = {"CC": "false", "CXX": "false", "LDSHARED": "false"}
PURE_WARNING = "installing the pure-Python implementation"
# The pure-Python twin, a package: every module of it must be in every wheel.
PURE_TWIN = sorted(
    f"{PKG}/_fastpath_py/{path.name}"
    for path in (REPO / "src" / "adapter" / "_fastpath_py").glob("*.py")
)


@dataclass
class Build:
    returncode: int
    output: str
    wheel: Path | None

    @property
    def names(self) -> list[str]:
        assert self.wheel is not None, self.output[-4000:]
        with zipfile.ZipFile(self.wheel) as zf:
            return zf.namelist()

    def read(self, name: str) -> str:
        assert self.wheel is not None
        with zipfile.ZipFile(self.wheel) as zf:
            return zf.read(name).decode()

    def extension_modules(self) -> list[str]:
        return [n for n in self.names if n.endswith((".so", ".pyd"))]


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without this package's build/import switches."""
    env = {k: v for k, v in os.environ.items() if k not in OWN_ENV_VARS}
    for key in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(key, None)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_INDEX="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra or {})
    return env


def _copy_checkout(dest: Path) -> Path:
    """Copy what a build reads (never build artefacts) into ``dest``."""
    dest.mkdir(parents=True)
    for name in (
        "pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in",
        "scripts/wheel_smoke.py",
    ):  # fmt: skip
        if (REPO / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns(*ARTEFACTS))
    return dest


def _need_build_tools() -> None:
    for module in ("setuptools", "Cython"):
        if importlib.util.find_spec(module) is None:
            pytest.fail(
                f"{module} is not importable by {sys.executable}: install the test group "
                "(pip install -e . --group test), which brings the build tools"
            )


def _build(
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    prepare: Callable[[Path], None] | None = None,
) -> Build:
    """Build a wheel from a fresh copy of the checkout under ``root``."""
    _need_build_tools()
    tree = _copy_checkout(root / "tree")
    if prepare is not None:
        prepare(tree)
    return _wheel_from(tree, root, env)


def _wheel_from(tree: Path, root: Path, env: Mapping[str, str] | None = None) -> Build:
    """Build a wheel of the source tree ``tree`` into ``root``/wheels."""
    out = root / "wheels"
    out.mkdir()
    cmd = [
        sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
        "-w", str(out), str(tree),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd,
            cwd=root,
            env=_clean_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pip wheel took more than {BUILD_TIMEOUT} s:\n{exc.output}")
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) <= 1, wheels
    return Build(proc.returncode, proc.stdout, wheels[0] if wheels else None)


def _install(wheel: Path, target: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout
    return target


IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys, warnings

    # The checkout's editable install adds a meta-path finder that maps the package to
    # src/adapter; PYTHONPATH wins for the package, but a submodule missing from the wheel
    # (the compiled core of a pure wheel) would fall through to the checkout's build.
    sys.meta_path[:] = [
        f for f in sys.meta_path
        if not getattr(f, "__module__", "").startswith("__editable___socketio_redis_adapter")
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import socketio_redis_adapter
        import socketio_redis_adapter.fastpath as fastpath
        # Importing again (as other modules do) must not warn again.
        import socketio_redis_adapter.adapter  # noqa: F401
    core = sys.modules.get("socketio_redis_adapter._fastpath")
    print(json.dumps({
        "file": socketio_redis_adapter.__file__,
        "FASTPATH": socketio_redis_adapter.FASTPATH,
        "fastpath.FASTPATH": fastpath.FASTPATH,
        "router_module": fastpath.ChannelRouter.__module__,
        "core_file": getattr(core, "__file__", None),
        "module_files": sorted(
            m.__file__ for name, m in list(sys.modules.items())
            if name.split(".")[0] == "socketio_redis_adapter" and getattr(m, "__file__", None)
        ),
        "warnings": [
            {"category": w.category.__name__, "message": str(w.message)} for w in caught
        ],
    }))
    """
)


def _probe_import(target: Path, cwd: Path, env: Mapping[str, str] | None = None) -> dict:
    """Import the package installed in ``target`` in a child interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=cwd,
        env=_clean_env({"PYTHONPATH": str(target), **(env or {})}),
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # The wheel, not the editable install of the checkout, was imported, every module of it.
    assert Path(result["file"]).resolve().is_relative_to(target.resolve()), result
    for path in result["module_files"]:
        assert Path(path).resolve().is_relative_to(target.resolve()), result
    return result


def _runtime_warnings(result: dict) -> list[str]:
    return [w["message"] for w in result["warnings"] if w["category"] == "RuntimeWarning"]


# -- wheels, one build each per module ---------------------------------------------------


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return _build(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def pure_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return _build(tmp_path_factory.mktemp("pure"), {"SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS": "1"})


@pytest.fixture(scope="module")
def broken_compiler_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return _build(tmp_path_factory.mktemp("broken"), BROKEN_COMPILER)


@pytest.fixture(scope="module")
def default_install(default_build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert default_build.returncode == 0, default_build.output[-4000:]
    assert default_build.wheel is not None
    return _install(default_build.wheel, tmp_path_factory.mktemp("default-site") / "site")


@pytest.fixture(scope="module")
def pure_install(pure_build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert pure_build.returncode == 0, pure_build.output[-4000:]
    assert pure_build.wheel is not None
    return _install(pure_build.wheel, tmp_path_factory.mktemp("pure-site") / "site")


# -- what the wheels contain --------------------------------------------------------------


def test_default_build_ships_the_compiled_core(default_build: Build) -> None:
    assert default_build.returncode == 0, default_build.output[-4000:]
    assert default_build.wheel is not None
    names = default_build.names
    compiled = default_build.extension_modules()
    assert len(compiled) == 1, names
    assert compiled[0].startswith(f"{PKG}/_fastpath"), compiled
    assert compiled[0].endswith(sysconfig.get_config_var("EXT_SUFFIX")), compiled
    assert f"{PKG}/py.typed" in names
    assert f"{PKG}/fastpath.py" in names and f"{PKG}/_fastpath_py/__init__.py" in names
    assert set(PURE_TWIN) <= set(names), names
    assert not [n for n in names if n.endswith((".pyx", ".pxi", ".pxd", ".c", ".o"))], names
    # Platform-specific: a cpXY-cpXY-<platform> tag, not purelib.
    assert not default_build.wheel.name.endswith("-none-any.whl"), default_build.wheel.name
    wheel_meta = default_build.read(f"{PKG}-0.1.0.dist-info/WHEEL")
    assert "Root-Is-Purelib: false" in wheel_meta, wheel_meta
    assert "WARNING" not in default_build.output, default_build.output[-4000:]


def _source_modules() -> list[str]:
    """Every Python file of the package in the checkout, as a path inside a wheel."""
    source = REPO / "src" / "adapter"
    return sorted(
        f"{PKG}/{path.relative_to(source).as_posix()}"
        for path in source.rglob("*.py")
        if "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("which", ["default", "pure"])
def test_wheels_ship_every_module(which: str, request: pytest.FixtureRequest) -> None:
    """A subpackage missing from pyproject's ``packages`` would be left out silently."""
    build: Build = request.getfixturevalue(f"{which}_build")
    assert build.returncode == 0, build.output[-4000:]
    missing = [name for name in _source_modules() if name not in build.names]
    assert missing == [], missing
    assert f"{PKG}/protocol/classic.py" in build.names  # the walk found the subpackages


def test_no_extensions_build_is_pure(pure_build: Build) -> None:
    assert pure_build.returncode == 0, pure_build.output[-4000:]
    assert pure_build.wheel is not None
    assert pure_build.wheel.name.endswith("-py3-none-any.whl"), pure_build.wheel.name
    names = pure_build.names
    assert pure_build.extension_modules() == [], names
    assert f"{PKG}/py.typed" in names
    assert f"{PKG}/_fastpath_py/__init__.py" in names
    assert set(PURE_TWIN) <= set(names), names
    assert not [n for n in names if n.endswith((".pyx", ".pxi", ".c"))], names
    assert "Root-Is-Purelib: true" in pure_build.read(f"{PKG}-0.1.0.dist-info/WHEEL")


def test_stale_build_artefacts_in_the_tree_stay_out_of_a_pure_wheel(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An in-place build (``pip install -e .``) leaves ``_fastpath*.so`` in src/adapter."""

    def plant(tree: Path) -> None:
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        (tree / "src" / "adapter" / f"_fastpath{suffix}").write_bytes(b"\x7fELF stale")
        (tree / "src" / "_fastpath.c").write_text("/* stale */\n")

    build = _build(
        tmp_path_factory.mktemp("stale"),
        {"SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS": "1"},
        prepare=plant,
    )
    assert build.returncode == 0, build.output[-4000:]
    assert build.extension_modules() == [], build.names
    assert not [n for n in build.names if n.endswith((".pyx", ".pxi", ".c"))], build.names


def test_broken_compiler_falls_back_to_pure_python(broken_compiler_build: Build) -> None:
    build = broken_compiler_build
    assert build.returncode == 0, build.output[-4000:]
    assert build.wheel is not None
    assert build.extension_modules() == [], build.names
    assert f"{PKG}/_fastpath_py/__init__.py" in build.names
    assert set(PURE_TWIN) <= set(build.names), build.names
    warning_lines = [line for line in build.output.splitlines() if "WARNING" in line]
    assert any(
        f"could not build {PKG}._fastpath" in line and PURE_WARNING in line
        for line in warning_lines
    ), build.output[-4000:]


def test_broken_compiler_with_require_extensions_fails(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    build = _build(
        tmp_path_factory.mktemp("required"),
        {**BROKEN_COMPILER, "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS": "1"},
    )
    assert build.returncode != 0, build.output[-4000:]
    assert build.wheel is None
    assert PURE_WARNING not in build.output, build.output[-4000:]


# -- importing the installed wheels -------------------------------------------------------


def test_pure_wheel_warns_once_without_the_switch(pure_install: Path, tmp_path: Path) -> None:
    result = _probe_import(pure_install, tmp_path)
    assert result["FASTPATH"] is False
    assert result["fastpath.FASTPATH"] is False
    assert result["router_module"] == f"{PKG}._fastpath_py.router"
    assert result["core_file"] is None
    runtime = _runtime_warnings(result)
    assert len(runtime) == 1, result["warnings"]
    assert "pure-Python implementation" in runtime[0], runtime
    # the package, the reason (the ImportError) and both switches
    for part in (
        "socketio-redis-adapter",
        "ImportError: cannot import name '_fastpath'",
        "SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS=1",
        "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS=1",
    ):
        assert part in runtime[0], (part, runtime)


def test_pure_wheel_is_silent_with_no_extensions(pure_install: Path, tmp_path: Path) -> None:
    result = _probe_import(pure_install, tmp_path, {"SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS": "1"})
    assert result["FASTPATH"] is False
    assert result["router_module"] == f"{PKG}._fastpath_py.router"
    assert _runtime_warnings(result) == [], result["warnings"]


def test_compiled_wheel_uses_the_fast_path(default_install: Path, tmp_path: Path) -> None:
    result = _probe_import(default_install, tmp_path)
    assert result["FASTPATH"] is True
    assert result["fastpath.FASTPATH"] is True
    assert result["router_module"] == f"{PKG}._fastpath"
    # The compiled module came from the wheel, not from the checkout's in-place build.
    assert result["core_file"] is not None
    assert Path(result["core_file"]).resolve().is_relative_to(default_install.resolve())
    assert _runtime_warnings(result) == [], result["warnings"]


def test_compiled_wheel_honours_no_extensions_at_import(
    default_install: Path, tmp_path: Path
) -> None:
    result = _probe_import(default_install, tmp_path, {"SOCKETIO_REDIS_ADAPTER_NO_EXTENSIONS": "1"})
    assert result["FASTPATH"] is False
    assert result["router_module"] == f"{PKG}._fastpath_py.router"
    assert result["core_file"] is None
    assert _runtime_warnings(result) == [], result["warnings"]


def test_pure_wheel_with_require_extensions_fails_at_import(
    pure_install: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path,
        env=_clean_env(
            {"PYTHONPATH": str(pure_install), "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS": "1"}
        ),
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
    )
    assert proc.returncode != 0, proc.stdout
    assert "ImportError" in proc.stderr, proc.stderr
    assert "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS is set" in proc.stderr, proc.stderr


# -- the sdist, and a wheel built from it without Cython ----------------------------------


@dataclass
class Sdist:
    path: Path
    root: str  # the directory every member is under, ``name-version``

    @property
    def names(self) -> set[str]:
        """The members' paths below the root directory."""
        with tarfile.open(self.path) as tf:
            return {
                name.split("/", 1)[1] for name in tf.getnames() if name.startswith(self.root + "/")
            }


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Sdist:
    """The sdist of a fresh copy of the checkout, made by setuptools' PEP 517 hook."""
    _need_build_tools()
    root = tmp_path_factory.mktemp("sdist")
    tree = _copy_checkout(root / "tree")
    out = root / "dist"
    out.mkdir()
    hook = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", hook, str(out)],
        cwd=tree,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    name = proc.stdout.strip().splitlines()[-1]
    assert name.endswith(".tar.gz"), proc.stdout[-4000:]
    return Sdist(out / name, name.removesuffix(".tar.gz"))


def test_sdist_holds_what_a_build_needs(sdist: Sdist) -> None:
    names = sdist.names
    pxi = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "src" / "fastpath").glob("*.pxi"))
    assert pxi, "no .pxi parts in the checkout"
    for needed in (
        "src/_fastpath.pyx",
        *pxi,
        "src/_fastpath.c",  # generated from the .pyx when the sdist is made
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "pyproject.toml",
        "setup.py",
        "src/adapter/py.typed",
        "scripts/wheel_smoke.py",
        *(f"src/adapter/{m.split('/', 1)[1]}" for m in _source_modules()),
    ):
        assert needed in names, (needed, sorted(names))
    assert not [n for n in names if n.endswith((".so", ".pyd", ".o", ".pyc"))], sorted(names)
    assert not [n for n in names if n.startswith("tests/")], sorted(names)
    with tarfile.open(sdist.path) as tf:
        member = tf.extractfile(f"{sdist.root}/src/_fastpath.c")
        assert member is not None
        assert b"Generated by Cython" in member.read(200)


# A stand-in for Cython that refuses to be imported, put first on sys.path of the build:
# it records that the build asked for Cython (and so did without it).
CYTHON_BLOCKER = textwrap.dedent(
    """
    import os
    open(os.environ["CYTHON_BLOCKER_MARK"], "a").write("asked\\n")
    raise ImportError("Cython is not installed (test stand-in)")
    """
)


@pytest.fixture(scope="module")
def sdist_build_without_cython(
    sdist: Sdist, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Build, Path]:
    """A wheel built from the unpacked sdist where ``import Cython`` fails."""
    root = tmp_path_factory.mktemp("sdist-no-cython")
    with tarfile.open(sdist.path) as tf:
        tf.extractall(root / "unpacked", filter="data")
    blocker = root / "blocker"
    (blocker / "Cython").mkdir(parents=True)
    (blocker / "Cython" / "__init__.py").write_text(CYTHON_BLOCKER)
    mark = root / "cython-asked"
    build = _wheel_from(
        root / "unpacked" / sdist.root,
        root,
        {
            "PYTHONPATH": str(blocker),
            "CYTHON_BLOCKER_MARK": str(mark),
            # the shipped C must compile: a fallback to pure Python would fail the build
            "SOCKETIO_REDIS_ADAPTER_REQUIRE_EXTENSIONS": "1",
        },
    )
    return build, mark


def test_a_wheel_built_from_the_sdist_without_cython_has_the_compiled_core(
    sdist_build_without_cython: tuple[Build, Path], tmp_path: Path
) -> None:
    build, mark = sdist_build_without_cython
    assert build.returncode == 0, build.output[-4000:]
    assert mark.exists(), "the build never tried to import Cython: " + build.output[-4000:]
    assert "compiling the shipped src/_fastpath.c" in build.output, build.output[-4000:]
    compiled = build.extension_modules()
    assert len(compiled) == 1, build.names
    assert compiled[0].startswith(f"{PKG}/_fastpath"), compiled
    assert "Root-Is-Purelib: false" in build.read(f"{PKG}-0.1.0.dist-info/WHEEL")
    assert "WARNING" not in build.output, build.output[-4000:]
    assert build.wheel is not None
    site = _install(build.wheel, tmp_path / "site")
    result = _probe_import(site, tmp_path)
    assert result["FASTPATH"] is True
    assert result["router_module"] == f"{PKG}._fastpath"
    assert _runtime_warnings(result) == [], result["warnings"]


# -- the dependency floors -----------------------------------------------------------------


def test_the_floors_file_pins_every_declared_dependency_at_its_floor() -> None:
    """scripts/floors.sh tests scripts/floors.txt: it must say what pyproject.toml declares."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["uvloop"]]
    floors: dict[str, Version] = {}
    for requirement in declared:
        match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)", requirement)
        assert match, f"{requirement!r}: every dependency needs a floor (>=)"
        floors[match.group(1).lower()] = Version(match.group(3))
    pins: dict[str, Version] = {}
    for line in (REPO / "scripts" / "floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    assert pins == floors, (pins, floors)
