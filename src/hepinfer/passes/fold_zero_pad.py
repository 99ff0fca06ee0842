"""Fold a ZeroPadding into the convolution that reads it.

`conv(pad(x, p), pads=q) == conv(x, pads=p + q)`: the padded zeros are the convolution's own
zero padding, so every output is the same sum (bit for bit). Folded when the pad's only
reader is an op whose module says `FOLDS_ZERO_PAD = True` (the convolutions) and the pad is
not a graph output. Only pads marked `fold` are folded (ONNX `Pad`); a Keras ZeroPadding stays
the layer hls4ml makes of it, so per-layer configurations and traces keep its name. Before anything else (e.g. MaxPooling, which pads with -inf) the pad
stays a layer.
"""

from __future__ import annotations

from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops import optional


def _takes_zero_pad(node: Node) -> bool:
    return bool(optional(node.op, "FOLDS_ZERO_PAD"))


def fold_zero_pad(graph: Graph) -> Graph:
    """The graph with each foldable ZeroPadding merged into its reader's `pads`."""
    pads = {n.name: n for n in graph.nodes if n.op is Op.ZERO_PADDING and n.attrs.get("fold")}
    drop: set[str] = set()
    out: list[Node] = []
    for node in graph.nodes:
        src = node.inputs[0] if node.inputs else ""
        pad = pads.get(src)
        readers = [n for n in graph.nodes if src in n.inputs]
        if pad is None or not _takes_zero_pad(node) or len(readers) != 1 or src in graph.outputs:
            out.append(node)
            continue
        rank = len(pad.attrs["pads"]) // 2
        own = tuple(int(v) for v in node.attrs.get("pads", (0,) * (2 * rank)))
        merged = tuple(int(a) + b for a, b in zip(pad.attrs["pads"], own, strict=True))
        attrs = {**node.attrs, "pads": merged}
        out.append(node.replace(inputs=(pad.inputs[0], *node.inputs[1:]), attrs=attrs))
        drop.add(pad.name)
    if not drop:
        return graph
    return graph.replace(nodes=tuple(n for n in out if n.name not in drop))
