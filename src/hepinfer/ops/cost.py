"""The cost records operators' `cost` hooks return: one frozen dataclass per operator family.

Each op module's ``cost(node, ctx)`` (found through ``hepinfer.ops.hook(op, "cost")``) maps a
configured node to a list of these records; ``hepinfer.estimate`` turns them into resources
and latency (its analytic model lives there, in ``hepinfer.estimate.operators``). They hold
only what the cost model needs (sizes, types, reuse factor, strategy, io type, and optionally
the weight values), so an adapter from any graph representation (hepinfer's IR, an hls4ml
model, a hand-written list) is a few lines per operator. ``hepinfer.estimate.layers``
re-exports them for the public estimator API.

Type fields are `FixedType`. At construction they also accept what `as_fixed` converts (an
int width, a ``(width, integer[, signed])`` tuple, a type string, or an object with
``width``, ``integer`` and ``signed`` attributes such as hls4ml's ``FixedPrecisionType``) and
store the `FixedType`. Weight arrays are never compared or hashed.

Conventions follow hls4ml: ``reuse_factor`` is how many times each multiplier is used per
inference; ``strategy`` is a `Strategy` (``LATENCY``: weights as constants in the fabric, the
layer a single pipelined function; ``RESOURCE``: weights in block RAM, a loop of
``reuse_factor`` iterations); ``io_type`` is an `IOType` (``PARALLEL``: whole tensors as
wires, the model one pipeline; ``STREAM``: one pixel per transfer through FIFOs, layers in a
dataflow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hepinfer.errors import EstimateError, HepinferError
from hepinfer.fixed import FixedType
from hepinfer.knobs import IOType, Strategy
from hepinfer.ops.lut import DEFAULT_TABLE, DEFAULT_TABLE_SIZE

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_PRECISION",
    "SIMPLE_ACTIVATIONS",
    "TABLE_ACTIVATIONS",
    "ActivationCost",
    "BatchNormCost",
    "ConvCost",
    "DenseCost",
    "ElementwiseCost",
    "FixedLike",
    "IOType",
    "LayerCost",
    "NodeContext",
    "PoolCost",
    "RecurrentCost",
    "Strategy",
    "WeightKind",
    "as_fixed",
    "fixed_or",
]

WeightKind = Literal["general", "binary", "ternary", "po2"]
Padding = Literal["valid", "same"]
ConvImplementation = Literal["linebuffer", "encoded"]

DEFAULT_PRECISION = FixedType(16, 6)
"""hls4ml's default ``ap_fixed<16,6>``."""


@runtime_checkable
class _HasFixedShape(Protocol):
    width: int
    integer: int
    signed: bool


FixedLike = FixedType | int | tuple[int, int] | tuple[int, int, bool] | str | _HasFixedShape
"""What a type field accepts at construction (converted by `as_fixed`)."""


def as_fixed(value: FixedLike | object) -> FixedType:
    """The `FixedType` a public estimator input describes (the one conversion at the edge).

    A `FixedType` is returned as is; an ``int`` W is ``ap_int<W>``; ``(W, I)`` and
    ``(W, I, signed)`` are ``ap_[u]fixed<W,I>``; a string is parsed by `FixedType.parse`; an
    object with ``width``, ``integer`` and ``signed`` attributes gives ``ap_[u]fixed<W,I>``.
    EstimateError (naming the value) for anything else or an invalid type.
    """
    if isinstance(value, FixedType):
        return value
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return FixedType.int_type(value)
        if isinstance(value, str):
            return FixedType.parse(value)
        if isinstance(value, tuple) and len(value) in (2, 3):
            return FixedType(int(value[0]), int(value[1]), bool(value[2]) if value[2:] else True)
        if isinstance(value, tuple):
            msg = f"type tuple {value!r} must be (width, integer) or (width, integer, signed)"
            raise EstimateError(msg)
        if isinstance(value, _HasFixedShape):
            return FixedType(int(value.width), int(value.integer), bool(value.signed))
    except EstimateError:
        raise
    except (HepinferError, TypeError, ValueError) as exc:
        msg = f"type {value!r} is invalid for the estimator: {exc}"
        raise EstimateError(msg) from exc
    msg = (
        f"type {value!r} ({type(value).__name__}) is not understood; give a FixedType, an int "
        "width, a (width, integer[, signed]) tuple, a type string such as 'ap_fixed<16,6>', or "
        "an object with width/integer/signed attributes"
    )
    raise EstimateError(msg)


def fixed_or(value: FixedLike | None, default: FixedType) -> FixedType:
    """A stored type field (already converted) or ``default`` when it is None."""
    return default if value is None else as_fixed(value)


#: (``embedding``: a lookup of one row of an Embedding's table per input element)
TABLE_ACTIVATIONS = frozenset(
    {"sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "exp", "embedding"}
)
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


@dataclass(frozen=True)
class NodeContext:
    """What a `cost` hook needs besides the node: its input types and shapes, the io type.

    ``default`` is the model-level default type, for precision variables the configuration
    left unset.
    """

    input_types: tuple[FixedType, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    io_type: IOType
    default: FixedType

    @property
    def input(self) -> FixedType:
        """The type of the first input."""
        return self.input_types[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the first input (no batch dimension)."""
        return self.input_shapes[0]


def _positive(owner: object, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"{type(owner).__name__}.{name} = {value!r} is invalid; it must be a positive integer"
        raise EstimateError(msg)


def _normalise(owner: object) -> None:
    """Convert type fields, check sizes, strategy, io type and reuse factor."""
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        typed = {"input", "weight", "bias", "accum", "output", "scale"}
        if f.name in typed | {"recurrent_weight", "recurrent_bias"} and value is not None:
            object.__setattr__(owner, f.name, as_fixed(value))
    for name, kind in (("strategy", Strategy), ("io_type", IOType)):
        value = getattr(owner, name, None)
        if value is not None and not isinstance(value, kind):
            msg = (
                f"{type(owner).__name__}.{name} = {value!r} is not a {kind.__name__}; use one "
                f"of {', '.join(f'{kind.__name__}.{m.name}' for m in kind)} "
                f"(hepinfer.config.{kind.__name__}.parse converts a string)"
            )
            raise EstimateError(msg)
    if hasattr(owner, "reuse_factor"):
        _positive(owner, "reuse_factor", owner.reuse_factor)
    zero_fraction = getattr(owner, "zero_fraction", 0.0)
    if not 0.0 <= zero_fraction <= 1.0:
        msg = f"zero_fraction {zero_fraction!r} must be between 0 and 1 (the pruned share)"
        raise EstimateError(msg)


def _weights_shape(owner: object, weights: npt.NDArray[Any] | None, size: int) -> None:
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
    ``kernel`` is whose Resource-strategy kernel the firmware runs: hls4ml's
    ``dense_resource`` (R iterations, weights in block RAM) or hepinfer's (the loop and weight
    ROM of `hepinfer.ops.reuse.ReuseSchedule`, as the HLS writer generates it). ``live``
    (optional, ``[n_in, n_out]`` booleans) marks the products HLS keeps once it has removed
    those of unused outputs and folded those of constant inputs (`hepinfer.estimate.liveness`
    sets it from the neighbouring layers' weights; None: every product).
    """

    name: str
    n_in: int
    n_out: int
    input: FixedLike = DEFAULT_PRECISION
    weight: FixedLike = DEFAULT_PRECISION
    bias: FixedLike = DEFAULT_PRECISION
    accum: FixedLike | None = None
    output: FixedLike | None = None
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    zero_fraction: float = 0.0
    weight_kind: WeightKind = "general"
    weight_storage: Literal["bram", "uram"] = "bram"
    kernel: Literal["hls4ml", "hepinfer"] = "hls4ml"
    weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )
    live: npt.NDArray[np.bool_] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        _positive(self, "n_in", self.n_in)
        _positive(self, "n_out", self.n_out)
        _normalise(self)
        _weights_shape(self, self.weights, self.n_in * self.n_out)
        _weights_shape(self, self.live, self.n_in * self.n_out)
        if self.kernel not in ("hls4ml", "hepinfer"):
            msg = f"DenseCost {self.name!r}: kernel {self.kernel!r} is not 'hls4ml' or 'hepinfer'"
            raise EstimateError(msg)


@dataclass(frozen=True, kw_only=True)
class ConvCost:
    """A 1D or 2D convolution (channels last); ``in_height = filt_height = 1`` for Conv1D.

    ``weights`` (optional) is the kernel, ``filt_height * filt_width * n_chan * n_filt``
    values. ``parallelization_factor`` is how many output pixels io_parallel computes at once.
    ``implementation`` is hls4ml's ``ConvImplementation`` of io_stream convolutions:
    ``linebuffer`` (the default since hls4ml 0.6) or ``encoded`` (hls4ml 0.5's window FIFOs).
    ``depthwise`` marks a depthwise convolution (one input channel per filter), which
    hls4ml's io_stream code builds with its own inlined kernel and no zero-padding layer.
    ``kernel`` is whose io_stream kernel the firmware runs: hls4ml's (a ZeroPadding layer
    in front of a 'same' convolution, ``compute_output_buffer`` calls) or ``"hepinfer"``'s
    (one pipelined pass over the padded grid, ``hepinfer_conv_stream.h``).
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
    input: FixedLike = DEFAULT_PRECISION
    weight: FixedLike = DEFAULT_PRECISION
    bias: FixedLike = DEFAULT_PRECISION
    accum: FixedLike | None = None
    output: FixedLike | None = None
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    zero_fraction: float = 0.0
    weight_kind: WeightKind = "general"
    parallelization_factor: int = 1
    weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )
    implementation: ConvImplementation = "linebuffer"
    depthwise: bool = False
    kernel: Literal["hls4ml", "hepinfer"] = "hls4ml"

    def __post_init__(self) -> None:
        if self.implementation not in ("linebuffer", "encoded"):
            msg = (
                f"ConvCost {self.name!r}: implementation {self.implementation!r} is unknown; "
                "use 'linebuffer' (hls4ml's default) or 'encoded'"
            )
            raise EstimateError(msg)
        for name in ("in_width", "in_height", "n_chan", "n_filt", "filt_width", "filt_height"):
            _positive(self, name, getattr(self, name))
        for name in ("stride_width", "stride_height", "parallelization_factor"):
            _positive(self, name, getattr(self, name))
        if self.padding not in ("valid", "same"):
            msg = f"padding {self.padding!r} is invalid; use 'valid' or 'same'"
            raise EstimateError(msg)
        if self.kernel not in ("hls4ml", "hepinfer"):
            msg = f"ConvCost {self.name!r}: kernel {self.kernel!r} is not 'hls4ml' or 'hepinfer'"
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
    entries of ``table_bits`` bits, by default hls4ml's 1024-entry ``ap_fixed<18,8>`` tables of
    `hepinfer.ops.lut`) or ``softmax``. ``slope`` is the constant negative-side slope of
    ``leaky_relu`` / ``prelu`` when it is known (one value for every element; None: a general
    constant).
    """

    name: str
    kind: str
    n: int
    input: FixedLike = DEFAULT_PRECISION
    output: FixedLike | None = None
    table_size: int = DEFAULT_TABLE_SIZE
    table_bits: int = DEFAULT_TABLE.width
    io_type: IOType = IOType.PARALLEL
    n_chan: int | None = None
    slope: float | None = None

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
    input: FixedLike = DEFAULT_PRECISION
    io_type: IOType = IOType.PARALLEL

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
    input: FixedLike = DEFAULT_PRECISION
    scale: FixedLike = DEFAULT_PRECISION
    output: FixedLike | None = None
    reuse_factor: int = 1
    io_type: IOType = IOType.PARALLEL

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
    input: FixedLike = DEFAULT_PRECISION
    io_type: IOType = IOType.PARALLEL
    n_chan: int | None = None

    def __post_init__(self) -> None:
        _positive(self, "n", self.n)
        ops = ("add", "subtract", "multiply", "maximum", "minimum", "average", "concatenate")
        if self.op not in ops:
            msg = f"elementwise op {self.op!r} is invalid; use one of {', '.join(ops)}"
            raise EstimateError(msg)
        _normalise(self)


@dataclass(frozen=True, kw_only=True)
class RecurrentCost:
    """A recurrent layer (hls4ml's ``lstm_stack`` / ``gru_stack`` / ``simple_rnn``): over
    ``n_timesteps`` steps, one step computes two Dense products (``n_in`` and ``n_state``
    inputs, ``gates * n_state`` outputs each), the gate activations ``recurrent_activation``
    over ``(gates - 1) * n_state`` values (``activation`` alone when ``gates`` is 1) and
    ``activation`` over ``n_state`` values (twice for an LSTM, ``gates`` 4), and the state
    update. The steps run one after another on the same hardware: the layer's latency and
    initiation interval are ``n_timesteps`` times the step's.
    """

    name: str
    n_timesteps: int
    n_in: int
    n_state: int
    gates: int
    input: FixedLike = DEFAULT_PRECISION
    weight: FixedLike = DEFAULT_PRECISION
    bias: FixedLike = DEFAULT_PRECISION
    accum: FixedLike | None = None
    output: FixedLike | None = None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    #: the recurrent kernel's and recurrent bias' types (None: `weight`'s, `bias`')
    recurrent_weight: FixedLike | None = None
    recurrent_bias: FixedLike | None = None
    reuse_factor: int = 1
    table_size: int = DEFAULT_TABLE_SIZE
    table_bits: int = DEFAULT_TABLE.width
    io_type: IOType = IOType.PARALLEL
    weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )
    recurrent_weights: npt.NDArray[np.float64] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        for key in ("n_timesteps", "n_in", "n_state", "gates", "reuse_factor", "table_size"):
            _positive(self, key, getattr(self, key))
        for key in ("activation", "recurrent_activation"):
            if getattr(self, key) not in ACTIVATIONS:
                msg = f"{key} {getattr(self, key)!r} is invalid; use one of {sorted(ACTIVATIONS)}"
                raise EstimateError(msg)
        _normalise(self)


LayerCost = (
    DenseCost
    | ConvCost
    | ActivationCost
    | PoolCost
    | BatchNormCost
    | ElementwiseCost
    | RecurrentCost
)
