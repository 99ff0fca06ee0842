"""Fold a BatchNormalization into the Dense or Conv layer before it (when BN is its only reader).

`y = (x W + b) * s + t = x (W * s) + (b * s + t)`: the Dense keeps its name; the BN node
disappears and its readers read the Dense. BNs that follow anything else stay standalone (the ops that fold one say so in their
module: `FOLDS_BATCHNORM = True`).
"""

from __future__ import annotations

from collections.abc import Callable

from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops import optional


def _quantised(node: Node) -> bool:
    """Whether the model's own quantisers fix the node's weight or bias types (QKeras, QONNX):
    folded weights would leave their grid (hls4ml does not fold into them either).
    """
    return any(node.attrs.get(k) for k in ("kernel_quantizer", "bias_quantizer"))


def fold_batchnorm(graph: Graph, may_fold: Callable[[Node], bool] | None = None) -> Graph:
    """The graph with every foldable BatchNormalization merged into its producer.

    `may_fold(producer)` restricts folding (hls4ml folds only when the producer's result type
    is left to inference: a fixed result type makes BN a separate layer with its own types).
    Nothing folds into a layer whose weights the model's own quantisers typed.
    """
    nodes = list(graph.nodes)
    rename: dict[str, str] = {}
    out: list[Node] = []
    for original in nodes:
        node = original.replace(inputs=tuple(rename.get(i, i) for i in original.inputs))
        if node.op is Op.BATCHNORM:
            prev = next((n for n in out if n.name == node.inputs[0]), None)
            readers = [n for n in nodes if node.inputs[0] in n.inputs]
            if (
                prev is not None
                and optional(prev.op, "FOLDS_BATCHNORM")  # kernels with channels last
                and len(readers) == 1
                and node.inputs[0] not in graph.outputs
                and not _quantised(prev)
                and (may_fold is None or may_fold(prev))
            ):
                s, t = node.weights["scale"], node.weights["bias"]
                merged = prev.replace(
                    weights={
                        "kernel": prev.weights["kernel"] * s,
                        "bias": prev.weights["bias"] * s + t,
                    }
                )
                out[out.index(prev)] = merged
                rename[node.name] = prev.name
                continue
        out.append(node)
    outputs = tuple(rename.get(o, o) for o in graph.outputs)
    return graph.replace(nodes=tuple(out), outputs=outputs)
