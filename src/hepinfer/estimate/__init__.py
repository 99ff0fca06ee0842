"""Resource and latency estimates of FPGA firmware, without vendor tools.

Describe the layers (`DenseCost`, `ConvCost`, `ActivationCost`, `PoolCost`,
`BatchNormCost`, `ElementwiseCost`), then::

    from hepinfer.estimate import DenseCost, ActivationCost, estimate_layers

    est = estimate_layers(
        [DenseCost(name="fc1", n_in=16, n_out=64, input=(16, 6), weight=(16, 6)),
         ActivationCost(name="relu1", kind="relu", n=64)],
        part="xcu250", clock_period=5.0,
    )
    print(est.to_table()); est.to_json("est.json"); est.plot("est.png")

The model (one documented analytic model per operator and strategy) is described in
`hepinfer.estimate.operators`, `hepinfer.estimate.multipliers`, `hepinfer.estimate.timing`
and ``docs/estimate.md``; the published synthesis results it is checked against are in
``anchors.yaml`` (`hepinfer.estimate.anchors`).
"""

from hepinfer.estimate.diagnostics import (
    EstimateWarning,
    OverUtilisationWarning,
    ReuseFactorWarning,
    UnrollLimitWarning,
)
from hepinfer.estimate.layers import (
    DEFAULT_PRECISION,
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    FixedLike,
    IOType,
    LayerCost,
    PoolCost,
    Strategy,
    as_fixed,
)
from hepinfer.estimate.model import compose_latency, estimate_layers
from hepinfer.estimate.multipliers import MultiplierModel
from hepinfer.estimate.operators import valid_reuse_factors
from hepinfer.estimate.parts import Part, get_part, list_parts
from hepinfer.estimate.report import Estimate, LayerEstimate, Resources, Synthesised
from hepinfer.estimate.timing import Timing
from hepinfer.estimate.tools import DEFAULT_TOOL, TOOLS, ToolRules, tool_rules

__all__ = [
    "DEFAULT_PRECISION",
    "DEFAULT_TOOL",
    "TOOLS",
    "ActivationCost",
    "BatchNormCost",
    "ConvCost",
    "DenseCost",
    "ElementwiseCost",
    "Estimate",
    "EstimateWarning",
    "FixedLike",
    "IOType",
    "LayerCost",
    "LayerEstimate",
    "MultiplierModel",
    "OverUtilisationWarning",
    "Part",
    "PoolCost",
    "Resources",
    "ReuseFactorWarning",
    "Strategy",
    "Synthesised",
    "Timing",
    "ToolRules",
    "UnrollLimitWarning",
    "as_fixed",
    "compose_latency",
    "estimate_layers",
    "get_part",
    "list_parts",
    "tool_rules",
    "valid_reuse_factors",
]
