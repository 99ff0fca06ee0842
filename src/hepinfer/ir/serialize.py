"""Graph <-> plain data (JSON-able dict + a flat dict of weight arrays) for save/load."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node, NodePrecision, TensorType
from hepinfer.ir.op import Op


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _type(text: str | None) -> FixedType | None:
    return None if text is None else FixedType.parse(text)


def graph_to_dict(graph: Graph) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.float64]]]:
    """(JSON-able description, weights keyed `node/weight`)."""
    nodes = []
    weights: dict[str, npt.NDArray[np.float64]] = {}
    for n in graph.nodes:
        nodes.append(
            {
                "name": n.name,
                "op": n.op.value,
                "inputs": list(n.inputs),
                "shape": list(n.out.shape),
                **({} if n.out.fixed is None else {"type": str(n.out.fixed)}),
                "attrs": _plain(dict(n.attrs)),
                "weights": list(n.weights),
                "precision": {k: str(t) for k, t in n.precision.items()},
            }
        )
        for k, w in n.weights.items():
            weights[f"{n.name}/{k}"] = np.asarray(w)
    return {"name": graph.name, "nodes": nodes, "outputs": list(graph.outputs)}, weights


def graph_from_dict(data: dict[str, Any], weights: dict[str, npt.NDArray[np.float64]]) -> Graph:
    """Inverse of `graph_to_dict`."""
    nodes = []
    for d in data["nodes"]:
        types = {k: FixedType.parse(v) for k, v in d["precision"].items()}
        if "recurrent_kernel" in d["weights"] and "weight" in types:
            # saved before recurrent layers had recurrent types: both kernels (biases) then
            # shared the weight (bias) type
            types.setdefault("recurrent_weight", types["weight"])
            types.setdefault("recurrent_bias", types.get("bias", types["weight"]))
        precision = NodePrecision(**types)
        nodes.append(
            Node(
                name=d["name"],
                op=Op.parse(d["op"]),
                inputs=tuple(d["inputs"]),
                out=TensorType(tuple(d["shape"]), _type(d.get("type"))),
                attrs=_tuples(d["attrs"]),
                weights={k: weights[f"{d['name']}/{k}"] for k in d["weights"]},
                precision=precision,
            )
        )
    return Graph(data["name"], tuple(nodes), tuple(data["outputs"]))
