"""Graph -> the plain values the HLS templates render: tensors, layers, weights, tables.

Every value a template prints comes from here (C types, sizes, config constants); the C++
itself lives in template files. Table contents are built with the emulator's own functions
(`hepinfer.ops.lut`, `hepinfer.ops.softmax`), so the firmware's tables equal the emulator's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hepinfer.errors import HlsError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops import lut, pooling, softmax
from hepinfer.ops.base import need, weight
from hepinfer.ops.conv import geometry

FloatArray = npt.NDArray[np.float64]

#: op -> kernel family in the C++ library (templates/kernels/*.h)
KERNELS: dict[Op, str] = {
    Op.DENSE: "dense",
    Op.CONV1D: "conv",
    Op.CONV2D: "conv",
    Op.DEPTHWISE_CONV2D: "depthwise",
    Op.RELU: "relu",
    Op.LINEAR: "linear",
    Op.SIGMOID: "lut",
    Op.TANH: "lut",
    Op.SOFTMAX: "softmax",
    Op.BATCHNORM: "normalize",
    Op.MAXPOOL: "pool",
    Op.AVGPOOL: "pool",
    Op.GLOBAL_MAXPOOL: "pool",
    Op.GLOBAL_AVGPOOL: "pool",
    Op.LEAKY_RELU: "leaky_relu",
    Op.HARD_SIGMOID: "hard_sigmoid",
    Op.ELU: "elu",
    Op.QUANT: "linear",
    Op.FLATTEN: "copy",
    Op.TRANSPOSE: "transpose",
    Op.ADD: "add",
    Op.MULTIPLY: "multiply",
    Op.CONCAT: "concatenate",
    Op.RESHAPE: "copy",
}

_MERGES = ("add", "multiply", "concatenate")
_LUT_SPAN = {Op.SIGMOID: 16.0, Op.TANH: 8.0}


def c_type(t: FixedType) -> str:
    """The C++ spelling of a fixed-point type."""
    return str(t)


def exact_values(t: FixedType, m: npt.NDArray[np.int64]) -> FloatArray:
    """The values of mantissas `m` of type `t` as float64 (exact: widths up to 53 bits)."""
    _need_exact(t, "a stored array")
    return np.asarray(t.from_mantissa(m), dtype=np.float64).reshape(-1)


def _need_exact(t: FixedType, what: str) -> None:
    if t.width > 53:
        msg = (
            f"{what} has type {t} wider than 53 bits; the HLS writer stores and indexes values "
            "through float64, exact only up to 53 bits: choose a narrower type"
        )
        raise HlsError(msg)


def identifier(name: str) -> str:
    """A C identifier made from a node name."""
    out = re.sub(r"\W", "_", name)
    return out if out and not out[0].isdigit() else f"l_{out}"


@dataclass(frozen=True)
class Array:
    """A constant array of a layer (weights, biases or a table)."""

    name: str
    ctype: str
    values: FloatArray

    @property
    def size(self) -> int:
        return int(self.values.size)

    def literals(self) -> list[str]:
        """Exact decimal literals of the values (repr round-trips float64)."""
        return [repr(float(v)) for v in self.values]


@dataclass(frozen=True)
class Tensor:
    """A tensor of the graph: its C variable name, type and per-sample size."""

    name: str
    var: str
    ctype: str
    fixed: FixedType
    size: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Layer:
    """One kernel call: its family, tensors, config constants, types and arrays."""

    index: int
    name: str
    op: str
    kernel: str
    src: Tensor
    dst: Tensor
    consts: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    arrays: tuple[Array, ...] = ()
    others: tuple[Tensor, ...] = ()  #: the inputs after `src` (merges)

    @property
    def config(self) -> str:
        return f"config{self.index}"

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """Every input tensor, in the node's order."""
        return (self.src, *self.others)


@dataclass(frozen=True)
class Model:
    """Everything the templates need for one project."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    tensors: tuple[Tensor, ...]
    layers: tuple[Layer, ...]

    @property
    def arrays(self) -> tuple[Array, ...]:
        return tuple(a for layer in self.layers for a in layer.arrays)


def build_model(graph: Graph, project: str) -> Model:
    """The template values for `graph`; HlsError for operators the writer does not cover."""
    tensors: dict[str, Tensor] = {}
    for node in graph.nodes:
        t = node.out.fixed
        if t is None:
            msg = (
                f"tensor {node.name!r} of graph {graph.name!r} has no fixed-point type; "
                "configure the graph first (hepinfer.passes.apply_config infers every type)"
            )
            raise HlsError(msg)
        var = identifier(node.name)
        tensors[node.name] = Tensor(
            node.name, var, f"{var}_t", t, node.out.size, tuple(node.out.shape)
        )
    layers = []
    for index, node in enumerate(graph.nodes):
        if node.op is Op.INPUT:
            continue
        kernel = KERNELS.get(node.op)
        n_in = len(node.inputs)
        merge = kernel in _MERGES
        fits = n_in >= 2 if kernel == "concatenate" else n_in == (2 if merge else 1)
        if kernel is None or not fits:
            known = ", ".join(sorted({op.value for op in KERNELS}))
            msg = (
                f"node {node.name!r} ({node.op.value}) with {n_in} inputs has no HLS "
                f"kernel yet; the HLS writer covers {known} (Add and Multiply of two inputs, "
                "Concatenate of two or more)"
            )
            raise HlsError(msg)
        src, dst = tensors[node.inputs[0]], tensors[node.name]
        if merge:
            layers.append(_merge(index, node, kernel, [tensors[i] for i in node.inputs], dst))
        else:
            layers.append(_layer(index, node, kernel, src, dst))
    return Model(
        name=project,
        inputs=tuple(tensors[n.name] for n in graph.inputs),
        outputs=tuple(tensors[o] for o in graph.outputs),
        tensors=tuple(tensors.values()),
        layers=tuple(layers),
    )


def _layer(index: int, node: Node, kernel: str, src: Tensor, dst: Tensor) -> Layer:
    base = {"n_in": str(src.size), "n_out": str(dst.size)}
    name = identifier(node.name)
    if kernel == "dense":
        return _dense(index, node, src, dst, base, name)
    if kernel in ("conv", "depthwise"):
        return _conv(index, node, src, dst, name, depthwise=kernel == "depthwise")
    if kernel == "pool":
        return _pool(index, node, src, dst)
    if kernel == "transpose":
        return _transpose(index, node, src, dst, base)
    if kernel == "lut":
        return _lut(index, node, src, dst, base, name)
    if kernel == "softmax":
        return _softmax(index, node, src, dst, base, name)
    if kernel in ("normalize", "leaky_relu", "hard_sigmoid", "elu"):
        return _elementwise(index, node, kernel, src, dst, base, name)
    return Layer(index, node.name, node.op.value, kernel, src, dst, base)


def _conv(
    index: int, node: Node, src: Tensor, dst: Tensor, name: str, depthwise: bool = False
) -> Layer:
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, dilations, pads, out = geometry(node, src.shape[:rank], kernel.shape[:rank])
    if rank == 1:  # a Conv2D of height 1
        strides, dilations, out = (1, *strides), (1, *dilations), (1, *out)
        pads = (0, pads[0], 0, pads[1])
    in_hw = src.shape[:-1] if rank == 2 else (1, src.shape[0])
    k_hw = kernel.shape[:2] if rank == 2 else (1, kernel.shape[0])
    geo = {
        "in_height": in_hw[0],
        "in_width": in_hw[1],
        "n_chan": src.shape[-1],
        "out_height": out[0],
        "out_width": out[1],
        "n_filt": kernel.shape[-1],
        "filt_height": k_hw[0],
        "filt_width": k_hw[1],
        "stride_height": strides[0],
        "stride_width": strides[1],
        "dilation_height": dilations[0],
        "dilation_width": dilations[1],
        "pad_top": pads[0],
        "pad_left": pads[1],
        **_window(in_hw, out, k_hw, strides, dilations, pads),
    }
    if depthwise:  # kernel (kh, kw, c, 1): one filter per channel
        geo["n_filt"] = src.shape[-1]
        flat = kernel.reshape(-1, src.shape[-1])
    else:
        flat = kernel.reshape(-1, kernel.shape[-1])
    base = {"n_in": str(flat.shape[0]), "n_out": str(flat.shape[1])}
    layer = _dense(index, node, src, dst, base, name, flat)
    consts = {**layer.consts, **{k: str(int(v)) for k, v in geo.items()}}
    kind = "depthwise" if depthwise else "conv"
    return Layer(index, node.name, node.op.value, kind, src, dst, consts, layer.types, layer.arrays)


def _window(
    in_hw: tuple[int, ...],
    out: tuple[int, ...],
    k: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    pads: tuple[int, ...],
) -> dict[str, int]:
    """Line-buffer geometry of the io_stream Conv / Pool kernels (height first).

    The window spans `win` rows and columns (dilation included); the kernel walks a `grid` of
    the padded input large enough to read every input pixel and to end every output window;
    `line_rows` rows of `grid_width` pixels are kept (at least 1: C++ has no empty arrays).
    """
    win = [(k[i] - 1) * dilations[i] + 1 for i in range(2)]
    grid = [max(pads[i] + in_hw[i], (out[i] - 1) * strides[i] + win[i]) for i in range(2)]
    return {
        "win_height": win[0],
        "win_width": win[1],
        "grid_height": grid[0],
        "grid_width": grid[1],
        "line_rows": max(win[0] - 1, 1),
    }


def _dense(
    index: int,
    node: Node,
    src: Tensor,
    dst: Tensor,
    base: dict[str, str],
    name: str,
    kernel: FloatArray | None = None,
) -> Layer:
    tw, tb, ta = need(node, "weight"), need(node, "bias"), need(node, "accum")
    if kernel is None:
        kernel = weight(node, "kernel")
        if src.size != kernel.shape[0]:
            msg = f"Dense {node.name!r} on a {src.shape} tensor: the HLS writer needs a flat input"
            raise HlsError(msg)
    n_in, n_out = kernel.shape
    reuse = int(node.attrs.get("reuse_factor", 1))
    strategy = str(node.attrs.get("strategy", "Latency")).lower()
    mults = n_in * n_out
    consts = {
        **base,
        "reuse_factor": str(reuse),
        "strategy": "hepinfer::resource" if strategy == "resource" else "hepinfer::latency",
        "multiplier_limit": str(math.ceil(mults / reuse)),
        "n_weights": str(mults),
    }
    w = exact_values(tw, tw.to_mantissa(kernel))
    b = exact_values(tb, tb.to_mantissa(weight(node, "bias")))
    return Layer(
        index,
        node.name,
        node.op.value,
        "dense",
        src,
        dst,
        consts,
        {"weight_t": c_type(tw), "bias_t": c_type(tb), "accum_t": c_type(ta)},
        (Array(f"w{index}", f"{name}_weight_t", w), Array(f"b{index}", f"{name}_bias_t", b)),
    )


def _lut(
    index: int, node: Node, src: Tensor, dst: Tensor, base: dict[str, str], name: str
) -> Layer:
    from hepinfer.ops import sigmoid, tanh

    fns = {Op.SIGMOID: sigmoid._sigmoid32, Op.TANH: tanh._tanh32}
    span = _LUT_SPAN[node.op]
    size = int(node.attrs.get("table_size", lut.DEFAULT_TABLE_SIZE))
    table_t = lut.table_type(node)
    table = lut.build_table(fns[node.op], size, span, table_t)
    scale = size / span
    exact = scale * 256 == round(scale * 256)
    _need_exact(src.fixed, f"the input of {node.name!r}")
    consts = {
        **base,
        "table_size": str(size),
        "exact_scale": "true" if exact else "false",
        "scale256": str(round(scale * 256)) if exact else "0",
        "scale": repr(float(scale)),
        "data_frac": str(src.fixed.frac),
    }
    arrays = (Array(f"table{index}", f"{name}_table_t", exact_values(table_t, table)),)
    return Layer(
        index,
        node.name,
        node.op.value,
        "lut",
        src,
        dst,
        consts,
        {"table_t": c_type(table_t)},
        arrays,
    )


def _softmax(
    index: int, node: Node, src: Tensor, dst: Tensor, base: dict[str, str], name: str
) -> Layer:
    impl = str(node.attrs.get("implementation", "stable"))
    x = src.fixed
    _need_exact(x, f"the input of {node.name!r}")
    table, accum, inv_inp = softmax.types(node, x)
    if impl == "argmax":
        consts = {**base, "implementation": "hepinfer::softmax_argmax"}
        for key in ("exp_size", "inv_size", "exp_src_width", "exp_src_frac", "exp_bits"):
            consts[key] = "1"
        for key in ("inv_src_width", "inv_src_frac", "inv_bits"):
            consts[key] = "1"
        types = {"table_t": c_type(table), "accum_t": c_type(accum), "inv_in_t": c_type(table)}
        types |= {"norm_t": c_type(x), "wide_t": c_type(FixedType(64, 64 - accum.frac))}
        one = np.zeros(1)
        arrays = (
            Array(f"exp{index}", f"{name}_table_t", one),
            Array(f"inv{index}", f"{name}_table_t", one),
        )
        return Layer(index, node.name, node.op.value, "softmax", src, dst, consts, types, arrays)
    if impl == "stable":
        in_bits = x.width - int(x.signed)
        data_t = FixedType(in_bits, x.integer - int(x.signed), signed=False)
        size_exp = softmax._table_size(node, table)
        if x.signed:
            size_exp = min(size_exp, 1 << in_bits)
        negative = True
    elif impl == "latency":
        data_t = x
        size_exp = softmax._table_size(node, table, x)
        negative = False
    else:
        msg = f"Softmax {node.name!r}: implementation {impl!r} is not one of {softmax.IMPLEMENTATIONS}"
        raise HlsError(msg)
    size_inv = softmax._table_size(node, table, x)
    exp_tab, _ = softmax._exp_inv_tables(node, data_t, table, inv_inp, negative, size_exp)
    _, inv_tab = softmax._exp_inv_tables(node, inv_inp, table, inv_inp, negative, size_inv)
    _need_exact(inv_inp, f"the exponent sum of {node.name!r}")
    consts = {
        **base,
        "implementation": f"hepinfer::softmax_{impl}",
        "exp_size": str(size_exp),
        "inv_size": str(size_inv),
        "exp_src_width": str(data_t.width),
        "exp_src_frac": str(data_t.frac),
        "exp_bits": str(size_exp.bit_length() - 1),
        "inv_src_width": str(inv_inp.width),
        "inv_src_frac": str(inv_inp.frac),
        "inv_bits": str(size_inv.bit_length() - 1),
    }
    types = {
        "table_t": c_type(table),
        "accum_t": c_type(accum),
        "inv_in_t": c_type(inv_inp),
        "norm_t": c_type(data_t),
        "wide_t": c_type(FixedType(64, 64 - accum.frac)),
    }
    arrays = (
        Array(f"exp{index}", f"{name}_table_t", exact_values(table, exp_tab)),
        Array(f"inv{index}", f"{name}_table_t", exact_values(table, inv_tab)),
    )
    return Layer(index, node.name, node.op.value, "softmax", src, dst, consts, types, arrays)


def _elementwise(
    index: int, node: Node, kernel: str, src: Tensor, dst: Tensor, base: dict[str, str], name: str
) -> Layer:
    """BatchNormalization, LeakyReLU, HardSigmoid, ELU: weights (and ELU's table)."""
    from hepinfer.ops import elu, hard_sigmoid, leaky_relu

    tw = need(node, "weight")
    types = {"weight_t": c_type(tw)}
    consts = dict(base)
    arrays: tuple[Array, ...]
    if kernel == "normalize":
        tb = need(node, "bias")
        types["bias_t"] = c_type(tb)
        consts |= {
            "n_chan": str(src.shape[-1]),
            "reuse_factor": str(node.attrs.get("reuse_factor", 1)),
        }
        scale, bias = weight(node, "scale"), weight(node, "bias")
        arrays = (
            Array(f"s{index}", f"{name}_weight_t", exact_values(tw, tw.to_mantissa(scale))),
            Array(f"b{index}", f"{name}_bias_t", exact_values(tb, tb.to_mantissa(bias))),
        )
    elif kernel == "leaky_relu":
        alpha = tw.to_mantissa(np.array([leaky_relu._alpha(node)]))
        arrays = (Array(f"a{index}", f"{name}_weight_t", exact_values(tw, alpha)),)
    elif kernel == "hard_sigmoid":
        p = tw.to_mantissa(np.array(hard_sigmoid._params(node)))
        arrays = (Array(f"p{index}", f"{name}_weight_t", exact_values(tw, p)),)
    else:
        _need_exact(src.fixed, f"the input of {node.name!r}")
        tt = lut.table_type(node)
        size = int(node.attrs.get("table_size", lut.DEFAULT_TABLE_SIZE))
        i = np.arange(size, dtype=np.float32)
        values = (np.exp(np.float32(-8.0) * i / np.float32(size)) - np.float32(1.0)).astype(
            np.float64
        )
        alpha = tw.to_mantissa(np.array([elu._alpha(node)]))
        types["table_t"] = c_type(tt)
        consts |= {"table_size": str(size), "data_frac": str(src.fixed.frac)}
        arrays = (
            Array(f"a{index}", f"{name}_weight_t", exact_values(tw, alpha)),
            Array(f"table{index}", f"{name}_table_t", exact_values(tt, tt.to_mantissa(values))),
        )
    return Layer(index, node.name, node.op.value, kernel, src, dst, consts, types, arrays)


def _pool(index: int, node: Node, src: Tensor, dst: Tensor) -> Layer:
    """Max / average pooling, 1D and 2D, local or global."""
    rank = len(src.shape) - 1
    if rank not in (1, 2):
        msg = f"{node.op.value} {node.name!r} on a {src.shape} tensor: expected (w, c) or (h, w, c)"
        raise HlsError(msg)
    spatial = src.shape[:-1]
    if node.op in (Op.GLOBAL_MAXPOOL, Op.GLOBAL_AVGPOOL):
        k, strides, pads, out = spatial, (1,) * rank, (0,) * (2 * rank), (1,) * rank
    else:
        k = tuple(int(v) for v in pooling.window(node, rank))
        strides, _, pads, out = geometry(node, spatial, k)
    if rank == 1:
        spatial, k, strides, out = (1, *spatial), (1, *k), (1, *strides), (1, *out)
        pads = (0, pads[0], 0, pads[1])
    x = src.fixed
    _need_exact(x, f"the input of {node.name!r}")
    is_max = node.op in (Op.MAXPOOL, Op.GLOBAL_MAXPOOL)
    accum = node.precision.accum
    if not is_max:
        accum = need(node, "accum")
        _need_exact(accum, f"the accumulator of {node.name!r}")
    ta = accum or x
    consts = {
        "n_in": str(src.size),
        "n_out": str(dst.size),
        "in_height": str(spatial[0]),
        "in_width": str(spatial[1]),
        "n_chan": str(src.shape[-1]),
        "out_height": str(out[0]),
        "out_width": str(out[1]),
        "pool_height": str(k[0]),
        "pool_width": str(k[1]),
        "stride_height": str(strides[0]),
        "stride_width": str(strides[1]),
        "pad_top": str(pads[0]),
        "pad_left": str(pads[1]),
        **{key: str(v) for key, v in _window(spatial, out, k, strides, (1, 1), pads).items()},
        "reuse_factor": str(node.attrs.get("reuse_factor", 1)),
        "op": "hepinfer::pool_max" if is_max else "hepinfer::pool_average",
        "has_accum": "true" if accum is not None else "false",
        "count_pad": "true" if node.attrs.get("count_pad", False) else "false",
        "accum_frac": str(ta.frac),
        "data_min": repr(float(x.min)),
    }
    types = {"accum_t": c_type(ta), "wide_t": c_type(FixedType(64, 64 - ta.frac))}
    return Layer(index, node.name, node.op.value, "pool", src, dst, consts, types)


def _merge(index: int, node: Node, kernel: str, inputs: list[Tensor], dst: Tensor) -> Layer:
    """Add and Multiply of two tensors; Concatenate of two or more along the node's axis.

    Concatenate (the emulator's semantics: per-sample axis, default the last): the output is
    `outer` blocks of `block` values; input k fills `in_block<k>` values at `offset<k>` of each.
    """
    a = inputs[0]
    consts = {"n_in": str(a.size), "n_out": str(dst.size)}
    if kernel == "concatenate":
        rank = len(a.shape)
        axis = int(node.attrs.get("axis", -1))
        axis = axis + rank if axis < 0 else axis
        inner = int(np.prod(a.shape[axis + 1 :], dtype=np.int64))
        blocks = [t.shape[axis] * inner for t in inputs]
        consts |= {
            "n_inputs": str(len(inputs)),
            "axis": str(axis),
            "outer": str(int(np.prod(a.shape[:axis], dtype=np.int64))),
            "block": str(sum(blocks)),
        }
        for k, block in enumerate(blocks):
            consts |= {f"in_block{k}": str(block), f"offset{k}": str(sum(blocks[:k]))}
    return Layer(index, node.name, node.op.value, kernel, a, dst, consts, others=tuple(inputs[1:]))


def _transpose(index: int, node: Node, src: Tensor, dst: Tensor, base: dict[str, str]) -> Layer:
    """Permutation of up to three per-sample axes."""
    perm = [int(p) for p in node.attrs["perm"]]
    if len(perm) > 3:
        msg = f"Transpose {node.name!r} permutes {len(perm)} axes; the HLS writer handles up to 3"
        raise HlsError(msg)
    lead = 3 - len(perm)
    dims = [1] * lead + list(src.shape)
    full = list(range(lead)) + [p + lead for p in perm]
    consts = dict(base)
    consts |= {f"d{i}": str(d) for i, d in enumerate(dims)}
    consts |= {f"perm{i}": str(p) for i, p in enumerate(full)}
    return Layer(index, node.name, node.op.value, "transpose", src, dst, consts)
