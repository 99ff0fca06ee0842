"""The readable text form of a graph (one line per node)."""

from __future__ import annotations

from hepinfer.ir.graph import Graph, Node


def _fmt_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_node(node: Node) -> str:
    """One line: `%name: Op(inputs) shape {attrs} [weights] <precisions>`."""
    args = ", ".join(f"%{i}" for i in node.inputs)
    shape = "x".join(str(d) for d in node.out.shape)
    parts = [f"%{node.name} = {node.op.value}({args}) -> [{shape}]"]
    if node.attrs:
        attrs = ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(node.attrs.items()))
        parts.append(f"{{{attrs}}}")
    if node.weights:
        ws = ", ".join(f"{k}:{'x'.join(str(d) for d in w.shape)}" for k, w in node.weights.items())
        parts.append(f"weights({ws})")
    prec = ", ".join(f"{k}={t}" for k, t in node.precision.items())
    if prec:
        parts.append(f"<{prec}>")
    return " ".join(parts)


def format_graph(graph: Graph) -> str:
    """The whole graph as text, ending with its outputs."""
    lines = [f"graph {graph.name} {{"]
    lines += [f"  {format_node(n)}" for n in graph.nodes]
    lines.append(f"  return {', '.join('%' + o for o in graph.outputs)}")
    lines.append("}")
    return "\n".join(lines)


def types_table(graph: Graph) -> str:
    """Every layer's fixed-point types (result, accum, weight, bias, table, and the
    recurrent weight and bias when a layer has them), one row each.
    """
    variables: tuple[str, ...] = ("result", "accum", "weight", "bias", "table")
    if any(n.precision.recurrent_weight is not None for n in graph.nodes):
        variables += ("recurrent_weight", "recurrent_bias")
    rows: list[tuple[str, ...]] = [("layer", "op", *variables)]
    for node in graph.nodes:
        types = dict(node.precision.items())
        if node.out.fixed is not None and "result" not in types:
            types["result"] = node.out.fixed
        rows.append(
            (node.name, node.op.value, *(str(types[v]) if v in types else "-" for v in variables))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
