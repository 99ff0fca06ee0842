"""docs/coverage.md stays true: every layer handler of hls4ml 1.3 (read from the peer's
source) has a row, and every "yes" row names something hepinfer's frontend converts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hepinfer.frontends
from hepinfer.frontends import hgq1, keras_garnet, keras_layers, keras_mha, keras_qlayers
from hepinfer.frontends import keras as keras_frontend
from hepinfer.frontends import onnx as onnx_frontend
from hepinfer.frontends.builder import ACTIVATIONS
from tests.conftest import REPO, peers_dir

DOC = REPO / "docs" / "coverage.md"
SECTIONS = {"keras": "## Keras", "torch": "## PyTorch", "onnx": "## ONNX"}


def _rows(section: str) -> dict[str, str]:
    """Handler name -> state ("yes"/"no") of one section's table (grouped rows expanded)."""
    text = DOC.read_text()
    start = text.index(SECTIONS[section])
    end = min(
        (text.index(h, start + 1) for h in SECTIONS.values() if h in text[start + 1 :]),
        default=len(text),
    )
    rows: dict[str, str] = {}
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[1] not in ("yes", "no"):
            continue
        group = re.match(r"(\w+)\* \w+ \(([^)]*)\)", cells[0])
        names = [f"{group[1]}{n.strip()}" for n in group[2].split(",")] if group else [cells[0]]
        rows.update(dict.fromkeys(names, cells[1]))
    return rows


def _converters() -> Path:
    lib = peers_dir() / "hls4ml" / "lib"
    found = sorted(lib.glob("python3*/site-packages/hls4ml/converters")) if lib.is_dir() else []
    if not found:
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    return found[0]


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']+)'", text)


def hls4ml_handlers(root: Path, framework: str) -> set[str]:
    """The layer names hls4ml 1.3 registers for `framework` (keras, torch, onnx)."""
    folders = {"keras": ["keras", "keras_v3"], "torch": ["pytorch"], "onnx": ["onnx"]}[framework]
    names: set[str] = set()
    for folder in folders:
        for path in (root / folder).rglob("*.py"):
            if "hgq2" in path.parts:
                continue
            src = path.read_text()
            lists = dict(re.findall(r"^(\w+) = (\[[^\]]*\])", src, re.MULTILINE))
            for args in re.findall(r"@\w+_handler\(([^)]*)\)", src):
                for arg in (a.strip() for a in args.split(",")):
                    if arg.startswith("*"):
                        names.update(_quoted(lists.get(arg[1:], "")))
                        for part in re.findall(r"\*(\w+)", lists.get(arg[1:], "")):
                            names.update(_quoted(lists.get(part, "")))
                    else:
                        names.update(_quoted(arg))
            for block in re.findall(r"handles = \(([^)]*)\)", src):
                names.update(n.rsplit(".", 1)[-1] for n in _quoted(block))
    return {n.split(">")[-1] for n in names}


@pytest.mark.parametrize("framework", list(SECTIONS))
def test_every_hls4ml_handler_has_a_row(framework: str) -> None:
    handlers = hls4ml_handlers(_converters(), framework)
    assert len(handlers) > 20
    missing = sorted(handlers - set(_rows(framework)))
    assert not missing, f"docs/coverage.md lacks rows for hls4ml's {framework} handlers {missing}"


def test_yes_rows_are_converted() -> None:
    keras = set(keras_layers.CONVERTERS) | set(keras_qlayers.QKERAS_CONVERTERS)
    keras |= set(keras_garnet.GARNET_CONVERTERS) | set(keras_mha.MHA_CONVERTERS)
    keras |= set(hgq1.CONVERTERS)  # HGQ 1 proxy models' layers
    for name, state in _rows("keras").items():
        if state == "yes":
            assert name in keras or name in ("InputLayer", *keras_frontend.NESTED), name
    onnx = set(onnx_frontend.CONVERTERS)
    for name, state in _rows("onnx").items():
        if state == "yes":
            assert name in onnx or name.lower() in ACTIVATIONS, name
    torch_src = (Path(hepinfer.frontends.__file__).parent / "torch.py").read_text().lower()
    for name, state in _rows("torch").items():
        if state == "yes":
            assert name.lower() in torch_src or name.lower() in ACTIVATIONS, name


def test_no_rows_are_refused_by_the_keras_frontend() -> None:
    """A "no" Keras row is not silently converted (it must stay honest when support lands)."""
    keras = set(keras_layers.CONVERTERS) | set(keras_qlayers.QKERAS_CONVERTERS)
    keras |= set(keras_garnet.GARNET_CONVERTERS) | set(keras_mha.MHA_CONVERTERS)
    wrongly = [n for n, s in _rows("keras").items() if s == "no" and n in keras]
    assert not wrongly, f"converted but listed as 'no' in docs/coverage.md: {wrongly}"
