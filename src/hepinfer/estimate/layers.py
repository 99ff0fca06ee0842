"""Layer descriptions the estimator costs: small frozen dataclasses, one per operator family.

They hold only what the cost model needs (sizes, precisions, reuse factor, strategy, io type,
and optionally the weight values), so an adapter from any graph representation (hepinfer's
IR, an hls4ml model, a hand-written list) is a few lines per operator.

Precision fields accept anything `hepinfer.estimate.as_precision` accepts (a `Precision`, an
int width, a ``(width, integer[, signed])`` tuple, a type string, or a FixedType-like object)
and are stored as `Precision`. Weight arrays are never compared or hashed.

Conventions follow hls4ml: ``reuse_factor`` is how many times each multiplier is used per
inference; ``strategy`` is ``"latency"`` (weights as constants in the fabric, the layer a
single pipelined function) or ``"resource"`` (weights in block RAM, a loop of ``reuse_factor``
iterations); ``io_type`` is ``"io_parallel"`` (whole tensors as wires, the model one
pipeline) or ``"io_stream"`` (one pixel per transfer through FIFOs, layers in a dataflow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np
import numpy.typing as npt

from hepinfer.errors import EstimateError
from hepinfer.estimate.precision import Precision, PrecisionLike, as_precision

__all__ = [
    "DEFAULT_PRECISION",
    "ActivationCost",
    "BatchNormCost",
    "ConvCost",
    "DenseCost",
    "ElementwiseCost",
    "IOType",
    "LayerCost",
    "PoolCost",
    "Strategy",
    "WeightKind",
]

Strategy = Literal["latency", "resource"]
IOType = Literal["io_parallel", "io_stream"]
WeightKind = Literal["general", "binary", "ternary", "po2"]
Padding = Literal["valid", "same"]

DEFAULT_PRECISION = Precision(16, 6, True)
"""hls4ml's default ``ap_fixed<16,6>``."""

TABLE_ACTIVATIONS = frozenset({"sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "exp"})
SIMPLE_ACTIVATIONS = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "thresholded_relu",
        "hard_sigmoid",
        "hard_tanh",
        "binary_tanh",
        "ternary_tanh",
        "prelu",
    }
)
ACTIVATIONS = TABLE_ACTIVATIONS | SIMPLE_ACTIVATIONS | {"softmax"}


def _positive(owner: object, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"{type(owner).__name__}.{name} = {value!r} is invalid; it must be a positive integer"
        raise EstimateError(msg)


def _normalise(owner: object) -> None:
    """Convert precision fields, check sizes, strategy, io type and reuse factor."""
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        if f.name in {"input", "weight", "bias", "accum", "output", "scale"} and value is not None:
            object.__setattr__(owner, f.name, as_precision(value))
    strategy = getattr(owner, "strategy", "latency")
    if strategy not in ("latency", "resource"):
        msg = f"strategy {strategy!r} is invalid; use 'latency' or 'resource'"
        raise EstimateError(msg)
    io_type = getattr(owner, "io_type", "io_parallel")
    if io_type not in ("io_parallel", "io_stream"):
        msg = f"io_type {io_type!r} is invalid; use 'io_parallel' or 'io_stream'"
        raise EstimateError(msg)
    if hasattr(owner, "reuse_factor"):
        _positive(owner, "reuse_factor", owner.reuse_factor)
    zero_fraction = getattr(owner, "zero_fraction", 0.0)
    if not 0.0 <= zero_fraction <= 1.0:
        msg = f"zero_fraction {zero_fraction!r} must be between 0 and 1 (the pruned share)"
        raise EstimateError(msg)


def _weights_shape(owner: object, weights: npt.NDArray[np.float64] | None, size: int) -> None:
    if weights is not None and np.asarray(weights).size != size:
        msg = (
            f"{type(owner).__name__} {getattr(owner, 'name', '')!r}: weights have "
            f"{np.asarray(weights).size} values but the layer has {size} products per output "
            "pixel; pass the kernel of this layer (any shape, n_in * n_out values)"
        )
        raise EstimateError(msg)


@dataclass(frozen=True, kw_only=True)
class DenseCost:
    """A fully connected layer ``y = W x + b`` with ``n_in`` inputs and ``n_out`` outputs.

    ``weights`` (optional) is the kernel with ``n_in * n_out`` values in ``[n_in, n_out]``
    order (Keras layout); with it, zero / power-of-two / narrow constants are counted one by
    one. Without it, ``zero_fraction`` (the pruned share) and ``weight_kind`` describe them.
    """

    name: str
    n_in: int
    n_out: int
    input: PrecisionLike = DEFAULT_PRECISION
    weight: PrecisionLike = DEFAULT_PRECISION
    bias: PrecisionLike = DEFAULT_PRECISION
    accum: PrecisionLike | None = None
    output: PrecisionLike | None = None
    reuse_factor: int = 1
    strategy: Strategy = "latency"
    io_type: IOType = "io_parallel"
    zero_fraction: float = 0.0
    weight_kind: WeightKind = "general"
    weight_storage: Literal["bram", "uram"] = "bram"
    weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        _positive(self, "n_in", self.n_in)
        _positive(self, "n_out", self.n_out)
        _normalise(self)
        _weights_shape(self, self.weights, self.n_in * self.n_out)


@dataclass(frozen=True, kw_only=True)
class ConvCost:
    """A 1D or 2D convolution (channels last); ``in_height = filt_height = 1`` for Conv1D.

    ``weights`` (optional) is the kernel, ``filt_height * filt_width * n_chan * n_filt``
    values. ``parallelization_factor`` is how many output pixels io_parallel computes at once.
    """

    name: str
    in_width: int
    n_chan: int
    n_filt: int
    filt_width: int
    in_height: int = 1
    filt_height: int = 1
    stride_width: int = 1
    stride_height: int = 1
    padding: Padding = "valid"
    input: PrecisionLike = DEFAULT_PRECISION
    weight: PrecisionLike = DEFAULT_PRECISION
    bias: PrecisionLike = DEFAULT_PRECISION
    accum: PrecisionLike | None = None
    output: PrecisionLike | None = None
    reuse_factor: int = 1
    strategy: Strategy = "latency"
    io_type: IOType = "io_parallel"
    zero_fraction: float = 0.0
    weight_kind: WeightKind = "general"
    parallelization_factor: int = 1
    weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        for name in ("in_width", "in_height", "n_chan", "n_filt", "filt_width", "filt_height"):
            _positive(self, name, getattr(self, name))
        for name in ("stride_width", "stride_height", "parallelization_factor"):
            _positive(self, name, getattr(self, name))
        if self.padding not in ("valid", "same"):
            msg = f"padding {self.padding!r} is invalid; use 'valid' or 'same'"
            raise EstimateError(msg)
        _normalise(self)
        if self.out_width < 1 or self.out_height < 1:
            msg = (
                f"ConvCost {self.name!r}: a {self.filt_height}x{self.filt_width} kernel does "
                f"not fit a {self.in_height}x{self.in_width} input with padding 'valid'"
            )
            raise EstimateError(msg)
        _weights_shape(self, self.weights, self.kernel_size * self.n_chan * self.n_filt)

    @property
    def kernel_size(self) -> int:
        """Taps of the kernel window."""
        return self.filt_height * self.filt_width

    @property
    def out_height(self) -> int:
        """Output rows (Keras rules for 'valid' and 'same')."""
        if self.padding == "same":
            return math.ceil(self.in_height / self.stride_height)
        return (self.in_height - self.filt_height) // self.stride_height + 1

    @property
    def out_width(self) -> int:
        """Output columns (Keras rules for 'valid' and 'same')."""
        if self.padding == "same":
            return math.ceil(self.in_width / self.stride_width)
        return (self.in_width - self.filt_width) // self.stride_width + 1


@dataclass(frozen=True, kw_only=True)
class ActivationCost:
    """An activation over ``n`` elements; ``n_chan`` elements arrive per stream transfer.

    ``kind`` is one of ``relu, relu6, leaky_relu, thresholded_relu, prelu, linear,
    hard_sigmoid, hard_tanh, binary_tanh, ternary_tanh`` (comparators and multiplexers),
    ``sigmoid, tanh, elu, selu, softplus, softsign, exp`` (lookup tables of ``table_size``
    entries of ``table_bits`` bits, hls4ml's defaults 1024 and 18) or ``softmax``.
    """

    name: str
    kind: str
    n: int
    input: PrecisionLike = DEFAULT_PRECISION
    output: PrecisionLike | None = None
    table_size: int = 1024
    table_bits: int = 18
    io_type: IOType = "io_parallel"
    n_chan: int | None = None

    def __post_init__(self) -> None:
        _positive(self, "n", self.n)
        _positive(self, "table_size", self.table_size)
        _positive(self, "table_bits", self.table_bits)
        if self.n_chan is not None:
            _positive(self, "n_chan", self.n_chan)
        kind = self.kind.lower()
        if kind not in ACTIVATIONS:
            msg = (
                f"activation kind {self.kind!r} is unknown to the estimator; use one of "
                + ", ".join(sorted(ACTIVATIONS))
            )
            raise EstimateError(msg)
        object.__setattr__(self, "kind", kind)
        _normalise(self)


@dataclass(frozen=True, kw_only=True)
class PoolCost:
    """Max or average pooling (1D: ``in_height = pool_height = 1``); channels last."""

    name: str
    in_width: int
    n_chan: int
    pool_width: int
    in_height: int = 1
    pool_height: int = 1
    stride_width: int | None = None
    stride_height: int | None = None
    op: Literal["max", "average"] = "max"
    input: PrecisionLike = DEFAULT_PRECISION
    io_type: IOType = "io_parallel"

    def __post_init__(self) -> None:
        for name in ("in_width", "in_height", "n_chan", "pool_width", "pool_height"):
            _positive(self, name, getattr(self, name))
        if self.op not in ("max", "average"):
            msg = f"pooling op {self.op!r} is invalid; use 'max' or 'average'"
            raise EstimateError(msg)
        _normalise(self)

    @property
    def out_height(self) -> int:
        """Output rows ('valid' pooling, stride defaulting to the pool size)."""
        stride = self.stride_height or self.pool_height
        return (self.in_height - self.pool_height) // stride + 1

    @property
    def out_width(self) -> int:
        """Output columns ('valid' pooling, stride defaulting to the pool size)."""
        stride = self.stride_width or self.pool_width
        return (self.in_width - self.pool_width) // stride + 1


@dataclass(frozen=True, kw_only=True)
class BatchNormCost:
    """A (not fused) batch normalisation ``y = s * x + b`` over ``n`` elements."""

    name: str
    n: int
    n_chan: int | None = None
    input: PrecisionLike = DEFAULT_PRECISION
    scale: PrecisionLike = DEFAULT_PRECISION
    output: PrecisionLike | None = None
    reuse_factor: int = 1
    io_type: IOType = "io_parallel"

    def __post_init__(self) -> None:
        _positive(self, "n", self.n)
        if self.n_chan is not None:
            _positive(self, "n_chan", self.n_chan)
        _normalise(self)


@dataclass(frozen=True, kw_only=True)
class ElementwiseCost:
    """A merge of two tensors of ``n`` elements: add, subtract, multiply, max, min, average,
    or concatenate (wiring only).
    """

    name: str
    op: Literal["add", "subtract", "multiply", "maximum", "minimum", "average", "concatenate"]
    n: int
    input: PrecisionLike = DEFAULT_PRECISION
    io_type: IOType = "io_parallel"
    n_chan: int | None = None

    def __post_init__(self) -> None:
        _positive(self, "n", self.n)
        ops = ("add", "subtract", "multiply", "maximum", "minimum", "average", "concatenate")
        if self.op not in ops:
            msg = f"elementwise op {self.op!r} is invalid; use one of {', '.join(ops)}"
            raise EstimateError(msg)
        _normalise(self)


LayerCost = DenseCost | ConvCost | ActivationCost | PoolCost | BatchNormCost | ElementwiseCost


def precision_of(value: PrecisionLike | None, default: Precision) -> Precision:
    """A stored precision field (already normalised) or ``default`` when it is None."""
    return default if value is None else as_precision(value)
