"""Native programs: a linear run of graph nodes bound once into the native kernel.

A program is what `hepinfer.emulate.plan` runs for every run of nodes in which each node
reads only the previous one and has a native step: the input cast (float64 to the input
type), Dense (with a fused ReLU / Linear), ReLU and Linear casts, Softmax (`stable` and
`latency`, hls4ml's tables), HGQ2's per-element FixedPointQuantizer and table (UnaryLUT) and Flatten (nothing to do: the values are already row-major).
`build` turns the nodes into descriptor rows, weights and tables once; the C++ side
(`native_dense.cpp`, `hepinfer_program_*`) copies them, so a call is one ctypes call for the
whole run with no per-call decision left. The bits are those of the ops' numpy kernels
(tested on random types of every quantisation and overflow mode); a node whose types the
kernel cannot hold exactly ends the run (it then runs in numpy).
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepinfer.emulate import native
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import IntArray, product_type
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import conv, optional, softmax, unary_lut
from hepinfer.ops import fixed_point_quantizer as fpq
from hepinfer.ops.base import need, weight
from hepinfer.ops.dense import mantissas

FIELDS = 40  # descriptor fields per step (PROGRAM_FIELDS in native_dense.cpp)
K_DENSE, K_CAST, K_SOFTMAX, K_CONV, K_LUT, K_SCALE, K_QUANT, K_TABLE = 1, 2, 3, 4, 5, 6, 7, 8
_EMPTY = np.zeros(1, dtype=np.int64)
SMALL = 8  # batches up to this size run through preallocated buffers


@dataclass(frozen=True)
class Step:
    """One native step: its descriptor row, its two arrays, and what it outputs."""

    row: tuple[int, ...]
    a: IntArray
    b: IntArray
    n_out: int
    t: FixedType  # the output's type
    layer: native.Layer | None = None  # a Dense / Conv step's layer (a cast may fuse in)
    geometry: tuple[int, ...] = ()  # a Conv step's window geometry
    fused: bool = False  # this step replaces the previous one (a cast fused into it)


def _size(node: Node) -> int:
    return math.prod(node.out.shape)


def _row(kind: int, n_in: int, n_out: int, fields: Sequence[int]) -> tuple[int, ...]:
    row = [kind, n_in, n_out, *fields]
    return tuple(row + [0] * (FIELDS - len(row)))


def _layer_row(
    layer: native.Layer, n_in: int, n_out: int, geometry: tuple[int, ...]
) -> tuple[int, ...] | None:
    fields = native.describe(layer)
    if fields is None:
        return None
    return _row(K_CONV if geometry else K_DENSE, n_in, n_out, [*fields, *geometry])


def _conv(node: Node, tx: FixedType, in_shape: tuple[int, ...]) -> Step | None:
    """A Conv1D / Conv2D (channels last) as im2col patches through the Dense kernel."""
    kernel = node.weights["kernel"]
    rank = kernel.ndim - 2
    shape = node.out.shape  # (*out, c_out)
    n_in = math.prod(in_shape)
    strides, dilations, pads, out = conv.geometry(node, in_shape[:rank], kernel.shape[:rank])
    if rank == 1:  # a Conv2D of height 1
        in_shape, k = (1, *in_shape), (1, kernel.shape[0])
        strides, dilations, out = (1, *strides), (1, *dilations), (1, *out)
        pads = (0, pads[0], 0, pads[1])
    else:
        k = kernel.shape[:2]
    geometry = (
        *in_shape,
        *k,
        *strides,
        *dilations,
        pads[0],
        pads[1],
        *out,
    )
    wm, bias = mantissas(node)
    wm = wm.reshape(-1, kernel.shape[-1])
    tr = need(node, "result")
    layer = native.Layer(wm, bias, tx, need(node, "weight"), need(node, "accum"), tr)
    row = _layer_row(layer, n_in, math.prod(shape), geometry)
    if row is None:
        return None
    w = np.ascontiguousarray(wm, dtype=np.int64)
    b = np.ascontiguousarray(bias, dtype=np.int64)
    return Step(row, w, b, math.prod(shape), tr, layer, geometry)


def _cast(node: Node, tx: FixedType, n: int, relu: bool) -> Step | None:
    if node.op is Op.QUANT:  # a QONNX Quant: a cast to its own type
        from hepinfer.ops.quant import fixed_type

        tr = fixed_type(node.attrs)
    else:
        tr = need(node, "result")
    if tx.width > 62 or not native.cast_ok(tx, tr):
        return None
    row = _row(K_CAST, n, n, [int(relu), tx.frac - tr.frac, *native.type_row(tr)])
    return Step(row, _EMPTY, _EMPTY, n, tr)


def _index_ok(t: FixedType) -> bool:
    return t.width <= 62 and not t.sat_bits


def _softmax(node: Node, tx: FixedType) -> Step | None:
    """The stable / latency kernel of `hepinfer.ops.softmax.run_fixed` as one step."""
    impl = str(node.attrs.get("implementation", "stable"))
    if len(node.out.shape) != 1 or impl not in ("stable", "latency") or tx.width > 62:
        return None
    n = node.out.shape[0]
    tr = need(node, "result")
    table, accum, inv_inp = softmax.types(node, tx)
    if impl == "stable":
        in_bits = tx.width - int(tx.signed)
        data_t = FixedType(in_bits, tx.integer - int(tx.signed), signed=False)
        size_exp = softmax._table_size(node, table)
        if tx.signed:
            size_exp = min(size_exp, 1 << in_bits)
        if not native.cast_ok(FixedType(tx.width + 1, tx.integer + 1, True), data_t):
            return None
    else:
        data_t, size_exp = tx, softmax._table_size(node, table, tx)
    size_inv = softmax._table_size(node, table, tx)
    stable = impl == "stable"
    prod = product_type(accum, table)
    total = accum.width + max(n - 1, 1).bit_length()  # the exact sum's bits
    checks = (
        native.cast_ok(table, accum),
        native.cast_ok(accum, inv_inp),
        native.cast_ok(prod, tr),
        total <= 62,
        all(_index_ok(t) for t in (data_t, inv_inp, accum, tr)),
    )
    if not all(checks):
        return None
    exp_tab, _ = softmax.exp_inv_tables(node, data_t, table, inv_inp, stable, size_exp)
    _, inv_tab = softmax.exp_inv_tables(node, inv_inp, table, inv_inp, stable, size_inv)
    fields = [
        n,
        int(stable),
        tx.frac - data_t.frac,
        *native.type_row(data_t),
        data_t.width,
        size_exp.bit_length() - 1,
        table.frac - accum.frac,
        *native.type_row(accum),
        accum.frac - inv_inp.frac,
        *native.type_row(inv_inp),
        inv_inp.width,
        size_inv.bit_length() - 1,
        prod.frac - tr.frac,
        *native.type_row(tr),
        size_exp,
        size_inv,
    ]
    a = np.ascontiguousarray(exp_tab, dtype=np.int64)
    b = np.ascontiguousarray(inv_tab, dtype=np.int64)
    return Step(_row(K_SOFTMAX, n, n, fields), a, b, n, tr)


def _lut(node: Node, tx: FixedType, n: int) -> Step | None:
    """A table activation: its module's `native_lut` (index arithmetic and the table cast
    to the result type, from the op's own table function).
    """
    hook = optional(node.op, "native_lut")
    if hook is None:
        return None
    tr = need(node, "result")
    if not _index_ok(tr):
        return None
    found = hook(node, tx)
    if found is None:
        return None
    num, down, size, rom = found
    row = _row(K_LUT, n, n, [num, down, size])
    return Step(row, np.ascontiguousarray(rom, dtype=np.int64), _EMPTY, n, tr)


def _scale_shift(node: Node, tx: FixedType, n: int) -> Step | None:
    """BatchNormalization as `hepinfer.ops.batchnorm.run_fixed` computes it: the exact
    `x * scale` (scale in `weight_t`) and `bias` (in `bias_t`) at their common fractional
    bits, then the cast to `result_t`; None where that sum (and the cast's rounding
    addition or left shift) could leave 62 bits for some input of type `tx`.
    """
    tw, tb, tr = need(node, "weight"), need(node, "bias"), need(node, "result")
    if tx.width > 62 or not _index_ok(tr):
        return None
    try:
        scale = np.broadcast_to(tw.to_mantissa(weight(node, "scale")), node.out.shape)
        bias = np.broadcast_to(tb.to_mantissa(weight(node, "bias")), node.out.shape)
    except ValueError:
        return None
    p_frac = tx.frac + tw.frac  # the exact product's (`product_type`)
    frac = max(p_frac, tb.frac)
    lp, lb, sh = frac - p_frac, frac - tb.frac, frac - tr.frac
    s_max = int(np.abs(scale).max(initial=0))
    b_max = int(np.abs(bias).max(initial=0))
    bound = ((s_max << native.magnitude_bits(tx)) << lp) + (b_max << lb)
    bound = bound + (1 << sh) if sh > 0 else bound << -sh
    if bound >= 1 << 62:
        return None
    shifted = [int(v) << lb for v in bias.reshape(-1).tolist()]
    a = np.ascontiguousarray(scale.reshape(-1), dtype=np.int64)
    b = np.array(shifted, dtype=np.int64)
    row = _row(K_SCALE, n, n, [lp, sh, *native.type_row(tr)])
    return Step(row, a, b, n, tr)


def _quantizer(node: Node, tx: FixedType, n: int) -> Step | None:
    """HGQ2's per-element quantiser as `hepinfer.ops.fixed_point_quantizer.run_fixed`
    computes it (the same int64 arithmetic per element: rounding shift, wrap or clip, the
    shift to the output's fractional bits); None where that arithmetic could leave 60 bits.
    """
    to, quant, overflow, (drop, width, lo, hi) = fpq._prepared(node, tx)
    grow = max(int(-drop.min()), 0) + max(int((to.frac - tx.frac + drop).max()), 0)
    if tx.width + grow > 60 or to.width > 62:
        return None
    params = np.stack([a.reshape(-1) for a in (drop, width, lo, hi)], axis=-1).reshape(-1)
    fields = [int(quant is Quant.RND), int(overflow is not Overflow.WRAP), to.frac - tx.frac]
    a = np.ascontiguousarray(params, dtype=np.int64)
    return Step(_row(K_QUANT, n, n, fields), a, _EMPTY, n, to)


def _table(node: Node, tx: FixedType, n: int) -> Step | None:
    """A table on every input value (`hepinfer.ops.unary_lut.run_fixed`): the input's bits
    shifted to the table's fractional bits index the table, already cast to the result.
    """
    tr, tt = need(node, "result"), unary_lut.table_type(node)
    table = np.asarray(weight(node, "table"), dtype=np.float64).ravel()
    down = tx.frac - unary_lut.index_frac(node)
    if tx.width > 62 or tr.width > 62 or tx.width - min(down, 0) > 62:
        return None
    rom = np.ascontiguousarray(tr.cast_mantissa(tt.to_mantissa(table), tt), dtype=np.int64)
    return Step(_row(K_TABLE, n, n, [down, table.size]), rom, _EMPTY, n, tr)


def step(
    node: Node, tx: FixedType, previous: Step | None, in_shape: tuple[int, ...]
) -> Step | None:
    """The native step of `node` reading values of type `tx` and per-sample shape
    `in_shape` (None: it has none). A ReLU or Linear right after a Dense or convolution step
    comes back as that step with the cast fused in.
    """
    n = _size(node)
    if node.op is Op.DENSE:
        if len(node.out.shape) != 1:
            return None
        wm, bias = mantissas(node)
        tr = need(node, "result")
        layer = native.Layer(wm, bias, tx, need(node, "weight"), need(node, "accum"), tr)
        row = _layer_row(layer, wm.shape[0], wm.shape[1], ())
        if row is None:
            return None
        w = np.ascontiguousarray(wm, dtype=np.int64)
        b = np.ascontiguousarray(bias, dtype=np.int64)
        return Step(row, w, b, n, tr, layer)
    if node.op in (Op.RELU, Op.LINEAR):
        linear = node.op is Op.LINEAR
        if previous is not None and previous.layer is not None and previous.layer.relu is None:
            fused = dataclasses.replace(previous.layer, relu=need(node, "result"), linear=linear)
            row = _layer_row(fused, previous.row[1], previous.row[2], previous.geometry)
            if row is not None:
                t = need(node, "result")
                return dataclasses.replace(previous, row=row, t=t, layer=fused, fused=True)
        return _cast(node, tx, n, relu=not linear)
    if node.op is Op.SOFTMAX:
        return _softmax(node, tx)
    if node.op in (Op.CONV1D, Op.CONV2D):
        return _conv(node, tx, in_shape)
    if node.op is Op.BATCHNORM:
        return _scale_shift(node, tx, n)
    if node.op is Op.QUANT:
        return _cast(node, tx, n, relu=False)
    if node.op is Op.FIXED_POINT_QUANTIZER:
        return _quantizer(node, tx, n)
    if node.op is Op.UNARY_LUT:
        return _table(node, tx, n)
    return _lut(node, tx, n)


class Program:
    """A bound native program: steps in order, from doubles or mantissas to doubles or
    mantissas (`run`). Freed with the object.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        n_in: int,
        t_in: FixedType,
        *,
        from_float: bool,
        to_float: bool,
    ) -> None:
        dll = native.library()
        if dll is None:
            msg = "the native kernel is unavailable"
            raise native.NativeError(msg)
        self.n_in = n_in
        self.n_out = steps[-1].n_out if steps else n_in
        self.t_out = steps[-1].t if steps else t_in
        self.from_float = from_float
        self.to_float = to_float
        fields = [len(steps), n_in, int(from_float), t_in.frac, *native.type_row(t_in)]
        head = np.array([*fields, int(to_float), self.t_out.frac], dtype=np.int64)
        desc = np.array([s.row for s in steps] or [(0,) * FIELDS], dtype=np.int64)
        ptrs = ctypes.c_void_p * max(1, len(steps))
        a = ptrs(*[s.a.ctypes.data for s in steps])
        b = ptrs(*[s.b.ctypes.data for s in steps])
        handle = dll.hepinfer_program_new(head.ctypes.data, desc.ctypes.data, a, b)
        if not handle:
            msg = "the native kernel could not build the program"
            raise native.NativeError(msg)
        self._handle = int(handle)
        self._run = dll.hepinfer_program_run
        self._threads = native.THREADS
        self._local = threading.local()
        weakref.finalize(self, dll.hepinfer_program_free, self._handle)

    def _staging(self) -> tuple[np.ndarray, int, np.ndarray, int]:
        xs = np.zeros((SMALL, self.n_in), dtype=np.float64)
        ys = np.zeros((SMALL, self.n_out), dtype=np.float64)
        staging = (xs, int(xs.ctypes.data), ys, int(ys.ctypes.data))
        self._local.staging = staging
        return staging

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs (batch x n_out) of a C-contiguous batch x n_in array of float64 values
        (`from_float`) or int64 mantissas; float64 values or int64 mantissas (`to_float`).
        A small batch goes through this thread's preallocated buffers, whose addresses are
        known (taking an array's address costs more than the copies).
        """
        batch = x.shape[0]
        if batch <= SMALL and self.from_float and self.to_float:
            staging = getattr(self._local, "staging", None) or self._staging()
            xs, x_addr, ys, y_addr = staging
            xs[:batch] = x
            rc = self._run(self._handle, x_addr, batch, 1, y_addr)
            if rc != 0:
                msg = f"the native program returned error {rc}"
                raise native.NativeError(msg)
            out: np.ndarray = ys[:batch].copy()
            return out
        y = np.empty((x.shape[0], self.n_out), dtype=np.float64 if self.to_float else np.int64)
        rc = self._run(self._handle, x.ctypes.data, x.shape[0], self._threads, y.ctypes.data)
        if rc != 0:
            msg = f"the native program returned error {rc}"
            raise native.NativeError(msg)
        return y
