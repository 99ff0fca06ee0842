"""hepinfer: fast machine-learning inference for particle physics.

Two paths share one model pipeline: a compiler that turns trained networks into bit-exact
fixed-point FPGA firmware (HLS C++, emulator, resource and latency estimates), and a
Triton-compatible inference service with a SONIC-style client and scaling benchmarks.
Heavy parts are imported lazily so that, say, a client-only user never loads the compiler.
"""

from hepinfer._version import __version__
from hepinfer.errors import HepinferError

__all__ = ["HepinferError", "__version__"]
