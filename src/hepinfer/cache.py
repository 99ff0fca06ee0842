"""Where hepinfer caches what it compiles (C simulations, the native Dense kernel, the native
gRPC front end), and the one way it builds a shared library into that cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path


def cache_dir() -> Path:
    """`$HEPINFER_CACHE`, or `~/.cache/hepinfer` when it is not set."""
    env = os.environ.get("HEPINFER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hepinfer"


def compiler_id(cxx: str) -> str:
    """The first line of `cxx --version` (part of every build's cache key)."""
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else cxx


def cached_build(
    area: str,
    digest: str,
    filename: str,
    command: Callable[[Path, Path], list[str]],
    fail: Callable[[str], Exception],
) -> Path:
    """The library `$HEPINFER_CACHE/<area>/<digest>/<filename>`, built once.

    `command(work_dir, output)` writes what the build needs under `work_dir` and returns the
    compiler command that writes `output`; a failed build raises `fail(stderr)`. Builds happen
    in a private folder renamed into place, so concurrent processes never see half a library
    (the loser of a race uses the winner's).
    """
    target = cache_dir() / area / digest
    lib = target / filename
    if lib.is_file():
        return lib
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{digest}-") as tmp:
        work = Path(tmp)
        final = work / "final"
        final.mkdir()
        cmd = command(work, final / filename)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise fail(proc.stderr[-4000:])
        (final / "build.txt").write_text(" ".join(cmd) + "\n")
        try:
            final.rename(target)
        except OSError:
            if not lib.is_file():  # another process won the race: use its library
                raise
    return lib


def grpc_toolchain(fail: Callable[[str], Exception], fix: str) -> tuple[str, list[str], str]:
    """(compiler, gRPC C++ compile and link flags from pkg-config, a text identifying both);
    `fail(message)` is raised, with `fix` appended, when a tool or gRPC C++ is missing.
    """
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        msg = f"C++ compiler {cxx!r} not found: {fix}"
        raise fail(msg)
    if shutil.which("pkg-config") is None:
        msg = f"pkg-config not found (it locates gRPC C++): {fix}"
        raise fail(msg)

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    flags = run(["pkg-config", "--cflags", "--libs", "grpc++"])
    if flags.returncode != 0:
        msg = f"gRPC C++ (pkg-config grpc++) not found: {flags.stderr.strip()}; {fix}"
        raise fail(msg)
    version = run(["pkg-config", "--modversion", "grpc++"])
    return cxx, flags.stdout.split(), f"{compiler_id(cxx)}\0grpc++ {version.stdout.strip()}"


def build_grpc_library(
    area: str,
    source: Path,
    library: str,
    cxxflags: Sequence[str],
    fail: Callable[[str], Exception],
    fix: str,
) -> Path:
    """A shared library of one C++ `source` linked against gRPC C++, built once into
    `$HEPINFER_CACHE/<area>/<hash of the source, compiler, flags>/<library>`.
    """
    cxx, flags, ident = grpc_toolchain(fail, fix)
    h = hashlib.sha256(source.read_bytes())
    h.update(f"{ident}\0{' '.join(cxxflags)}\0{' '.join(flags)}".encode())

    def command(_: Path, output: Path) -> list[str]:
        return [cxx, *cxxflags, str(source), "-o", str(output), *flags]

    def failed(stderr: str) -> Exception:
        return fail(f"g++ failed building {source.name}:\n{stderr}\n{fix}")

    return cached_build(area, h.hexdigest()[:24], library, command, failed)
