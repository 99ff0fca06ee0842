"""ParticleNet (AK4) jet tagging of PFNano events, direct (onnxruntime) or through the service.

Inputs follow CMSSW's ParticleNetAK4 (CHS, V00, the "noragged" pre-processing: 50 PF
candidates and 5 secondary vertices per jet), with the candidate variables as PFNano-based
analyses compute them (e.g. coffea taggers):

- PF candidates of a jet (JetPFCands -> PFCands), sorted by pT, at most 50:
  log pT, log E, eta and phi relative to the jet axis (eta sign-flipped for eta_jet < 0),
  |eta|, charge, PV association quality, lost inner hits, floor(track chi2/ndf) (999 without
  a track), track quality, dz, dz/sigma, dxy, dxy/sigma (0 for neutrals), and the six b-tag
  track variables stored per jet-candidate pair in PFNano.
- Secondary vertices of a jet (JetSVs -> SV), sorted by dxy significance, at most 5:
  log pT, mass, eta/phi relative to the jet, |eta|, number of tracks, chi2/ndf, dxy,
  dxy/sigma, 3-D flight distance and its significance.
- Each variable: ``clip((x - median) * norm_factor, lower, upper)`` with CMSSW's values (the
  table below), NaN/inf -> 0, padding 0, masks 1 for real entries.

Approximations (PFNano lacks them): SVs matched to a jet but missing from the SV table
(``sVIdx == -1``) are left out, as PFNano analyses do; PUPPI weights are not applied (the
AK4 CHS model uses "nopuppi" variables).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from hepinfer.workflows.pfnano import Event, WorkflowError, read_events

if TYPE_CHECKING:
    from hepinfer.client import InferenceHandle, Outputs, SonicClient

N_PF: Final = 50
N_SV: Final = 5
LABELS: Final = ("b", "bb", "c", "cc", "uds", "g", "undef", "pu")
INPUT_NAMES: Final = ("pf_points", "pf_features", "pf_mask", "sv_points", "sv_features", "sv_mask")
OUTPUT_NAME: Final = "softmax"

_BIG: Final = 1e32
#: variable -> (median, norm_factor, lower bound, upper bound), from ParticleNetAK4 V00
PF_VARS: Final[tuple[tuple[str, float, float, float, float], ...]] = (
    ("pt_log", 0.8, 0.7, -5, 5),
    ("e_log", 1.2, 0.6, -5, 5),
    ("etarel", 0, 1, -_BIG, _BIG),
    ("phirel", 0, 1, -_BIG, _BIG),
    ("abseta", 0.8, 1.2, -5, 5),
    ("charge", 0, 1, -_BIG, _BIG),
    ("VTX_ass", 4, 0.3, -5, 5),
    ("lostInnerHits", 0, 1, -_BIG, _BIG),
    ("normchi2", 5, 0.2, -5, 5),
    ("quality", 0, 0.2, -5, 5),
    ("dz", 0, 150, -5, 5),
    ("dzsig", 0, 0.7, -5, 5),
    ("dxy", 0, 270, -5, 5),
    ("dxysig", 1.1, 1, -5, 5),
    ("btagEtaRel", 2.1, 0.5, -5, 5),
    ("btagPtRatio", 0, 1, -5, 5),
    ("btagPParRatio", 0, 1, -5, 5),
    ("btagSip3dVal", 0, 90, -5, 5),
    ("btagSip3dSig", 0, 0.5, -5, 5),
    ("btagJetDistVal", 0, 50, -5, 5),
)
SV_VARS: Final[tuple[tuple[str, float, float, float, float], ...]] = (
    ("pt_log", 2.8, 0.8, -5, 5),
    ("mass", 1.1, 0.6, -5, 5),
    ("etarel", 0, 1, -_BIG, _BIG),
    ("phirel", 0, 1, -_BIG, _BIG),
    ("abseta", 0.8, 1.2, -5, 5),
    ("ntracks", 3, 0.5, -5, 5),
    ("normchi2", 0.7, 0.7, -5, 5),
    ("dxy", 0.2, 0.6, -5, 5),
    ("dxysig", 5, 0.03, -5, 5),
    ("d3d", 0.35, 0.4, -5, 5),
    ("d3dsig", 5, 0.03, -5, 5),
)


def _delta_phi(a: np.ndarray, b: float) -> np.ndarray:
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _normalise(
    values: dict[str, np.ndarray], table: tuple[tuple[str, float, float, float, float], ...], n: int
) -> np.ndarray:
    out = np.zeros((len(table), n), np.float32)
    for row, (name, median, norm, lower, upper) in enumerate(table):
        x = np.nan_to_num(values[name].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        x = np.clip((x - median) * norm, lower, upper)
        out[row, : x.size] = x
    return out


def jet_inputs(event: Event, jet: int) -> dict[str, np.ndarray]:
    """The six ParticleNet input arrays of one jet (without the batch dimension)."""
    jet_eta = float(event["Jet_eta"][jet])
    jet_phi = float(event["Jet_phi"][jet])
    sign = 1.0 if jet_eta > 0 else -1.0

    # ---- PF candidates
    pairs = np.flatnonzero(event["JetPFCands_jetIdx"] == jet)
    cands = event["JetPFCands_pFCandsIdx"][pairs]
    order = np.argsort(-event["PFCands_pt"][cands], kind="stable")[:N_PF]
    pairs, cands = pairs[order], cands[order]
    pt = event["PFCands_pt"][cands].astype(np.float64)
    eta = event["PFCands_eta"][cands].astype(np.float64)
    mass = event["PFCands_mass"][cands].astype(np.float64)
    charge = event["PFCands_charge"][cands]
    track = charge != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = {
            "pt_log": np.log(pt),
            "e_log": np.log(np.hypot(pt * np.cosh(eta), mass)),
            "etarel": sign * (eta - jet_eta),
            "phirel": _delta_phi(event["PFCands_phi"][cands].astype(np.float64), jet_phi),
            "abseta": np.abs(eta),
            "charge": charge,
            "VTX_ass": event["PFCands_pvAssocQuality"][cands],
            "lostInnerHits": event["PFCands_lostInnerHits"][cands],
            "normchi2": np.where(track, np.floor(event["PFCands_trkChi2"][cands]), 999.0),
            "quality": np.where(track, event["PFCands_trkQuality"][cands], 0),
            "dz": np.where(track, event["PFCands_dz"][cands], 0.0),
            "dzsig": np.where(
                track, event["PFCands_dz"][cands] / event["PFCands_dzErr"][cands], 0.0
            ),
            "dxy": np.where(track, event["PFCands_d0"][cands], 0.0),
            "dxysig": np.where(
                track, event["PFCands_d0"][cands] / event["PFCands_d0Err"][cands], 0.0
            ),
        }
    for name in ("btagEtaRel", "btagPtRatio", "btagPParRatio", "btagSip3dVal", "btagSip3dSig",
                 "btagJetDistVal"):  # fmt: skip
        pf[name] = event[f"JetPFCands_{name}"][pairs]
    n_pf = pt.size
    pf_features = _normalise(pf, PF_VARS, N_PF)
    pf_points = np.zeros((2, N_PF), np.float32)
    pf_points[0, :n_pf] = pf["etarel"]
    pf_points[1, :n_pf] = pf["phirel"]
    pf_mask = np.zeros((1, N_PF), np.float32)
    pf_mask[0, :n_pf] = 1

    # ---- secondary vertices (those in the SV table)
    svs = event["JetSVs_sVIdx"][(event["JetSVs_jetIdx"] == jet) & (event["JetSVs_sVIdx"] >= 0)]
    svs = svs[np.argsort(-event["SV_dxySig"][svs], kind="stable")[:N_SV]]
    sv_eta = event["SV_eta"][svs].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sv = {
            "pt_log": np.log(event["SV_pt"][svs].astype(np.float64)),
            "mass": event["SV_mass"][svs],
            "etarel": sign * (sv_eta - jet_eta),
            "phirel": _delta_phi(event["SV_phi"][svs].astype(np.float64), jet_phi),
            "abseta": np.abs(sv_eta),
            "ntracks": event["SV_ntracks"][svs],
            "normchi2": event["SV_chi2"][svs],
            "dxy": event["SV_dxy"][svs],
            "dxysig": event["SV_dxySig"][svs],
            "d3d": event["SV_dlen"][svs],
            "d3dsig": event["SV_dlenSig"][svs],
        }
    n_sv = svs.size
    sv_points = np.zeros((2, N_SV), np.float32)
    sv_points[0, :n_sv] = sv["etarel"]
    sv_points[1, :n_sv] = sv["phirel"]
    sv_mask = np.zeros((1, N_SV), np.float32)
    sv_mask[0, :n_sv] = 1
    return {
        "pf_points": pf_points,
        "pf_features": pf_features,
        "pf_mask": pf_mask,
        "sv_points": sv_points,
        "sv_features": _normalise(sv, SV_VARS, N_SV),
        "sv_mask": sv_mask,
    }


def event_inputs(
    event: Event, min_jet_pt: float = 15.0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The indices of the jets tagged in an event and their stacked inputs (jets on axis 0)."""
    jets = np.flatnonzero(event["Jet_pt"] >= min_jet_pt)
    per_jet = [jet_inputs(event, int(j)) for j in jets]
    shapes = {"pf_points": (2, N_PF), "pf_features": (len(PF_VARS), N_PF), "pf_mask": (1, N_PF),
              "sv_points": (2, N_SV), "sv_features": (len(SV_VARS), N_SV), "sv_mask": (1, N_SV)}  # fmt: skip
    stacked = {
        name: np.stack([j[name] for j in per_jet])
        if per_jet
        else np.zeros((0, *shapes[name]), np.float32)
        for name in INPUT_NAMES
    }
    return jets, stacked


@dataclass(frozen=True)
class JetScores:
    """Per-jet scores of a run: event entry, jet index, jet kinematics, one column per class."""

    entry: np.ndarray
    jet: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    scores: np.ndarray  # (n_jets, 8)

    def __len__(self) -> int:
        return int(self.entry.size)

    def write(self, path: Path | str) -> Path:
        """Write as CSV (``.csv``) or numpy archive (``.npz``)."""
        path = Path(path)
        if path.suffix == ".npz":
            np.savez(path, entry=self.entry, jet=self.jet, pt=self.pt, eta=self.eta,
                     phi=self.phi, scores=self.scores, labels=np.array(LABELS))  # fmt: skip
            return path
        if path.suffix != ".csv":
            msg = f"output {path} must end in .csv or .npz"
            raise WorkflowError(msg)
        table = np.column_stack([self.entry, self.jet, self.pt, self.eta, self.phi, self.scores])
        header = ",".join(["entry", "jet", "pt", "eta", "phi", *(f"prob_{x}" for x in LABELS)])
        fmt = ["%d", "%d", "%.6g", "%.6g", "%.6g"] + ["%.9g"] * len(LABELS)
        np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=fmt)
        return path


Infer = Callable[[dict[str, np.ndarray]], np.ndarray]


def direct_model(model_path: Path | str, threads: int = 1) -> Infer:
    """ParticleNet in-process with onnxruntime: inputs of one event -> (n_jets, 8) scores."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        from hepinfer.errors import MissingDependencyError

        raise MissingDependencyError(
            exc.name or "onnxruntime", "serve", "direct inference"
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])

    def infer(inputs: dict[str, np.ndarray]) -> np.ndarray:
        if inputs["pf_points"].shape[0] == 0:
            return np.zeros((0, len(LABELS)), np.float32)
        return np.asarray(session.run([OUTPUT_NAME], inputs)[0])

    return infer


def _collect(
    rows: list[tuple[int, np.ndarray, Event, np.ndarray]],
) -> JetScores:
    entry, jet, pt, eta, phi, scores = [], [], [], [], [], []
    for i, jets, event, s in rows:
        entry.append(np.full(jets.size, i, np.int64))
        jet.append(jets.astype(np.int64))
        pt.append(event["Jet_pt"][jets])
        eta.append(event["Jet_eta"][jets])
        phi.append(event["Jet_phi"][jets])
        scores.append(s.reshape(-1, len(LABELS)))
    if not rows:
        empty = np.zeros(0)
        return JetScores(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty,
                         np.zeros((0, len(LABELS)), np.float32))  # fmt: skip
    return JetScores(
        np.concatenate(entry),
        np.concatenate(jet),
        np.concatenate(pt),
        np.concatenate(eta),
        np.concatenate(phi),
        np.concatenate(scores),
    )


def run_direct(
    events: Iterable[Event], infer: Infer, min_jet_pt: float = 15.0, first_entry: int = 0
) -> JetScores:
    """Tag every jet with the model in-process (entries numbered from `first_entry`)."""
    rows = []
    for i, event in enumerate(events, start=first_entry):
        jets, inputs = event_inputs(event, min_jet_pt)
        rows.append((i, jets, event, infer(inputs)))
    return _collect(rows)


def run_service(
    events: Iterable[Event],
    client: SonicClient,
    min_jet_pt: float = 15.0,
    window: int = 4,
    first_entry: int = 0,
) -> JetScores:
    """Tag every jet through the service: one request per event, `window` events in flight.

    While the server infers event i, the job builds the inputs of the next events (SONIC's
    acquire / produce split).
    """
    if window < 1:
        msg = f"window {window} must be at least 1"
        raise WorkflowError(msg)
    rows = []
    pending: deque[tuple[int, np.ndarray, Event, InferenceHandle[Outputs]]] = deque()
    for i, event in enumerate(events, start=first_entry):
        jets, inputs = event_inputs(event, min_jet_pt)
        pending.append((i, jets, event, client.acquire(inputs)))
        if len(pending) >= window:
            rows.append(_produce(client, pending.popleft()))
    while pending:
        rows.append(_produce(client, pending.popleft()))
    return _collect(rows)


def _produce(
    client: SonicClient, item: tuple[int, np.ndarray, Event, InferenceHandle[Outputs]]
) -> tuple[int, np.ndarray, Event, np.ndarray]:
    i, jets, event, handle = item
    outputs = client.produce(handle)
    return i, jets, event, outputs[OUTPUT_NAME]


def iter_events(path: Path | str, max_events: int | None = None) -> Iterator[Event]:
    """The events of a PFNano file (at most `max_events`)."""
    return read_events(path, entry_stop=max_events)


def concat(parts: Sequence[JetScores]) -> JetScores:
    """Join the scores of consecutive parts of a run."""
    return JetScores(
        np.concatenate([p.entry for p in parts]),
        np.concatenate([p.jet for p in parts]),
        np.concatenate([p.pt for p in parts]),
        np.concatenate([p.eta for p in parts]),
        np.concatenate([p.phi for p in parts]),
        np.concatenate([p.scores for p in parts]),
    )
