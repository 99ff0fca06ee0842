"""The client needs only the protocol and gRPC: importing it loads neither server nor compiler."""

from __future__ import annotations

import subprocess
import sys


def test_client_import_is_light() -> None:
    code = (
        "import sys, hepinfer.client\n"
        "extra = sorted(m for m in sys.modules if m.startswith('hepinfer.') and not "
        "m.startswith(('hepinfer.client', 'hepinfer.protocol', 'hepinfer.errors', "
        "'hepinfer._version')))\n"
        "heavy = [m for m in ('onnxruntime', 'aiohttp', 'torch', 'onnx') if m in sys.modules]\n"
        "print(extra, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
