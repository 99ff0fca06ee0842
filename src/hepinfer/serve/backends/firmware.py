"""hepinfer firmware backend (``backend: "hepinfer"`` / ``platform: "hepinfer_firmware"``).

Serves a model compiled by hepinfer through its bit-exact emulator (FPGA-as-a-service): the
model file is the folder `CompiledModel.save` writes (``<repo>/<model>/<version>/
model.hepinfer/``), so ``hepinfer compile MODEL -o repo/jets/1/model.hepinfer`` followed by
``hepinfer serve repo`` serves it without a ``config.pbtxt``. The compiler is imported only when
such a model loads.

Tensors are named after the graph's inputs and outputs and are ``TYPE_FP32`` (or
``TYPE_FP64``, per tensor). Outputs are the emulator's float64 values cast to the tensor's type:
a fixed-point value of width <= 24 bits (with a moderate exponent range) is exact in float32,
so FP32 outputs are then bit-exact; wider output types are logged at load and should be served
as ``TYPE_FP64``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import HepinferError, ProtocolError, ServeError

if TYPE_CHECKING:
    from hepinfer.compiled import CompiledModel

log = logging.getLogger(__name__)

#: the widest fixed-point type whose every value is exact in float32 (24-bit significand)
FP32_EXACT_WIDTH = 24
#: max_batch_size given to auto-completed configs (the emulator is vectorised over the batch)
DEFAULT_MAX_BATCH_SIZE = 64

_DTYPES: dict[int, np.dtype[Any]] = {
    mc.TYPE_FP32: np.dtype(np.float32),
    mc.TYPE_FP64: np.dtype(np.float64),
}


def _load(path: Path, name: str) -> CompiledModel:
    from hepinfer.compiled import load

    try:
        return load(path)
    except HepinferError as exc:
        msg = f"model {name!r}: cannot load the compiled model {path}: {exc}"
        raise ServeError(msg) from exc


def _shapes(model: CompiledModel) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Per-sample shapes of the graph's inputs and outputs, by name, in graph order."""
    graph = model.graph
    inputs = {n.name: n.out.shape for n in graph.inputs}
    outputs = {o: graph.node(o).out.shape for o in graph.outputs}
    return inputs, outputs


def _check_tensors(
    config: mc.ModelConfig,
    kind: str,
    tensors: Sequence[mc.ModelInput] | Sequence[mc.ModelOutput],
    graph: Mapping[str, tuple[int, ...]],
    lead: int,
) -> None:
    """Names, types and dims of the config's tensors against the graph's (`lead`: batch dims)."""
    for t in tensors:
        if t.name not in graph:
            msg = (
                f"model {config.name!r}: {kind} {t.name!r} is not a graph {kind} of the "
                f"compiled model; its {kind}s are {', '.join(graph)}"
            )
            raise ServeError(msg)
        if t.data_type not in _DTYPES:
            msg = (
                f"model {config.name!r}: {kind} {t.name!r} has data_type "
                f"{mc.DataType.Name(t.data_type)}; the hepinfer backend takes TYPE_FP32 or "
                "TYPE_FP64"
            )
            raise ServeError(msg)
        dims = tuple(t.dims)[lead:]
        want = graph[t.name]
        if len(dims) != len(want) or any(d not in (-1, w) for d, w in zip(dims, want, strict=True)):
            batch = "[-1] + " if lead else ""
            msg = (
                f"model {config.name!r}: {kind} {t.name!r} has dims {list(t.dims)}, but the "
                f"compiled model's is {batch}{list(want)}; set dims: {list(want)} (with "
                "max_batch_size > 0) or [-1, ...] (max_batch_size 0, batch in the dims)"
            )
            raise ServeError(msg)
    missing = [n for n in graph if n not in {t.name for t in tensors}]
    if kind == "input" and missing:
        msg = f"model {config.name!r}: the config lacks the graph inputs {', '.join(missing)}"
        raise ServeError(msg)


def _leading_dims(config: mc.ModelConfig, inputs: Mapping[str, tuple[int, ...]]) -> int:
    """1 when an unbatched config carries the batch in its dims ([-1, ...]), else 0."""
    if config.max_batch_size > 0:
        return 0
    extra = {len(t.dims) - len(inputs[t.name]) for t in config.input if t.name in inputs}
    return 1 if extra == {1} else 0


class FirmwareInstance:
    """One compiled model run by the bit-exact fixed-point emulator."""

    def __init__(self, path: Path, config: mc.ModelConfig) -> None:
        from hepinfer.emulate.run import emulate

        self._emulate = emulate
        self._model = _load(path, config.name)
        inputs, outputs = _shapes(self._model)
        lead = _leading_dims(config, inputs)
        _check_tensors(config, "input", config.input, inputs, lead)
        _check_tensors(config, "output", config.output, outputs, lead)
        self._inputs = list(inputs)
        self._dtypes = {o.name: _DTYPES[o.data_type] for o in config.output}
        # batch first: a batching config, or an unbatched one whose dims are [-1, ...]
        self._batched = config.max_batch_size > 0 or lead == 1
        for o in config.output:
            result = self._model.graph.node(o.name).precision.result
            wide = result is not None and result.width > FP32_EXACT_WIDTH
            if o.data_type == mc.TYPE_FP32 and wide:
                log.warning(
                    "model %r: output %r is %s, wider than %d bits, so TYPE_FP32 may round "
                    "it; declare it TYPE_FP64 for bit-exact outputs",
                    config.name,
                    o.name,
                    result,
                    FP32_EXACT_WIDTH,
                )

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        feed = {n: inputs[n] if self._batched else inputs[n][None] for n in self._inputs}
        try:
            results = self._emulate(self._model.graph, feed)
        except HepinferError as exc:
            msg = f"the firmware emulator rejected the inputs: {exc}"
            raise ProtocolError(msg) from exc
        return {
            n: (results[n] if self._batched else results[n][0]).astype(self._dtypes[n])
            for n in outputs
        }

    def close(self) -> None:
        del self._model


class FirmwareBackend:
    """Serves ``model.hepinfer`` folders (saved `CompiledModel`s) with the emulator."""

    platforms: tuple[str, ...] = ("hepinfer_firmware",)
    default_filename = "model.hepinfer"

    def load(self, path: Path, config: mc.ModelConfig) -> FirmwareInstance:
        return FirmwareInstance(path, config)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        """Fill inputs, outputs (FP32) and max_batch_size (64, dynamic batching) from the graph."""
        inputs, outputs = _shapes(_load(path, config.name))
        if not config.platform and not config.backend:
            config.backend = "hepinfer"
        if config.max_batch_size == 0 and not config.input:
            config.max_batch_size = DEFAULT_MAX_BATCH_SIZE
            if not config.HasField("dynamic_batching"):
                config.dynamic_batching.SetInParent()
        for target, graph in ((config.input, inputs), (config.output, outputs)):
            known = {t.name for t in target}
            for name, shape in graph.items():
                if name not in known:
                    target.add(name=name, dims=list(shape), data_type=mc.TYPE_FP32)
