"""The README's pip quick start, run as written against a freshly built wheel.

The wheel is built from this checkout (`pip wheel`, hatchling from the configured index or
cache) and installed with `--no-deps` into a new virtual environment whose dependencies come
from the running environment's site-packages (a `.pth` line, so the test runs offline in
well under a minute); `hepinfer` itself comes only from the wheel. Then every `hepinfer ...`
line of the README's quick-start block runs in order, in a folder holding a `model.onnx` and
a `models/` repository; `serve` is started, answers one request and is stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def quickstart() -> list[str]:
    """The command lines of the README's quick-start block."""
    text = (REPO / "README.md").read_text()
    block = re.search(
        r"<!-- quickstart.*?-->\n```\n(.*?)```\n<!-- /quickstart -->", text, re.DOTALL
    )
    assert block, "README.md lost its <!-- quickstart --> block"
    return [line.strip() for line in block[1].splitlines() if line.strip()]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (hepinfer only from the wheel)."""
    work = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), REPO],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    if built.returncode != 0 and "hatchling" in built.stderr:
        pytest.skip(f"cannot build the wheel here (no hatchling): {built.stderr[-500:]}")
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("hepinfer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "hepinfer/hls/templates/project/build.tcl.jinja" in names or any(
        n.startswith("hepinfer/hls/templates/project/") for n in names
    )
    assert not any(n.startswith("tests/") for n in names)
    root = work / "venv"
    # without its own pip (ensurepip alone takes ~15 s); the running pip installs into it
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies: the running environment's site-packages, after the venv's own
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        env=env,
        timeout=120,
    )
    return root


def _serve(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Start the server, send one HTTP inference request, stop it with SIGINT."""
    port = _free_port()
    args = [a.replace("8000", str(port)).replace("8001", str(_free_port())) for a in command]
    proc = subprocess.Popen(
        [*args, "--metrics-port", "-1"], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline, url = time.monotonic() + 60, f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/v2/models/scale/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                time.sleep(0.2)
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32"}]}
        body["inputs"][0]["data"] = [1.0, 2.0, 3.0, 4.0]
        request = urllib.request.Request(
            f"{url}/v2/models/scale/infer",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            answer = json.loads(r.read())
        out = next(o for o in answer["outputs"] if o["name"] == "OUTPUT0")
        np.testing.assert_array_equal(out["data"], [2.0, 4.0, 6.0, 8.0])
        assert time.monotonic() < deadline
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def _free_port() -> int:
    from tests.peers_util import free_port

    return free_port()


@pytest.mark.slow
def test_readme_quickstart_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    from tests.hls.onnx_models import mlp
    from tests.serve.models import scale_model

    mlp(tmp_path / "model.onnx", (6, 8, 4), ("Relu", "Softmax"))
    scale_model(tmp_path / "models" / "scale" / "1" / "model.onnx", 2.0)  # config auto-completed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    lines = quickstart()
    assert lines[0].startswith("python3 -m venv")  # done by the fixture
    assert lines[1] == "pip install 'hepinfer[all]'"  # the fixture installs the wheel
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hepinfer; print(hepinfer.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # hepinfer comes from the wheel
    commands = [line.split() for line in lines[2:]]
    assert [c[:2] for c in commands] == [
        ["hepinfer", "--version"],
        ["hepinfer", "compile"],
        ["hepinfer", "hls"],
        ["hepinfer", "serve"],
    ]
    for command in commands:
        if command[1] == "serve":
            _serve(command, tmp_path, env)
            continue
        proc = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        if command[1] == "--version":
            assert re.fullmatch(r"hepinfer \d+\.\d+\.\d+\S*\n", proc.stdout)
    assert (tmp_path / "compiled" / "graph.json").is_file()
    assert "semantics: hepinfer" in (tmp_path / "compiled" / "types.txt").read_text()
    assert (tmp_path / "prj" / "build.tcl").is_file()


def test_without_grpc_cpp_the_error_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without gRPC C++ the server falls back to grpc.aio, logging this reason (serve.server)."""
    pytest.importorskip("grpc")
    from hepinfer.errors import NativeBuildError
    from hepinfer.serve.native.build import build_library

    monkeypatch.setenv("CXX", "no-such-compiler-here")
    with pytest.raises(NativeBuildError, match=r"apt-get install g\+\+ pkg-config libgrpc\+\+-dev"):
        build_library()
