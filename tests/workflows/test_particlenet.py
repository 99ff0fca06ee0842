"""ParticleNet on real PFNano events: inputs, direct vs as-a-service scores, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uproot")
pytest.importorskip("onnxruntime")

from hepinfer.cli import main
from hepinfer.client import ClientOptions, Mode, SonicClient
from hepinfer.serve import InferenceServer
from hepinfer.workflows.particlenet import (
    LABELS,
    N_PF,
    N_SV,
    JetScores,
    event_inputs,
    jet_inputs,
    run_service,
)
from hepinfer.workflows.pfnano import read_events


def _synthetic_event() -> dict[str, np.ndarray]:
    """One jet at eta -1 with three candidates (one neutral) and two SVs (one not in SV table)."""
    f = np.float32
    return {
        "Jet_pt": np.array([40.0, 10.0], f),
        "Jet_eta": np.array([-1.0, 0.5], f),
        "Jet_phi": np.array([3.1, 0.0], f),
        "Jet_mass": np.array([5.0, 2.0], f),
        "PFCands_pt": np.array([1.0, 20.0, 5.0, 7.0], f),
        "PFCands_eta": np.array([-1.1, -0.9, -1.0, 0.5], f),
        "PFCands_phi": np.array([-3.1, 3.0, 3.1, 0.0], f),
        "PFCands_mass": np.array([0.14, 0.0, 0.14, 0.0], f),
        "PFCands_charge": np.array([1, 0, -1, 0], np.int32),
        "PFCands_pvAssocQuality": np.array([7, 0, 4, 0], np.int32),
        "PFCands_lostInnerHits": np.array([0, 0, 1, 0], np.int32),
        "PFCands_trkChi2": np.array([1.5, -1, 3.0, -1], f),
        "PFCands_trkQuality": np.array([5, 0, 5, 0], np.int32),
        "PFCands_dz": np.array([0.01, -1, -0.02, -1], f),
        "PFCands_dzErr": np.array([0.01, -1, 0.01, -1], f),
        "PFCands_d0": np.array([0.002, -1, 0.001, -1], f),
        "PFCands_d0Err": np.array([0.001, -1, 0.001, -1], f),
        "JetPFCands_jetIdx": np.array([0, 0, 0, 1], np.int32),
        "JetPFCands_pFCandsIdx": np.array([0, 1, 2, 3], np.int32),
        **{
            f"JetPFCands_{v}": np.array([1.0, 2.0, 3.0, 4.0], f)
            for v in (
                "btagEtaRel",
                "btagPtRatio",
                "btagPParRatio",
                "btagSip3dVal",
                "btagSip3dSig",
                "btagJetDistVal",
            )
        },
        "JetSVs_jetIdx": np.array([0, 0, 0], np.int32),
        "JetSVs_sVIdx": np.array([0, -1, 1], np.int32),
        "SV_pt": np.array([10.0, 4.0], f),
        "SV_eta": np.array([-1.05, -0.95], f),
        "SV_phi": np.array([3.12, 3.08], f),
        "SV_mass": np.array([1.5, 0.8], f),
        "SV_ntracks": np.array([3, 2], f),
        "SV_chi2": np.array([0.5, 1.0], f),
        "SV_dxy": np.array([0.3, 0.2], f),
        "SV_dxySig": np.array([8.0, 20.0], f),
        "SV_dlen": np.array([0.4, 0.3], f),
        "SV_dlenSig": np.array([9.0, 21.0], f),
    }


def test_jet_inputs_follow_the_cmssw_definitions() -> None:
    event = _synthetic_event()
    inp = jet_inputs(event, 0)
    assert inp["pf_features"].shape == (20, N_PF)
    assert inp["sv_features"].shape == (11, N_SV)
    np.testing.assert_array_equal(inp["pf_mask"][0, :4], [1, 1, 1, 0])
    np.testing.assert_array_equal(inp["sv_mask"][0, :3], [1, 1, 0])
    # sorted by pT: candidates 1 (20 GeV, neutral), 2 (5 GeV), 0 (1 GeV)
    pt_log = inp["pf_features"][0, :3] / 0.7 + 0.8
    np.testing.assert_allclose(np.exp(pt_log), [20, 5, 1], rtol=1e-5)
    # eta relative to a negative-eta jet is sign-flipped; phi wraps around pi
    np.testing.assert_allclose(inp["pf_points"][0, :3], [-0.1, 0.0, 0.1], atol=1e-6)
    np.testing.assert_allclose(inp["pf_points"][1, :3], [-0.1, 0.0, 2 * np.pi - 6.2], atol=1e-5)
    # neutral: normchi2 999 -> clipped at 5, quality 0, impact parameters 0
    assert inp["pf_features"][8, 0] == 5.0
    assert inp["pf_features"][9, 0] == 0.0
    assert inp["pf_features"][10, 0] == 0.0
    # charged: floor(1.5) = 1 -> (1 - 5) * 0.2
    assert inp["pf_features"][8, 2] == pytest.approx(-0.8)
    # SVs: only those in the SV table, by dxy significance (SV 1 first)
    np.testing.assert_allclose(inp["sv_features"][8, :2], [(20 - 5) * 0.03, (8 - 5) * 0.03])
    # padding stays 0
    assert not inp["pf_features"][:, 3:].any()
    assert not inp["sv_points"][:, 2:].any()
    jets, stacked = event_inputs(event, min_jet_pt=15)
    assert jets.tolist() == [0]
    assert stacked["pf_features"].shape == (1, 20, N_PF)


def test_direct_scores_are_probabilities(pn: tuple[Path, Path], direct: JetScores) -> None:
    _, events = pn
    n_jets = sum(int((e["Jet_pt"] >= 15).sum()) for e in read_events(events))
    assert len(direct) == n_jets > 0
    assert direct.scores.shape == (n_jets, len(LABELS))
    np.testing.assert_allclose(direct.scores.sum(axis=1), 1, atol=1e-5)
    assert np.unique(direct.entry).size == 10


@pytest.mark.parametrize("mode", [Mode.ASYNC, Mode.SYNC])
def test_service_matches_direct(
    pn: tuple[Path, Path], direct: JetScores, pn_server: InferenceServer, mode: Mode
) -> None:
    _, events = pn
    opts = ClientOptions("particlenet_AK4", servers=(pn_server.grpc_url,), mode=mode)
    with SonicClient(opts) as client:
        service = run_service(read_events(events), client, window=3)
        assert client.stats().requests == 10  # one request per event
    np.testing.assert_array_equal(service.entry, direct.entry)
    np.testing.assert_array_equal(service.jet, direct.jet)
    np.testing.assert_allclose(service.scores, direct.scores, rtol=0, atol=1e-5)


def test_cli_direct_and_service_agree(
    pn: tuple[Path, Path], pn_server: InferenceServer, tmp_path: Path
) -> None:
    repo, events = pn
    common = ["workflow", str(events), "--repository", str(repo), "--max-events", "4"]
    assert main([*common, "--direct", "-o", str(tmp_path / "d.csv")]) == 0
    service_args = ["--server", pn_server.grpc_url, "--streaming", "--compression", "gzip"]
    assert main([*common, *service_args, "-o", str(tmp_path / "s.npz")]) == 0
    direct = np.loadtxt(tmp_path / "d.csv", delimiter=",", skiprows=1)
    service = np.load(tmp_path / "s.npz")
    assert set(direct[:, 0]) == {0, 1, 2, 3}
    np.testing.assert_allclose(direct[:, 5:], service["scores"], atol=1e-5)
    assert main(["workflow", str(events), "-o", str(tmp_path / "x.csv")]) == 1
    # no server given: the client's fallback serves the repository in-process
    assert main([*common, "-o", str(tmp_path / "f.csv")]) == 0
    fallback = np.loadtxt(tmp_path / "f.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(fallback[:, 5:], direct[:, 5:], atol=1e-5)
