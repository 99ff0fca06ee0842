"""Request validation against a model configuration, with Triton's error messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ProtocolError
from hepinfer.protocol.dtypes import WIRE_ITEMSIZE, config_to_wire
from hepinfer.protocol.messages import InferRequest


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output of a model configuration, in wire terms."""

    name: str
    datatype: str
    dims: tuple[int, ...]
    optional: bool = False
    ragged: bool = False

    @classmethod
    def from_config(cls, t: mc.ModelInput | mc.ModelOutput) -> TensorSpec:
        dtype = config_to_wire(mc.DataType.Name(t.data_type))
        optional = bool(getattr(t, "optional", False))
        ragged = bool(getattr(t, "allow_ragged_batch", False))
        return cls(t.name, dtype, tuple(t.dims), optional, ragged)

    def matches(self, dims: tuple[int, ...]) -> bool:
        """Whether a shape (without batch dimension) fits the configured dims (-1 = any)."""
        if len(dims) != len(self.dims):
            return False
        return all(want in (-1, got) for want, got in zip(self.dims, dims, strict=True))


def _shape(dims: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def validate_inputs(
    request: InferRequest,
    specs: Mapping[str, TensorSpec],
    arrays: Mapping[str, np.ndarray],
    max_batch_size: int,
) -> int:
    """Check names, datatypes, shapes and batch size; return the batch size (1 if unbatched).

    `arrays` holds the decoded data of each input (from the message or shared memory).
    """
    model = request.model_name
    for inp in request.inputs:
        spec = specs.get(inp.name)
        if spec is None:
            msg = (
                f"unexpected inference input '{inp.name}' for model '{model}'; it expects "
                f"{', '.join(repr(s) for s in specs)}"
            )
            raise ProtocolError(msg)
        if inp.datatype != spec.datatype:
            msg = (
                f"inference input '{inp.name}' data-type is '{inp.datatype}', but model "
                f"'{model}' expects '{spec.datatype}'"
            )
            raise ProtocolError(msg)
    required = [s.name for s in specs.values() if not s.optional]
    if len(arrays) != len(request.inputs) or any(n not in arrays for n in required):
        missing = [n for n in required if n not in arrays]
        msg = (
            f"expected {len(required)} inputs but got {len(request.inputs)} inputs for model "
            f"'{model}'" + (f"; missing {missing}" if missing else "; an input appears twice")
        )
        raise ProtocolError(msg)
    batch = 0
    for name, data in arrays.items():
        spec = specs[name]
        shape = data.shape
        if max_batch_size > 0:
            if not shape:
                msg = (
                    f"input '{name}' for model '{model}' has no batch dimension; the model "
                    f"batches (max_batch_size {max_batch_size}), send shape "
                    f"[batch]+{_shape(spec.dims)}"
                )
                raise ProtocolError(msg)
            if batch == 0:
                batch = shape[0]
            elif shape[0] != batch:
                msg = (
                    f"inputs of model '{model}' disagree on the batch size: '{name}' has "
                    f"{shape[0]}, others {batch}"
                )
                raise ProtocolError(msg)
            dims = shape[1:]
        else:
            dims = shape
        if not spec.matches(dims):
            full = _shape(spec.dims)
            if max_batch_size > 0:
                full = "[-1" + ("," if spec.dims else "") + full[1:]
            msg = (
                f"unexpected shape for input '{name}' for model '{model}'. Expected {full}, "
                f"got {_shape(shape)}"
            )
            raise ProtocolError(msg)
    if max_batch_size > 0:
        if batch < 1 or batch > max_batch_size:
            msg = (
                f"inference request batch-size must be <= {max_batch_size} for '{model}' "
                f"(and at least 1), got {batch}"
            )
            raise ProtocolError(msg)
        return batch
    return 1


def check_byte_size(name: str, datatype: str, shape: tuple[int, ...], size: int) -> None:
    """Check a shared-memory byte size against the tensor's shape."""
    itemsize = WIRE_ITEMSIZE.get(datatype)
    if itemsize is None:
        return
    expected = int(np.prod(shape, dtype=np.int64)) * itemsize
    if size != expected:
        msg = f"unexpected total byte size {size} for input '{name}', expecting {expected}"
        raise ProtocolError(msg)
