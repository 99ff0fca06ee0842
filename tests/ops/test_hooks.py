"""Every operator answers every target: one module per op holds its types, value-range rule,
HLS lowering and emulator kernels; nothing outside `ops/` keeps a table keyed by `Op`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.config import Config
from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed.array import FxArray
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops import MODULES, hook
from hepinfer.ops.bounds import Bounds, full
from hepinfer.ops.lowering import Lowering
from hepinfer.passes.apply_config import apply_config
from tests.op_models import single, uniform_inputs

TARGETS = ("infer_types", "hls", "interval")
SRC = Path(hepinfer.__file__).parent


def _instance(op: Op) -> tuple[Graph, Node]:
    graph = apply_config(
        single(Op.RELU if op is Op.INPUT else op, np.random.default_rng(3)), Config()
    )
    node = graph.inputs[0] if op is Op.INPUT else graph.nodes[-1]
    assert node.op is op
    return graph, node


@pytest.mark.parametrize("op", list(Op), ids=[op.value for op in Op])
def test_every_op_has_every_target(op: Op) -> None:
    module = MODULES[op]
    for target in TARGETS:
        assert callable(getattr(module, target, None)), (op, target)
        assert hook(op, target) is getattr(module, target)
    assert callable(module.SPEC.run_fixed)
    assert callable(module.SPEC.run_float)


@pytest.mark.parametrize("op", list(Op), ids=[op.value for op in Op])
def test_every_target_handles_a_small_instance(op: Op) -> None:
    graph, node = _instance(op)
    ins = [graph.node(i).out for i in node.inputs]
    # types: the op's rule gives what the graph carries
    out, precision = hook(op, "infer_types")(node, [t.fixed for t in ins])
    assert (out, precision) == (node.out.fixed, node.precision)
    # value range: element-wise bounds of the output's shape
    bounds = [Bounds(*full(t.shape, -1.0, 1.0), t.fixed) for t in ins]
    bounds = bounds or [Bounds(*full(node.out.shape, -1.0, 1.0))]
    lo, hi = hook(op, "interval")(node, bounds)
    assert lo.shape == hi.shape == node.out.shape
    assert np.all(lo <= hi)
    # HLS: a lowering, or (graph inputs: ports, not kernels) an error naming the op and target
    if op is Op.INPUT:
        with pytest.raises(HlsError, match=r"\(Input\) has no HLS"):
            hook(op, "hls")(node, ins)
    else:
        lowering = hook(op, "hls")(node, ins)
        assert isinstance(lowering, Lowering)
        assert lowering.kernel
        assert {"n_in", "n_out"} <= set(lowering.consts)
    # emulator kernels
    x = uniform_inputs(graph, np.random.default_rng(0), n=3)
    if op is Op.INPUT:
        return
    values = {n.name: x[n.name] for n in graph.inputs}
    for n in graph.nodes[len(graph.inputs) :]:
        values[n.name] = MODULES[n.op].SPEC.run_float(n, [values[i] for i in n.inputs])
    assert values[node.name].shape == (3, *node.out.shape)
    fx = {n.name: FxArray.from_float(x[n.name], n.out.fixed) for n in graph.inputs}  # type: ignore[arg-type]
    for n in graph.nodes[len(graph.inputs) :]:
        fx[n.name] = MODULES[n.op].SPEC.run_fixed(n, [fx[i] for i in n.inputs])
    assert fx[node.name].t == node.out.fixed


def test_targets_that_cannot_express_an_op_say_which() -> None:
    b = GraphBuilder("t4")
    x = b.input("x", (2, 2, 2, 2))
    graph = apply_config(b.build([b.add("t", Op.TRANSPOSE, [x], {"perm": (3, 2, 1, 0)})]), Config())
    node = graph.nodes[-1]
    with pytest.raises(HlsError, match=r"'t' \(Transpose\) has no HLS kernel: it permutes 4 axes"):
        hook(Op.TRANSPOSE, "hls")(node, [graph.nodes[0].out])
    with pytest.raises(GraphError, match=r"'Dense' has no 'verilog' hook"):
        hook(Op.DENSE, "verilog")


def _modules(*parts: str) -> list[Path]:
    return [p for part in parts for p in sorted((SRC / part).glob("*.py"))]


def _op_tables(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every dict keyed by `Op.X`, `dict[Op, ...]` annotation and literal
    set, tuple or list of two or more `Op.X` members (a table of ops) in a module.
    """

    def is_op(k: ast.expr | None) -> bool:
        return isinstance(k, ast.Attribute) and ast.unparse(k).startswith("Op.")

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and any(is_op(k) for k in node.keys):
            found.append((node.lineno, "a dict keyed by Op"))
        if isinstance(node, ast.Subscript) and ast.unparse(node).startswith("dict[Op"):
            found.append((node.lineno, "a dict[Op, ...] declaration"))
        if isinstance(node, ast.Set | ast.Tuple | ast.List) and sum(map(is_op, node.elts)) >= 2:
            found.append((node.lineno, "a collection of Op members"))
    return found


#: modules allowed to name a collection of ops (never a dict keyed by Op), with the reason
OP_COLLECTIONS = {
    "emulate/fuse.py": "the activations the native C++ kernel fuses: its capability, not the ops'",
    "emulate/program.py": "the ops the native C++ program has steps for: its capability, not the ops'",
}


def test_no_table_keyed_by_op_outside_ops() -> None:
    """Targets and passes dispatch over the ops' hooks and module constants: no dict keyed
    by `Op.X` and no set of ops in their modules.
    """
    files = [*_modules("hls", "emulate", "passes", "estimate"), SRC / "ir" / "verify.py"]
    assert SRC / "passes" / "apply_config.py" in files
    wrong = [
        f"{path.relative_to(SRC)}:{line} keeps {what}"
        for path in files
        for line, what in _op_tables(ast.parse(path.read_text()))
        if not (what.startswith("a collection") and str(path.relative_to(SRC)) in OP_COLLECTIONS)
    ]
    assert wrong == []


def test_the_table_check_can_fail() -> None:
    source = "_UNIT = {Op.SOFTMAX, Op.SIGMOID}\nT: dict[Op, int] = {Op.TANH: 3}\n"
    assert len(_op_tables(ast.parse(source))) == 3


def test_hls_imports_nothing_from_the_emulator_nor_private_op_functions() -> None:
    for path in _modules("hls"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("hepinfer.emulate"), path.name
                if (node.module or "").startswith("hepinfer.ops"):
                    assert not any(a.name.startswith("_") for a in node.names), path.name
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                base = ast.unparse(node.value)
                assert base not in {op.name.lower() for op in Op}, (path.name, ast.unparse(node))
