"""The estimator against published synthesis results (anchors.yaml), with each error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate import ActivationCost, DenseCost, estimate_layers
from hepinfer.estimate.anchors import check_anchor, load_anchors

ANCHORS = load_anchors()
REQUIRED = {
    "jet_tagger_pruned70_rf1",
    "mnist_mlp_resource_rf128",
    "dense_1x2_elu_parallel",
    "conv2d_28x28x3_32f_resource",
}


def test_required_anchors_are_present_with_sources() -> None:
    ids = {a.id for a in ANCHORS}
    assert ids >= REQUIRED
    assert len(ids) == len(ANCHORS)
    for anchor in ANCHORS:
        assert anchor.source_url.startswith("https://")
        assert anchor.source_where
        assert "dsp" in anchor.published or "latency_cycles" in anchor.published


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: a.id)
def test_anchor_within_acceptance(anchor, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, checks = check_anchor(anchor)
    with capsys.disabled():
        for c in checks:
            print(
                f"\n  {anchor.id} {c.metric}: published {c.published_text}, estimate "
                f"{c.estimate:g}, error {c.rel_error:+.1%} ({c.criterion})",
                end="",
            )
    failing = [c for c in checks if c.ok is False]
    assert not failing, failing
    assert any(c.ok for c in checks)


def test_mnist_dsp_is_products_over_reuse() -> None:
    anchor = next(a for a in ANCHORS if a.id == "mnist_mlp_resource_rf128")
    est, _ = check_anchor(anchor)
    dense_dsp = sum(lay.resources.dsp for lay in est.layers if lay.op == "dense")
    assert dense_dsp == 784 * 128 // 112 + 2 * 128 * 128 // 128 + 128 * 10 // 128 == 1162


def test_malformed_anchor_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "a.yaml"
    bad.write_text(
        "anchors:\n- id: x\n  source: {url: 'https://x'}\n  part: xcu250\n"
        "  clock_period: 5\n  layers: [{type: lstm, name: l}]\n  published: {dsp: 1}\n"
    )
    with pytest.raises(EstimateError, match="layer type 'lstm'"):
        load_anchors(bad)


def test_real_pruned_jet_tagger(shared_data: Path) -> None:
    """The 70 %-pruned jet tagger's real weights give the published 22 cycles."""
    h5py = pytest.importorskip("h5py")
    path = shared_data / "hls4ml-example-models/keras/KERAS_3layer_70pruned_retrained_weights.h5"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with h5py.File(path, "r") as f:
        kernels = [
            np.asarray(f[k][k]["kernel:0"])
            for k in ("fc1_relu", "fc2_relu", "fc3_relu", "output_softmax")
        ]
    layers: list[DenseCost | ActivationCost] = []
    for i, w in enumerate(kernels):
        layers.append(DenseCost(name=f"fc{i}", n_in=w.shape[0], n_out=w.shape[1], weights=w))
        kind = "softmax" if i == 3 else "relu"
        layers.append(ActivationCost(name=f"act{i}", kind=kind, n=w.shape[1]))
    # the paper's Vivado HLS 2017.2 (the anchor's tool)
    est = estimate_layers(layers, part="xcku115", clock_period=5.0, tool="vivado-hls-2018")
    assert abs(est.latency_cycles - 22) <= 3
    zero_share = sum(int(np.sum(np.floor(w * 1024) == 0)) for w in kernels) / sum(
        w.size for w in kernels
    )
    assert zero_share > 0.6
    products = sum(w.size for w in kernels)
    assert est.total.dsp < (1 - zero_share) * products + 5  # zeros and shifts removed


def test_published_anchors_name_their_report_tool_and_split() -> None:
    """anchors_published.yaml (issue 20): at least 25 more reports, each with its
    repository, commit, path, tool generation and a fixed fit/holdout split.
    """
    from importlib import resources

    import yaml

    from hepinfer.estimate.anchors import PUBLISHED, load_all_anchors
    from hepinfer.estimate.tools import TOOLS

    published = load_anchors(PUBLISHED)
    assert len(published) >= 25
    raw = yaml.safe_load(
        resources.files("hepinfer.estimate").joinpath(PUBLISHED).read_text("utf-8")
    )["anchors"]
    for item, anchor in zip(raw, published, strict=True):
        src = item["source"]
        assert len(src["commit"]) == 40
        assert src["path"]
        assert "/" in src["repository"]
        assert src["commit"] in anchor.source_url
        assert src["path"] in anchor.source_url
        assert anchor.tool in TOOLS
        assert anchor.split in ("fit", "holdout")
    every = load_all_anchors()
    assert len({a.id for a in every}) == len(every)  # ids unique across both files
    holdout = [a for a in every if a.split == "holdout"]
    assert len(holdout) >= 15
    assert {a.tool for a in holdout} >= {"vivado-hls-2020", "vitis-2024"}


def test_unknown_split_or_tool_is_reported(tmp_path: Path) -> None:
    base = (
        "anchors:\n- id: x\n  source: {url: 'https://x'}\n  part: xcu250\n"
        "  clock_period: 5\n  layers: [{type: activation, name: r, kind: relu, n: 4}]\n"
        "  published: {latency_cycles: 0}\n"
    )
    bad = tmp_path / "a.yaml"
    bad.write_text(base + "  split: test\n")
    with pytest.raises(EstimateError, match="split 'test' is unknown"):
        load_anchors(bad)
    bad.write_text(base + "  tool: vivado-2016\n")
    with pytest.raises(EstimateError, match="tool 'vivado-2016' is unknown"):
        load_anchors(bad)


def test_encoded_cnn_report_gives_its_ii_and_window_memories() -> None:
    """The held-out unpruned SVHN CNN (hls4ml 0.5's encoded convolutions): each convolution
    one cycle deeper than the line-buffer one, II 1,029, 27 + 144 window-FIFO blocks.
    """
    from hepinfer.estimate.anchors import PUBLISHED

    by_id = {a.id: a for a in load_anchors(PUBLISHED)}
    encoded, _ = check_anchor(by_id["svhn_cnn_reference_stream"])
    line, _ = check_anchor(next(a for a in ANCHORS if a.id == "svhn_cnn_pruned_stream"))
    assert encoded.ii == 1029
    assert line.ii == 1028
    published = by_id["svhn_cnn_reference_stream"].published["layer_latency_cycles"]
    for name in ("conv1", "conv2", "conv3"):
        lay = {x.name: x for x in encoded.layers}[name]
        assert lay.latency_cycles == published[name]
        assert lay.latency_cycles == {x.name: x for x in line.layers}[name].latency_cycles + 1
    windows = {x.name: x.details.get("window_bram18k") for x in encoded.layers}
    assert (windows["conv1"], windows["conv2"], windows["conv3"]) == (27, 144, 0)
    assert encoded.total.bram18k == 273
