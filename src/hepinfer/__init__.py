"""hepinfer: fast machine-learning inference for particle physics.

Two paths share one model pipeline: a compiler that turns trained networks into bit-exact
fixed-point FPGA firmware (HLS C++, emulator, resource and latency estimates), and a
Triton-compatible inference service with a SONIC-style client and scaling benchmarks.
Heavy parts are imported lazily so that, say, a client-only user never loads the compiler.
"""

from typing import TYPE_CHECKING, Any

from hepinfer._version import __version__
from hepinfer.errors import HepinferError

if TYPE_CHECKING:
    from hepinfer.compiled import CompiledModel, compile, config_from_model, load
    from hepinfer.config import Config

_LAZY = {
    "compile": "hepinfer.compiled",
    "load": "hepinfer.compiled",
    "CompiledModel": "hepinfer.compiled",
    "Config": "hepinfer.config",
    "config_from_model": "hepinfer.compiled",
}


def __getattr__(name: str) -> Any:
    """Import the compiler API on first use, keeping `import hepinfer` light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'hepinfer' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "CompiledModel",
    "Config",
    "HepinferError",
    "__version__",
    "compile",
    "config_from_model",
    "load",
]
