"""The build cache shared by the C simulation, the native Dense kernel and the gRPC front end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hepinfer.cache import cache_dir, cached_build, compiler_id


class BuildFailed(Exception):
    pass


def _copy_command(calls: list[Path]) -> object:
    def command(work: Path, output: Path) -> list[str]:
        calls.append(work)
        (work / "input.txt").write_text("built")
        return [
            sys.executable,
            "-c",
            f"import shutil; shutil.copy({str(work / 'input.txt')!r}, {str(output)!r})",
        ]

    return command


def test_builds_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    calls: list[Path] = []
    lib = cached_build("area", "abc123", "lib.txt", _copy_command(calls), BuildFailed)  # type: ignore[arg-type]
    assert lib == tmp_path / "cache" / "area" / "abc123" / "lib.txt"
    assert lib.read_text() == "built"
    assert "import shutil" in (lib.parent / "build.txt").read_text()
    again = cached_build("area", "abc123", "lib.txt", _copy_command(calls), BuildFailed)  # type: ignore[arg-type]
    assert again == lib
    assert len(calls) == 1  # the second call is a look-up
    assert not [p for p in lib.parent.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_failure_raises_the_callers_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path))

    def command(_: Path, __: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.stderr.write('bad code'); sys.exit(3)"]

    with pytest.raises(BuildFailed, match="bad code"):
        cached_build("area", "d1", "lib.so", command, BuildFailed)
    assert not (tmp_path / "area" / "d1").exists()


def test_compiler_id_names_the_compiler(tmp_path: Path) -> None:
    assert compiler_id(sys.executable).startswith("Python")
    silent = tmp_path / "cxx"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    assert compiler_id(str(silent)) == str(silent)  # no version text: the command itself
