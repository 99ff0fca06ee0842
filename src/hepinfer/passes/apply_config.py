"""Give every node its fixed-point types and settings from a `Config`.

`auto` types are inferred here:
- weight/bias: the model default's width, with the integer bits the largest |value| needs;
- accum (Dense, convolutions, pooling: the ops with an `accumulated_terms` hook): exact,
  like hls4ml (`W_x + W_w + ceil(log2 n_in)` bits, plus the bias), capped at 64 bits by
  dropping fractional bits;
- result (and the input): the integer bits the node's value range needs (calibration data
  when given, with one guard bit, else sound interval analysis from the input type: each
  op's `interval` hook, computed node by node with the node's weight/bias/accum types), and
  the model default's fractional bits. Bounded activations choose their own (their op
  module's `auto_result`: softmax, sigmoid, hard sigmoid get `ap_ufixed<W,I>` with the
  integer bits their interval needs (1, except table-based softmax kernels whose truncated
  sums can exceed 1, e.g. `latency`), tanh `ap_fixed<W,2>`). A result read only by
  table-based activations keeps just the integer bits their tables cover, saturating (each
  op module's `TABLE_INPUT_BITS`: softmax 5, sigmoid 4, tanh 3). So
  `auto` never widens a softmax input to the accumulator's width, which is how hls4ml's auto
  types feed a softmax a value whose top bits never move, making its output constant.

A `bit_exact` node (HGQ2 models: `hepinfer.frontends.hgq2`) ignores the configured accumulator
and result: they are exact (`_exact_result`), as hls4ml 1.3's bit-exact flow makes them.

With hls4ml's semantics (`Config.auto_rule == "hls4ml"`: every hls4ml configuration, unless
its `Auto: hepinfer` key or hepinfer's `config_from_model` asks for the rule above) `auto`
is hls4ml 1.3's own rule instead, so that its configurations give its bits: weights and
biases without a quantiser get the model default; the accumulator and result of the layers
hls4ml's ``InferPrecisionTypes`` covers get its type from the input and weight types (each op
module's ``hls4ml_auto`` hook, rules in `hepinfer.ops.hls4ml_auto`); every other `auto` is
the model default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.config import AUTO, Config, TypeSpec
from hepinfer.fixed import FixedType, Overflow
from hepinfer.ir.graph import Graph, Node, NodePrecision
from hepinfer.ir.op import Op
from hepinfer.ops import accumulated_terms, hook, optional, parallelization, spec, table_input_bits
from hepinfer.ops.bounds import Bounds, full, integer_bits
from hepinfer.passes.infer_types import infer_types, node_types
from hepinfer.passes.ranges import node_bounds, node_interval, observed_ranges

_MAX_WIDTH = 64


def _sized(integer: int, frac: int, signed: bool = True) -> FixedType:
    width = integer + frac
    limit = _MAX_WIDTH if signed else _MAX_WIDTH - 1
    width = min(width, limit)
    return FixedType(max(width, 1), integer, signed)


def _weight_type(values: npt.NDArray[np.float64], default: FixedType) -> FixedType:
    hi = float(np.max(np.abs(values))) if values.size else 0.0
    integer = integer_bits(-hi, hi)
    return FixedType(default.width, integer)


def _stored(node: Node, var: str) -> npt.NDArray[np.float64]:
    """The values a node keeps in its `var` type (weight or bias): its kernel (or scale) and
    bias arrays, or the parameters its op holds in `weight_t` (LeakyReLU's alpha, ...); an op
    that keeps several arrays in one type says which (its `stored_values` hook).
    """
    own = optional(node.op, "stored_values")
    if own is not None:
        values: npt.NDArray[np.float64] = own(node, var)
        return values
    if var == "bias":
        return node.weights["bias"]
    for key in ("kernel", "scale"):
        if key in node.weights:
            return node.weights[key]
    held: npt.NDArray[np.float64] = hook(node.op, "weight_values")(node)
    return held


def _auto_accum(
    graph: Graph,
    node: Node,
    types: dict[str, FixedType],
    resolved: dict[str, FixedType | None],
    default: FixedType,
) -> FixedType | None:
    """Exact accumulators: weighted sums like hls4ml's inference, sums of inputs for pooling."""
    n = accumulated_terms(node, [graph.node(i).out.shape for i in node.inputs])
    if n is None:
        return None  # e.g. softmax: hls4ml's defaults apply in the kernel
    tx = types[node.inputs[0]]
    if optional(node.op, "ACCUMULATES_PRODUCTS") and len(node.inputs) == 2:
        # products of two computed inputs (Dot): the second input plays the weight's part
        return _accum_type(n, tx, types[node.inputs[1]], tx)
    if "weight" in resolved:
        return _accum_type(n, tx, resolved["weight"] or default, resolved.get("bias") or default)
    grow = math.ceil(math.log2(n)) if n > 1 else 0
    return _sized(tx.integer + grow + int(not tx.signed), tx.frac)


def _accum_type(n: int, tx: FixedType, tw: FixedType, tb: FixedType) -> FixedType:
    grow = math.ceil(math.log2(n)) if n > 1 else 0
    integer = tx.integer + tw.integer + grow + 1
    frac = max(tx.frac + tw.frac, tb.frac)
    integer = max(integer, tb.integer + 1)
    return _sized(integer, frac)


def _cap(reader: Node) -> int | None:
    """The integer bits a table activation's input needs: its op's, plus those its
    `exp_scale` < 1 (Keras MultiHeadAttention's 1/sqrt(key_dim)) stretches the range by.
    """
    bits = table_input_bits(reader.op)
    scale = float(reader.attrs.get("exp_scale", 1.0))
    if bits is None or not 0.0 < scale < 1.0:
        return bits
    return bits + math.ceil(-math.log2(scale))


def _table_input(graph: Graph, node: Node, t: FixedType) -> FixedType:
    """Narrow an auto type that only feeds table-based activations, saturating.

    Their tables are indexed by the input's top bits, so a needlessly wide integer part
    leaves the index constant (hls4ml's flat softmax); saturation keeps large values at the
    table's end instead of wrapping.
    """
    caps = [_cap(r) for r in graph.consumers(node.name)]
    if not caps or any(c is None for c in caps):
        return t
    cap = min(c for c in caps if c is not None)
    if t.integer <= cap:
        return t
    return FixedType(cap + t.frac, cap, True, t.quant, Overflow.SAT)


def _softmax_input(graph: Graph, node: Node, config: Config) -> bool:
    """Whether `config.softmax_input` sets this node's result.

    It does for a result read only by Softmax layers that has no layer-name level result.
    """
    if config.softmax_input is None:
        return False
    level = config.layer_name.get(node.name)
    if level is not None and level.precision.get("result") is not None:
        return False
    readers = graph.consumers(node.name)
    return bool(readers) and all(r.op is Op.SOFTMAX for r in readers)


_QUANTIZER_ATTRS = {
    "weight": "kernel_quantizer",
    "bias": "bias_quantizer",
    "recurrent_weight": "recurrent_quantizer",
    "recurrent_bias": "recurrent_bias_quantizer",
    "result": "quantizer",
}
#: the weight types (`auto`: the default with hls4ml's rule, else sized to the values)
_WEIGHT_VARIABLES = ("weight", "bias", "recurrent_weight", "recurrent_bias")


def _xnor(given: FixedType, q: Any) -> bool:
    """hls4ml's `XnorPrecisionType` of binary (+-1) weights: a 1-bit unsigned integer whose
    0 stands for -1; the weights keep their own 2-bit type (the products are the same).
    """
    binary = q is not None and int(q["bitwidth"]) == 2 and bool(q["signed"]) and q["scale"] == 1
    return binary and given.width == 1 and not given.signed and given.integer == 1


def _has_xnor(node: Node, config: Config) -> bool:
    """Whether the layer's name-level weight type is hls4ml's Xnor type of binary weights."""
    level = config.layer_name.get(node.name)
    given = None if level is None else level.precision.get("weight")
    return isinstance(given, FixedType) and _xnor(given, node.attrs.get("kernel_quantizer"))


def _quantizer_types(
    node: Node, config: Config, variables: tuple[str, ...]
) -> dict[str, FixedType]:
    """Types that the model's own quantisers (QONNX Quant, QKeras) fix, unless the layer's
    name-level configuration sets that variable to an explicit type.
    """
    from hepinfer.ops.quant import fixed_type

    level = config.layer_name.get(node.name)
    out = {}
    for var in variables:
        q = node.attrs.get(_QUANTIZER_ATTRS.get(var, ""))
        given = None if level is None else level.precision.get(var)
        explicit = isinstance(given, FixedType) and not _xnor(given, q)
        explicit = explicit and not node.attrs.get("bit_exact")  # HGQ2: the model's types
        if q is None or explicit:  # `auto` defers to the model's own quantiser
            continue
        out[var] = fixed_type(q)
    return out


def _auto_result(node: Node, config: Config) -> bool:
    s = spec(node.op)
    keys = (node.op.value, s.hls_name) if s.hls_name else (node.op.value,)
    return "result" in s.precisions and config.precision(node.name, keys, "result") == AUTO


def _hls4ml_auto(
    node: Node,
    chosen: Mapping[str, TypeSpec | None],
    resolved: Mapping[str, FixedType | None],
    types: Mapping[str, FixedType],
) -> dict[str, FixedType]:
    """hls4ml's `auto` accumulator/result of `node` (its op's ``hls4ml_auto`` hook), when it
    has one and a variable asks for it; empty otherwise (the model default then applies).
    """
    rule = optional(node.op, "hls4ml_auto")
    if rule is None or not node.inputs or AUTO not in (chosen.get("accum"), chosen.get("result")):
        return {}
    stored = {k: v for k, v in resolved.items() if v is not None}
    out: dict[str, FixedType] = rule(node, [types[i] for i in node.inputs], stored)
    return out


def _input_intervals(node: Node, intervals: dict[str, Bounds], default: FixedType) -> list[Bounds]:
    """The bounds a node reads: its inputs' (a graph input reads data in the default type's
    range; its own type then applies).
    """
    if not node.inputs:
        return [Bounds(*full(node.out.shape, default.min, default.max))]
    return [intervals[i] for i in node.inputs]


def _exact_result(
    node: Node, resolved: Mapping[str, FixedType | None], types: Mapping[str, FixedType]
) -> FixedType | None:
    """The result type of a `bit_exact` node (HGQ2's models: nothing is lost between their
    quantisers, as in hls4ml 1.3's bit-exact flow): an input's `input_type`, the exact
    accumulator of a weighted sum, the op's `exact_result` (merges), else (element-wise ops
    that keep values: ReLU, max pooling, reshapes) the input's type.
    """
    given = node.attrs.get("input_type")
    if given is not None:
        return FixedType.parse(str(given))
    accum = resolved.get("accum")
    if accum is not None:
        return accum
    own = optional(node.op, "exact_result")  # merges: a type holding every exact result
    if own is not None:
        typed = node.replace(
            precision=NodePrecision(**{k: v for k, v in resolved.items() if v is not None})
        )
        out: FixedType = own(typed, [types[i] for i in node.inputs])
        return out
    return types[node.inputs[0]] if node.inputs else None


def apply_config(
    graph: Graph, config: Config, calibration: npt.ArrayLike | Mapping[str, Any] | None = None
) -> Graph:
    """The graph with `precision` and settings attributes filled in on every node, and every
    tensor's fixed-point type (`out.fixed`, by `hepinfer.passes.infer_types`).
    """
    default = config.model.precision.default
    assert isinstance(default, FixedType)  # guaranteed by Config
    observed = None if calibration is None else observed_ranges(graph, calibration)  # type: ignore[arg-type]
    types: dict[str, FixedType] = {}
    nodes: list[Node] = []
    # sound element-wise bounds of every node's stored values, when an `auto` result needs
    # them and no calibration data is given
    intervals: dict[str, Bounds] | None = None
    hls4ml = config.auto_rule == "hls4ml"
    if observed is None and not hls4ml and any(_auto_result(n, config) for n in graph.nodes):
        intervals = {}
    for original in graph.nodes:
        node = original
        s = spec(node.op)
        keys = (node.op.value, s.hls_name) if s.hls_name else (node.op.value,)
        # hls4ml's ApplyAlpha layers of a float-scale Quant take that Quant's configuration
        cname = str(node.attrs.get("config_of", node.name))
        chosen: dict[str, TypeSpec | None] = {
            v: config.precision(cname, keys, v) for v in s.precisions
        }
        chosen.update(_quantizer_types(node, config, s.precisions))
        resolved: dict[str, FixedType | None] = {}
        for var in _WEIGHT_VARIABLES:
            if var in chosen:
                t = chosen[var]
                if t == AUTO:
                    t = default if hls4ml else _weight_type(_stored(node, var), default)
                resolved[var] = t
        # hls4ml infers no type from its Xnor (binary) weights: the defaults then apply
        theirs = (
            _hls4ml_auto(node, chosen, resolved, types)
            if hls4ml and not _has_xnor(node, config)
            else {}
        )
        exact = bool(node.attrs.get("bit_exact"))
        if "accum" in chosen:
            t = chosen["accum"]
            exact_accum = _auto_accum(graph, node, types, resolved, default) if exact else None
            widen = optional(node.op, "exact_accum")  # averages: room for the quotient
            if exact_accum is not None and widen is not None:
                n = accumulated_terms(node, [graph.node(i).out.shape for i in node.inputs])
                exact_accum = widen(exact_accum, n)
            if exact_accum is not None:
                t = exact_accum
            elif t == AUTO and hls4ml:
                t = theirs.get("accum", default)
            elif t == AUTO:
                t = _auto_accum(graph, node, types, resolved, default)
            resolved["accum"] = t
        if "table" in chosen:
            t = chosen["table"]
            resolved["table"] = None if t == AUTO else t
        attrs = dict(node.attrs)
        for attr in (
            "reuse_factor",
            "strategy",
            "implementation",
            "table_size",
            "table_range_power2",
        ):
            value = config.setting(cname, keys, attr)
            if value is not None and (
                attr not in ("implementation", "table_size", "table_range_power2")
                or node.op is Op.SOFTMAX
                or (attr.startswith("table_") and "table" in s.precisions)
            ):
                attrs[attr] = value.value if hasattr(value, "value") else value
        pf = config.parallelization_factor(node.name, keys)
        if pf is not None and node.op in parallelization.OPS:
            attrs["parallelization_factor"] = parallelization.resolve(
                node.name, int(pf), parallelization.positions(node)
            )
        node = original.replace(attrs=attrs)
        if intervals is not None:
            partial = {k: v for k, v in resolved.items() if v is not None}
            ins = _input_intervals(node, intervals, default)
            raw = node_interval(node.replace(precision=NodePrecision(**partial)), ins)
        result = chosen.get("result")
        exact_result = _exact_result(node, resolved, types) if exact else None
        if exact_result is not None and result is not None:
            result = exact_result
        elif result == AUTO and hls4ml:
            result = theirs.get("result", default)
        elif result == AUTO:
            own = optional(node.op, "auto_result")  # bounded activations
            if own is not None:
                result = own(default, float(raw[1].max()) if intervals is not None else None)
            else:
                if observed is not None:
                    lo, hi = observed[node.name]
                    guard = 1
                else:
                    lo, hi = float(raw[0].min()), float(raw[1].max())
                    guard = 0
                result = _sized(integer_bits(lo, hi) + guard, default.frac)
                result = _table_input(graph, node, result)
        elif result is not None and _softmax_input(graph, node, config):
            result = config.softmax_input
        if "result" in chosen:
            resolved["result"] = result
        precision = NodePrecision(**{k: v for k, v in resolved.items() if v is not None})
        node = original.replace(precision=precision, attrs=attrs)
        types[node.name], _ = node_types(node, [types[i] for i in node.inputs])
        if intervals is not None:
            ins = _input_intervals(node, intervals, default)
            intervals[node.name] = node_bounds(node, ins, types[node.name])
        nodes.append(node)
    return infer_types(graph.with_nodes(nodes))
