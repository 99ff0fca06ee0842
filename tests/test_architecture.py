"""The import DAG of docs/architecture.md, checked on the source (no package imports another
that the table does not allow, at module level or inside functions).
"""

from __future__ import annotations

import ast
from graphlib import TopologicalSorter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hepinfer"

BASE = {"errors", "_version", "knobs", "cache"}
#: package or top-level module -> what it may import (besides itself and BASE)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "knobs": set(),
    "cache": set(),
    "fixed": set(),
    "protocol": set(),
    "ir": {"fixed"},
    "config_keys": set(),
    "config": {"fixed", "ir", "config_keys"},
    "netlist": {"fixed"},
    "ops": {"fixed", "ir", "netlist"},
    "rtl": {"fixed", "ir", "ops", "netlist"},
    "passes": {"fixed", "ir", "ops", "config"},
    "emulate": {"fixed", "ir", "ops"},
    "hls": {"fixed", "ir", "ops"},
    "estimate": {"fixed", "ir", "ops", "config"},
    "frontends": {"fixed", "ir", "ops"},
    "compiled": {
        "fixed",
        "ir",
        "ops",
        "config",
        "passes",
        "emulate",
        "hls",
        "estimate",
        "frontends",
        "rtl",
    },
    "client": {"protocol"},
    "bench": {"protocol", "client"},
    "serve": {"protocol"},
    "workflows": {"client"},
    "demo": {"compiled", "estimate", "serve", "client", "bench", "__init__", "rtl"},
    "commands": {
        "fixed",
        "ir",
        "config",
        "compiled",
        "estimate",
        "passes",
        "emulate",
        "serve",
        "client",
        "bench",
        "workflows",
        "demo",
        "__init__",
        "hls",
        "frontends",
        "ops",
        "rtl",
    },
    "cli": {"commands"},
    "__init__": {"compiled", "config"},
    "__main__": {"cli"},
}

#: imports inside functions that cross the table on purpose, each with its reason
LAZY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("client", "serve"): "the fallback server is an in-process hepinfer server (serve extra)",
    ("serve", "compiled"): "the firmware backend serves a compiled model (compile extra)",
    ("serve", "emulate"): "the firmware backend runs the emulator's engine",
    ("ir", "ops"): "the verifier asks each op for its shape rule",
    ("passes", "emulate"): "calibration runs the float emulator on the user's data",
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported package, at module level, line) for every hepinfer import in `path`."""
    tree = ast.parse(path.read_text())
    # module level: the module's own statements (imports under `if TYPE_CHECKING:` do not run
    # and count with those inside functions)
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module == "hepinfer" and node.level == 0:
            names = [f"hepinfer.{a.name}" for a in node.names]  # from hepinfer import x
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "hepinfer":
                target = parts[1] if len(parts) > 1 else "__init__"
                found.append((target, id(node) in top, node.lineno))
    return found


def test_the_table_is_a_dag() -> None:
    order = list(TopologicalSorter(ALLOWED).static_order())
    assert set(order) >= set(ALLOWED)


def test_every_package_is_in_the_table() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")}
    assert packages <= set(ALLOWED), sorted(packages - set(ALLOWED))


def test_imports_follow_the_dag() -> None:
    wrong = []
    used_exceptions = set()
    for path in sorted(SRC.rglob("*.py")):
        source = _package(path)
        for target, top_level, line in _imports(path):
            if target == source or target in BASE or target in ALLOWED[source]:
                continue
            if not top_level and (source, target) in LAZY_EXCEPTIONS:
                used_exceptions.add((source, target))
                continue
            where = "module level" if top_level else "inside a function"
            wrong.append(f"{path.relative_to(SRC.parent)}:{line}: {source} -> {target} ({where})")
    assert wrong == []
    stale = set(LAZY_EXCEPTIONS) - used_exceptions
    assert not stale, f"exceptions no longer needed, remove them: {sorted(stale)}"
