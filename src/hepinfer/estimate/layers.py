"""Layer descriptions the estimator costs (the public names of `hepinfer.ops.cost`).

The records are defined in `hepinfer.ops.cost`, below the estimator, because each operator's
``cost`` hook (in its own module of `hepinfer.ops`) returns them; hand-written layer lists
use them from here or from `hepinfer.estimate`.
"""

from hepinfer.knobs import IOType, Strategy
from hepinfer.ops.cost import (
    ACTIVATIONS,
    DEFAULT_PRECISION,
    SIMPLE_ACTIVATIONS,
    TABLE_ACTIVATIONS,
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    FixedLike,
    LayerCost,
    NodeContext,
    PoolCost,
    RecurrentCost,
    WeightKind,
    as_fixed,
    fixed_or,
)

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_PRECISION",
    "SIMPLE_ACTIVATIONS",
    "TABLE_ACTIVATIONS",
    "ActivationCost",
    "BatchNormCost",
    "ConvCost",
    "DenseCost",
    "ElementwiseCost",
    "FixedLike",
    "IOType",
    "LayerCost",
    "NodeContext",
    "PoolCost",
    "RecurrentCost",
    "Strategy",
    "WeightKind",
    "as_fixed",
    "fixed_or",
]
