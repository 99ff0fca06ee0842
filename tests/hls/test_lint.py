"""The firmware lint (hepinfer.hls.lint): clean on every golden project, every generated
kernel family in both io types and every kernel header; each rule fires on a planted case.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import hepinfer
from hepinfer.cli import main
from hepinfer.errors import HlsError
from hepinfer.hls.lint import Finding, lint_headers, lint_project
from hepinfer.hls.writer import KERNEL_FILES, render, templates_dir
from tests.hls.onnx_models import (
    branches,
    conv2d,
    convnet,
    elementwise,
    merges,
    mlp,
    pooling,
    softmax_rows,
    transpose,
)

pytest.importorskip("clang.cindex", reason="the firmware lint needs libclang")

GOLDEN = Path(__file__).parent / "golden"
KERNELS = templates_dir() / "kernels"


def _golden_project(case: str, tmp: Path) -> Path:
    """A golden project as written: its files plus the kernel library (not in the goldens)."""
    root = tmp / case
    shutil.copytree(GOLDEN / case, root)
    for name in KERNEL_FILES:
        (root / "firmware" / "hepinfer").mkdir(parents=True, exist_ok=True)
        shutil.copy(KERNELS / name, root / "firmware" / "hepinfer" / name)
    return root


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_every_golden_project_is_clean(case: str, tmp_path: Path) -> None:
    assert lint_project(_golden_project(case, tmp_path)) == []


def test_every_kernel_header_is_clean() -> None:
    assert lint_headers(KERNELS) == []


MODELS = {
    "mlp_softmax_sigmoid_tanh": lambda p: mlp(p, (6, 8, 8, 4), ("Sigmoid", "Tanh", "Softmax")),
    "conv2d_depthwise": lambda p: conv2d(p, depthwise=True),
    "conv2d": conv2d,
    "convnet": lambda p: convnet(p, 1, "same", 2),
    "elementwise": elementwise,
    "avg_pooling_padded": lambda p: pooling(p, "GlobalAveragePool", 0),
    "max_pooling": lambda p: pooling(p, "GlobalMaxPool", 1),
    "merges": merges,
    "branches": branches,
    "transpose": transpose,
    "softmax_rows": softmax_rows,
}
CONFIG = {
    "Model": {"Precision": "ap_fixed<14,5>"},
    "LayerType": {"AveragePooling": {"Precision": {"accum": "ap_fixed<18,6,AP_RND,AP_SAT>"}}},
}


@pytest.mark.parametrize("io", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_kernel_family_is_clean_in_both_io_types(name: str, io: str, tmp_path: Path) -> None:
    model = hepinfer.compile(MODELS[name](tmp_path / f"{name}.onnx"), CONFIG)
    root = render(model.graph, io_type=io).write(tmp_path / "prj")
    assert lint_project(root) == []


@pytest.mark.parametrize("strategy", ["Latency", "Resource"])
def test_resource_and_latency_dense_are_clean(strategy: str, tmp_path: Path) -> None:
    config = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 16, "Strategy": strategy}}
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (16, 64, 32, 32, 5), ("Relu",) * 3 + ("Softmax",)), config
    )
    root = render(model.graph).write(tmp_path / "prj")
    assert lint_project(root) == []


PLANTED = """
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
namespace hepinfer {
template <class T> T fact(T n) { return n <= 1 ? n : n * fact(n - 1); }
inline int ping(int n);
inline int pong(int n) { return n ? ping(n - 1) : 0; }
inline int ping(int n) { return n ? pong(n - 1) : 1; }
template <class T, int N> void planted(const T x[N], T y[N], int n) {
    PLANT
}
}  // namespace hepinfer
#ifndef __SYNTHESIS__
inline double for_csim_only() { return std::exp(1.0); }
#endif
"""

CASES = {
    "float": "double d = 0; (void)d;",
    "cmath": "y[0] = std::exp(x[0].to_int());",
    "heap": "int *p = new int[3]; (void)p;",
    "container": "std::vector<int> v; (void)v;",
    "io": 'std::printf("%d", n);',
    "recursion": "y[0] = fact<int>(3) + ping(n);",
    "unbounded": "while (n > 0) n--;",
}


def _planted(tmp: Path, body: str) -> Path:
    root = _golden_project("mlp_parallel", tmp)
    (root / "firmware" / "hepinfer" / "planted.h").write_text(PLANTED.replace("PLANT", body))
    top = root / "firmware" / "myproject.cpp"
    text = top.read_text().replace(
        '#include "parameters.h"', '#include "parameters.h"\n#include "hepinfer/planted.h"'
    )
    call = "    x_t tmp[6];\n    hepinfer::planted<x_t, 6>(x, tmp, 3);\n"
    text = text.replace("    #pragma HLS PIPELINE\n", "    #pragma HLS PIPELINE\n" + call, 1)
    top.write_text(text)
    return root


def test_a_planted_double_fails(tmp_path: Path) -> None:
    findings = lint_project(_planted(tmp_path, "double d = 0.5; y[0] = d;"))
    assert findings, "a double on the synthesis path must be reported"
    assert {f.rule for f in findings} == {"float"}
    assert all(f.file.endswith("planted.h") and f.line == 12 for f in findings)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_fires(rule: str, tmp_path: Path) -> None:
    findings = lint_project(_planted(tmp_path, CASES[rule]))
    assert rule in {f.rule for f in findings}, [str(f) for f in findings]


def test_a_for_loop_needs_a_constant_bound(tmp_path: Path) -> None:
    runtime = lint_project(_planted(tmp_path / "a", "for (int i = 0; i < n; i++) y[i] = x[i];"))
    assert [f.rule for f in runtime] == ["unbounded"]
    constant = "const int m = N - 1;\n    for (int i = 0; i < m; i++) y[i] = x[i];"
    assert lint_project(_planted(tmp_path / "b", constant)) == []


def test_code_reached_only_outside_synthesis_is_ignored(tmp_path: Path) -> None:
    """`#ifndef __SYNTHESIS__` regions (and the C-simulation weight loader) are not linted;
    neither is a function the top function never reaches.
    """
    root = _planted(tmp_path, "y[0] = x[0];")
    extra = "\nstatic double unused() { return 1.5; }\n"
    top = root / "firmware" / "myproject.cpp"
    top.write_text(top.read_text() + extra)
    assert lint_project(root) == []


def test_findings_name_file_line_and_rule() -> None:
    f = Finding("firmware/x.h", 3, "float", "'double' value (d)")
    assert str(f) == "firmware/x.h:3: [float] 'double' value (d)"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(HlsError, match="does not exist"):
        lint_project(tmp_path, top="myproject")
    root = _golden_project("mlp_parallel", tmp_path)
    (root / "firmware" / "other.cpp").write_text("int other_function() { return 0; }\n")
    with pytest.raises(HlsError, match="no top function 'other'"):
        lint_project(root, top="other")
    with pytest.raises(HlsError, match="name the top function"):
        lint_project(root)
    (root / "firmware" / "other.cpp").unlink()
    top = root / "firmware" / "myproject.cpp"
    top.write_text(top.read_text() + "\nthis is not C++;\n")
    with pytest.raises(HlsError, match="could not parse"):
        lint_project(root)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hls-lint", str(_golden_project("mlp_parallel", tmp_path / "ok"))]) == 0
    assert "0 findings" in capsys.readouterr().out
    assert main(["hls-lint", str(_planted(tmp_path / "bad", "double d = 0; (void)d;"))]) == 1
    out = capsys.readouterr().out
    assert "[float]" in out
    assert "planted.h:12" in out
