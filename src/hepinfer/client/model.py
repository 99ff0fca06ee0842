"""What the client knows about the model: inputs, outputs, batching (from ModelConfig)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ClientError
from hepinfer.protocol import config_to_wire, numpy_dtype


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One input or output: its name, wire datatype and dims without the batch dimension."""

    name: str
    datatype: str
    dims: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The numpy dtype of the tensor."""
        return numpy_dtype(self.datatype)

    def empty_shape(self, batch: int | None) -> tuple[int, ...]:
        """A shape with no elements (variable dims as 0), with a batch dim of 0 if batching."""
        dims = tuple(max(d, 0) for d in self.dims)
        return dims if batch is None else (batch, *dims)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model's interface as the server reports it."""

    name: str
    version: str
    max_batch_size: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def batching(self) -> bool:
        """Whether the first dimension of every tensor is the batch (max_batch_size > 0)."""
        return self.max_batch_size > 0

    @classmethod
    def from_config(cls, config: mc.ModelConfig, version: str) -> ModelInfo:
        """Read a ModelConfig (as ModelConfig RPC returns it)."""

        def info(tensor: mc.ModelInput | mc.ModelOutput) -> TensorInfo:
            type_name = mc.DataType.Name(tensor.data_type)
            dims = tuple(int(d) for d in tensor.dims)
            return TensorInfo(tensor.name, config_to_wire(type_name), dims)

        if not config.input or not config.output:
            msg = (
                f"model {config.name!r} on the server has {len(config.input)} inputs and "
                f"{len(config.output)} outputs; it needs at least one of each"
            )
            raise ClientError(msg)
        return cls(
            config.name,
            version,
            int(config.max_batch_size),
            tuple(info(t) for t in config.input),
            tuple(info(t) for t in config.output),
        )

    def select_outputs(self, names: Sequence[str]) -> tuple[TensorInfo, ...]:
        """The outputs to request: `names`, or all when empty."""
        if not names:
            return self.outputs
        known = {o.name: o for o in self.outputs}
        missing = [n for n in names if n not in known]
        if missing:
            msg = f"model {self.name!r} has no output(s) {missing}; its outputs are {sorted(known)}"
            raise ClientError(msg)
        return tuple(known[n] for n in names)
