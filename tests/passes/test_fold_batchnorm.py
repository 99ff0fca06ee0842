"""BatchNorm folding keeps the float function and removes the BN nodes it can."""

from __future__ import annotations

import numpy as np

from hepinfer.emulate import emulate_float
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir import Op
from hepinfer.passes import run_passes
from hepinfer.passes.fold_batchnorm import fold_batchnorm


def graph_with_bns() -> tuple[GraphBuilder, list[str]]:
    rng = np.random.default_rng(0)
    b = GraphBuilder("bn")
    x = b.input("x", (4,))
    d = b.add(
        "fc", Op.DENSE, [x], {}, {"kernel": rng.normal(size=(4, 3)), "bias": rng.normal(size=3)}
    )
    bn1 = b.add(
        "bn1", Op.BATCHNORM, [d], {}, {"scale": rng.normal(size=3), "bias": rng.normal(size=3)}
    )
    r = b.add("relu", Op.RELU, [bn1])
    bn2 = b.add(
        "bn2", Op.BATCHNORM, [r], {}, {"scale": rng.normal(size=3), "bias": rng.normal(size=3)}
    )
    return b, [bn2]


def test_fold_into_dense_keeps_function() -> None:
    b, outs = graph_with_bns()
    graph = b.build(outs)
    folded = run_passes(graph, [fold_batchnorm])
    assert [n.name for n in folded.nodes] == ["x", "fc", "relu", "bn2"]  # bn2 follows a ReLU
    x = np.random.default_rng(1).standard_normal((50, 4))
    np.testing.assert_allclose(
        emulate_float(folded, x)["bn2"], emulate_float(graph, x)["bn2"], rtol=1e-12, atol=1e-12
    )


def test_no_fold_when_dense_output_is_also_read_elsewhere() -> None:
    b, _ = graph_with_bns()
    graph = b.build(["bn2", "fc"])
    folded = fold_batchnorm(graph)
    assert "bn1" in [n.name for n in folded.nodes]
