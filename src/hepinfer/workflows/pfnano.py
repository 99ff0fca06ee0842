"""Read CMS PFNano events (NanoAOD with particle-flow candidates and secondary vertices).

One event is a dict of flat numpy arrays, one per branch (jets, PF candidates, the jet ->
candidate and jet -> SV association tables, SVs), read with uproot in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np

from hepinfer.errors import HepinferError, MissingDependencyError

#: the branches the ParticleNet inputs need
BRANCHES: Final[tuple[str, ...]] = (
    "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass",
    "PFCands_pt", "PFCands_eta", "PFCands_phi", "PFCands_mass", "PFCands_charge",
    "PFCands_pvAssocQuality", "PFCands_lostInnerHits", "PFCands_trkChi2", "PFCands_trkQuality",
    "PFCands_dz", "PFCands_dzErr", "PFCands_d0", "PFCands_d0Err",
    "JetPFCands_jetIdx", "JetPFCands_pFCandsIdx",
    "JetPFCands_btagEtaRel", "JetPFCands_btagPtRatio", "JetPFCands_btagPParRatio",
    "JetPFCands_btagSip3dVal", "JetPFCands_btagSip3dSig", "JetPFCands_btagJetDistVal",
    "JetSVs_jetIdx", "JetSVs_sVIdx",
    "SV_pt", "SV_eta", "SV_phi", "SV_mass", "SV_ntracks", "SV_chi2",
    "SV_dxy", "SV_dxySig", "SV_dlen", "SV_dlenSig",
)  # fmt: skip

Event = dict[str, np.ndarray]


class WorkflowError(HepinferError):
    """A workflow cannot read its input or run its model."""


def count_events(path: Path | str) -> int:
    """Number of events in a NanoAOD file."""
    try:
        import uproot
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "uproot", "workflow", "reading NanoAOD") from exc
    try:
        return int(uproot.open(Path(path))["Events"].num_entries)
    except (OSError, KeyError, ValueError) as exc:
        msg = f"cannot read the Events tree of {path}: {exc}; give a NanoAOD ROOT file"
        raise WorkflowError(msg) from exc


def read_events(
    path: Path | str,
    entry_stop: int | None = None,
    step_size: int = 1000,
    entry_start: int | None = None,
) -> Iterator[Event]:
    """Yield the events of a PFNano file (entries [start, stop)), each a dict branch -> array."""
    try:
        import awkward as ak
        import uproot
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "uproot", "workflow", "reading NanoAOD") from exc
    try:
        tree = uproot.open(Path(path))["Events"]
    except (OSError, KeyError, ValueError) as exc:
        msg = f"cannot read the Events tree of {path}: {exc}; give a NanoAOD (PFNano) ROOT file"
        raise WorkflowError(msg) from exc
    missing = [b for b in BRANCHES if b not in tree]
    if missing:
        msg = (
            f"{path} lacks the PFNano branches {missing[:6]}{'...' if len(missing) > 6 else ''}; "
            "the ParticleNet workflow needs PFNano (PF candidates and SVs per jet)"
        )
        raise WorkflowError(msg)
    chunks = tree.iterate(
        list(BRANCHES), step_size=step_size, entry_start=entry_start, entry_stop=entry_stop
    )
    for chunk in chunks:
        columns = {b: chunk[b] for b in BRANCHES}
        counts = {b: ak.to_numpy(ak.num(c)) for b, c in columns.items()}
        flat = {b: ak.to_numpy(ak.flatten(c)) for b, c in columns.items()}
        offsets = {b: np.concatenate([[0], np.cumsum(n)]) for b, n in counts.items()}
        for i in range(len(chunk)):
            yield {b: flat[b][offsets[b][i] : offsets[b][i + 1]] for b in BRANCHES}
