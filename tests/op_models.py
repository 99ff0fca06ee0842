"""Small graphs of every operator (single ops and short chains), random weights and attributes.

Shared by the type-inference, value-range, HLS-hook and coverage tests. `single(op, rng)`
gives a graph whose output is one `op` node fed by fresh inputs (plus what the op needs in
front of it); `chain(ops, rng)` strings element-wise-compatible ops one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op

Rng = np.random.Generator


def _weights(rng: Rng, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Random weights on a 2**-5 grid (so weight types hold them exactly or nearly)."""
    return np.round(rng.normal(size=shape) * scale * 32) / 32


def _conv(b: GraphBuilder, src: str, rng: Rng, rank: int, depthwise: bool = False) -> str:
    c_in = b.shape(src)[-1]
    spatial = b.shape(src)[:rank]
    k = tuple(min(int(v), spatial[i]) for i, v in enumerate(rng.integers(1, 4, size=rank)))
    c_out = 1 if depthwise else int(rng.integers(1, 4))
    kernel = _weights(rng, (*k, c_in, c_out), float(rng.choice([0.25, 1.0, 3.0])))
    bias = _weights(rng, (c_in if depthwise else c_out,), 1.0)
    pads = tuple(int(v) for v in rng.integers(0, 2, size=2 * rank))
    strides = tuple(int(v) for v in rng.integers(1, 3, size=rank))
    if depthwise:
        op = Op.DEPTHWISE_CONV1D if rank == 1 else Op.DEPTHWISE_CONV2D
    else:
        op = Op.CONV1D if rank == 1 else Op.CONV2D
    attrs = {"pads": pads, "strides": strides}
    return b.add("conv", op, [src], attrs, {"kernel": kernel, "bias": bias})


def _conv_transpose(b: GraphBuilder, src: str, rng: Rng) -> str:
    """A ConvTranspose of every spatial axis: random kernel, stride, pads, output padding."""
    c_in = b.shape(src)[-1]
    rank = len(b.shape(src)) - 1
    k = tuple(int(v) for v in rng.integers(1, 4, size=rank))
    strides = tuple(int(v) for v in rng.integers(1, 3, size=rank))
    pads = tuple(int(rng.integers(0, k[i % rank])) for i in range(2 * rank))
    extra = tuple(int(rng.integers(0, s)) for s in strides)
    # the pads may not remove every output position: (n - 1) s + k + extra - pads >= 1
    spatial, cut = b.shape(src)[:-1], list(pads)
    for a in range(rank):
        over = cut[a] + cut[a + rank] - ((spatial[a] - 1) * strides[a] + k[a] + extra[a] - 1)
        for i in (a + rank, a):
            take = min(max(over, 0), cut[i])
            cut[i], over = cut[i] - take, over - take
    pads = tuple(cut)
    c_out = int(rng.integers(1, 4))
    weights = {
        "kernel": _weights(rng, (*k, c_in, c_out), float(rng.choice([0.25, 1.0, 3.0]))),
        "bias": _weights(rng, (c_out,), 1.0),
    }
    attrs = {"strides": strides, "pads": pads, "output_padding": extra}
    return b.add("convtranspose", Op.CONV_TRANSPOSE, [src], attrs, weights)


def _pool(b: GraphBuilder, src: str, rng: Rng, op: Op) -> str:
    rank = len(b.shape(src)) - 1
    if op in (Op.GLOBAL_MAXPOOL, Op.GLOBAL_AVGPOOL):
        return b.add("pool", op, [src])
    spatial = b.shape(src)[:rank]
    pool = tuple(min(int(v), spatial[i]) for i, v in enumerate(rng.integers(1, 3, size=rank)))
    pads = tuple(int(v) for v in rng.integers(0, 2, size=2 * rank))
    pads = tuple(min(p, pool[i % rank] - 1) for i, p in enumerate(pads))
    attrs: dict[str, Any] = {"pool": pool, "strides": pool, "pads": pads}
    if op is Op.AVGPOOL:
        attrs["count_pad"] = bool(rng.integers(0, 2))
    return b.add("pool", op, [src], attrs)


def _quant(rng: Rng) -> dict[str, Any]:
    bits = int(rng.integers(3, 10))
    return {
        "bitwidth": bits,
        "signed": bool(rng.integers(0, 2)),
        "narrow": bool(rng.integers(0, 2)),
        "scale": 2.0 ** int(rng.integers(-5, 1)),
        "zeropt": 0.0,
        "rounding_mode": str(rng.choice(["ROUND", "FLOOR"])),
    }


#: recurrent layers (by value: each reads a sequence (n_timesteps, n_in)) and their gates
RECURRENT = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _recurrent(b: GraphBuilder, op: Op, src: str, rng: Rng) -> str:
    seq = src if len(b.shape(src)) == 2 else b.add("seq", Op.RESHAPE, [src], {"shape": (-1, 1)})
    n_in, n = b.shape(seq)[-1], int(rng.integers(1, 4))
    g = RECURRENT[op.value] * n
    weights = {
        "kernel": _weights(rng, (n_in, g), 0.5),
        "recurrent_kernel": _weights(rng, (n, g), 0.5),
        "bias": _weights(rng, (g,), 0.5),
        "recurrent_bias": _weights(rng, (g,), 0.5),
    }
    attrs: dict[str, Any] = {"units": n, "return_sequences": bool(rng.integers(0, 2))}
    if op.value == "GRU":
        attrs["reset_after"] = bool(rng.integers(0, 2))
    return b.add(op.value.lower(), op, [seq], attrs, weights)


def _resample(b: GraphBuilder, op: Op, src: str, rng: Rng) -> str:
    """ZeroPadding, Cropping or UpSampling of every spatial axis of a channels-last `src`."""
    spatial = b.shape(src)[:-1]
    if op is Op.UPSAMPLING:
        scale = tuple(int(v) for v in rng.integers(1, 4, size=len(spatial)))
        return b.add("upsampling", op, [src], {"scale": scale})
    if op is Op.CROPPING:
        begin = [int(rng.integers(0, n)) for n in spatial]
        end = [int(rng.integers(0, n - c)) for n, c in zip(spatial, begin, strict=True)]
        return b.add("cropping", op, [src], {"crops": (*begin, *end)})
    pads = tuple(int(v) for v in rng.integers(0, 3, size=2 * len(spatial)))
    return b.add("zeropadding", op, [src], {"pads": pads})


def apply_op(b: GraphBuilder, op: Op, src: str, rng: Rng) -> str:
    """Append one `op` node reading `src` (and, for merges, a second branch of `src`)."""
    shape = b.shape(src)
    if op is Op.DENSE:
        flat = b.add("flat", Op.FLATTEN, [src]) if len(shape) > 1 else src
        n_in, n_out = b.shape(flat)[0], int(rng.integers(1, 6))
        scale = float(rng.choice([0.25, 1.0, 3.0]))
        weights = {
            "kernel": _weights(rng, (n_in, n_out), scale),
            "bias": _weights(rng, (n_out,), 1),
        }
        return b.add("dense", op, [flat], weights=weights)
    if op in (Op.CONV1D, Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.DEPTHWISE_CONV1D):
        rank = 1 if op in (Op.CONV1D, Op.DEPTHWISE_CONV1D) else 2
        return _conv(b, src, rng, rank, op in (Op.DEPTHWISE_CONV2D, Op.DEPTHWISE_CONV1D))
    if op in (Op.MAXPOOL, Op.AVGPOOL, Op.GLOBAL_MAXPOOL, Op.GLOBAL_AVGPOOL):
        return _pool(b, src, rng, op)
    if op is Op.CONV_TRANSPOSE:
        return _conv_transpose(b, src, rng)
    if op is Op.BATCHNORM:
        c = shape[-1]
        w = {"scale": _weights(rng, (c,), 2.0), "bias": _weights(rng, (c,), 1.0)}
        return b.add("bn", op, [src], weights=w)
    if op in (Op.ADD, Op.MULTIPLY, Op.CONCAT, Op.SUBTRACT, Op.AVERAGE, Op.MAXIMUM, Op.MINIMUM):
        other = b.add("branch", Op.RELU if rng.integers(0, 2) else Op.LINEAR, [src])
        attrs = {"axis": int(rng.integers(-len(shape), len(shape)))} if op is Op.CONCAT else {}
        pair = [src, other] if rng.integers(0, 2) else [other, src]
        return b.add(op.value.lower(), op, pair, attrs)
    if op is Op.FLATTEN:
        return b.add("flatten", op, [src])
    if op is Op.RESHAPE:
        return b.add("reshape", op, [src], {"shape": (-1, shape[-1])})
    if op is Op.TRANSPOSE:
        perm = tuple(int(p) for p in rng.permutation(len(shape)))
        return b.add("transpose", op, [src], {"perm": perm})
    if op is Op.QUANT:
        return b.add("quant", op, [src], _quant(rng))
    if op is Op.PRELU:
        return b.add("prelu", op, [src], weights={"alpha": _weights(rng, shape, 0.5)})
    if op.value in RECURRENT:
        return _recurrent(b, op, src, rng)
    if op is Op.MULTITHRESHOLD:
        thr = np.sort(_weights(rng, (shape[-1], int(rng.integers(1, 5))), 1.0), axis=1)
        attrs = {"out_scale": float(rng.choice([0.5, 1.0])), "out_bias": -0.5}
        return b.add("mt", op, [src], attrs, {"thresholds": thr})
    if op in (Op.ZERO_PADDING, Op.CROPPING, Op.UPSAMPLING):
        return _resample(b, op, src, rng)
    if op is Op.DOT:
        flat = b.add("flat", Op.FLATTEN, [src]) if len(shape) > 1 else src
        other = b.add("branch", Op.RELU if rng.integers(0, 2) else Op.LINEAR, [flat])
        return b.add("dot", op, [flat, other])
    if op is Op.EMBEDDING:
        table = _weights(rng, (int(rng.integers(1, 6)), int(rng.integers(1, 4))), 1.0)
        return b.add("embedding", op, [src], weights={"embeddings": table})
    if op is Op.EINSUM_DENSE:  # a Dense per inplace group over the last axis
        from hepinfer.ops.einsum_dense import node_data

        seq = b.add("seq", Op.RESHAPE, [src], {"shape": (1, -1)}) if len(shape) == 1 else src
        n, c, d = b.shape(seq)[0], b.shape(seq)[-1], int(rng.integers(1, 4))
        kernel, bias = _weights(rng, (n, c, d), 1.0), _weights(rng, (d,), 1.0)
        attrs, w = node_data("bc,bcd->bd", (n, c), kernel, bias)
        return b.add("einsum", op, [seq], attrs, w)
    if op is Op.EINSUM:  # two computed operands: a contraction, or a product kept per axis
        from hepinfer.ops.einsum import node_attrs

        seq = b.add("seq", Op.RESHAPE, [src], {"shape": (1, -1)}) if len(shape) == 1 else src
        other = b.add("branch", Op.RELU if rng.integers(0, 2) else Op.LINEAR, [seq])
        eq = str(rng.choice(["ic,jc->ij", "ic,ic->ci"]))
        return b.add("einsum2", op, [seq, other], node_attrs(eq, b.shape(seq), b.shape(other)))
    if op is Op.LAYERNORM:
        c = shape[-1]
        w = {"scale": _weights(rng, (c,), 2.0), "bias": _weights(rng, (c,), 1.0)}
        return b.add("layernorm", op, [src], {"epsilon": 1e-3}, w)
    if op in (Op.GARNET, Op.GARNET_STACK):
        return _garnet(b, op, src, rng)
    if op is Op.FIXED_POINT_QUANTIZER:  # one saturating type per tensor (per-element types,
        # wrapping and pruned elements: tests/ops/test_fixed_point_quantizer.py)
        k, i, f = int(rng.integers(0, 2)), int(rng.integers(0, 4)), int(rng.integers(1, 6))
        w = {"k": np.full(shape, k), "i": np.full(shape, i), "f": np.full(shape, f)}
        modes = {
            "round": str(rng.choice(["TRN", "RND"])),
            "overflow": str(rng.choice(["SAT", "SAT_SYM"])),
        }
        return b.add("fpq", op, [src], modes, w)
    if op is Op.UNARY_LUT:  # a table on every value of a 1 + 2 + f bit input
        frac = int(rng.integers(1, 4))
        fq = {"k": np.ones(shape), "i": np.full(shape, 2), "f": np.full(shape, frac)}
        q = b.add(
            "lut_iq", Op.FIXED_POINT_QUANTIZER, [src], {"round": "RND", "overflow": "WRAP"}, fq
        )
        table = np.round(rng.normal(0.0, 1.0, 2 ** (3 + frac)) * 32) / 32
        return b.add("unary_lut", op, [q], {"index_frac": frac}, {"table": table})

    if op is Op.BIT_EXACT_SOFTMAX:  # HGQ2's table types, over one axis or several adjacent
        rank = len(shape)
        axes = (-1,) if rank == 1 or rng.integers(0, 2) else tuple(range(rank - 2, rank))
        attrs = {
            "axes": axes,
            "exp_scale": float(rng.choice([1.0, 0.5773502691896258])),
            "norm_t": f"ufixed<{int(rng.integers(4, 9))},3,RND,SAT>",
            "exp_table_t": f"ufixed<{int(rng.integers(5, 9))},1,RND_CONV,SAT>",
            "inv_in_t": f"fixed<{int(rng.integers(6, 10))},{int(rng.integers(2, 5))},RND>",
            "inv_table_t": f"ufixed<{int(rng.integers(5, 9))},1,RND_CONV,SAT>",
        }
        return b.add("bes", op, [src], attrs)
    if op is Op.SOFTMAX:
        impl = str(rng.choice(["stable", "latency", "argmax"]))
        return b.add("softmax", op, [src], {"implementation": impl})
    attrs = {
        Op.LEAKY_RELU: {"alpha": float(rng.choice([0.1, 0.3, 1.5]))},
        Op.ELU: {"alpha": float(rng.choice([0.5, 1.0, 2.0]))},
        Op.HARD_SIGMOID: {"slope": float(rng.choice([0.2, 0.5])), "shift": 0.5},
        Op.THRESHOLDED_RELU: {"theta": float(rng.choice([-0.5, 0.0, 0.75, 2.0]))},
        Op.CLIP: {
            "min": [None, -0.5, 0.0][int(rng.integers(0, 3))],
            "max": [None, 0.75, 2.0][int(rng.integers(0, 3))],
        },
    }.get(op, {})
    return b.add(op.value.lower(), op, [src], attrs)


#: per-sample input shape each op works on
def _garnet(b: GraphBuilder, op: Op, src: str, rng: Rng) -> str:
    """GarNet (or a stack of two) over the (V, F) input, with a vertex-count input."""
    count = b.input("n", (1,))
    f_in = b.shape(src)[-1]
    stack = op is Op.GARNET_STACK
    weights = {}
    for suffix in ("0", "1") if stack else ("",):
        a, p, o = (int(v) for v in rng.integers(1, 4, size=3))
        for part, shape in (("FLR", (f_in, p)), ("S", (f_in, a)), ("Fout", (a * p, o))):
            weights[f"{part}{suffix}_kernel"] = _weights(rng, shape, 1.0)
            weights[f"{part}{suffix}_bias"] = _weights(rng, shape[1:], 1.0)
        f_in = o
    attrs: dict[str, Any] = {
        "n_vertices": b.shape(src)[0],
        "collapse": "mean" if stack or rng.integers(0, 2) else "none",
    }
    if stack:
        attrs["n_sublayers"] = 2
    return b.add("garnet", op, [src, count], attrs, weights)


def input_shape(op: Op, rng: Rng) -> tuple[int, ...]:
    if op in (Op.CONV1D, Op.DEPTHWISE_CONV1D):
        return (int(rng.integers(3, 7)), int(rng.integers(1, 4)))
    if op in (Op.CONV2D, Op.DEPTHWISE_CONV2D, Op.TRANSPOSE, Op.ZERO_PADDING, Op.CROPPING):
        return (int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(1, 4)))
    if op in (
        Op.MAXPOOL,
        Op.AVGPOOL,
        Op.GLOBAL_MAXPOOL,
        Op.GLOBAL_AVGPOOL,
        Op.UPSAMPLING,
        Op.CONV_TRANSPOSE,
    ):
        rank = int(rng.integers(1, 3))
        return (*(int(v) for v in rng.integers(2, 5, size=rank)), int(rng.integers(1, 3)))
    if op in (Op.GARNET, Op.GARNET_STACK):
        return (int(rng.choice([2, 4])), int(rng.integers(1, 4)))
    if op in (Op.RESHAPE, Op.CONCAT) or op.value in RECURRENT:
        return (int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    return (int(rng.integers(1, 7)),)


#: every operator but the graph input
OPS: tuple[Op, ...] = tuple(op for op in Op if op is not Op.INPUT)


def single(op: Op, rng: Rng) -> Graph:
    """A graph computing one `op` on a fresh input (Dense flattens first)."""
    b = GraphBuilder(f"single_{op.value}")
    x = b.input("x", input_shape(op, rng))
    return b.build([apply_op(b, op, x, rng)])


#: ops that keep any input shape (usable anywhere in a chain)
ANY_SHAPE = (
    Op.DENSE,
    Op.BATCHNORM,
    Op.LINEAR,
    Op.RELU,
    Op.LEAKY_RELU,
    Op.ELU,
    Op.SIGMOID,
    Op.SOFTPLUS,
    Op.SOFTSIGN,
    Op.SELU,
    Op.THRESHOLDED_RELU,
    Op.PRELU,
    Op.TANH,
    Op.HARD_SIGMOID,
    Op.SOFTMAX,
    Op.ADD,
    Op.MULTIPLY,
    Op.SUBTRACT,
    Op.AVERAGE,
    Op.MAXIMUM,
    Op.MINIMUM,
    Op.CONCAT,
    Op.FLATTEN,
    Op.QUANT,
    Op.CLIP,
    Op.LAYERNORM,
)


def chain(first: Op, rest: Sequence[Op], rng: Rng) -> Graph:
    """`first` on a fresh input, then each of `rest` (ops that take any shape) in turn."""
    b = GraphBuilder(f"chain_{first.value}")
    x = b.input("x", input_shape(first, rng))
    y = apply_op(b, first, x, rng)
    for op in rest:
        y = apply_op(b, op, y, rng)
    return b.build([y])


def uniform_inputs(graph: Graph, rng: Rng, n: int = 64) -> dict[str, np.ndarray]:
    """Inputs drawn anywhere inside each input node's type (configured graphs)."""
    out = {}
    for node in graph.inputs:
        t = node.out.fixed
        assert t is not None
        out[node.name] = rng.uniform(t.min, t.max, size=(n, *node.out.shape))
    return out


Builder = Callable[[Rng], Graph]
