"""TorchScript backend (Triton's ``pytorch_libtorch`` platform / ``pytorch`` backend).

Models load with ``map_location="cpu"`` (SONIC models are often traced on CUDA). Inputs are
passed positionally, as Triton does: names ending in ``__<index>`` (``INPUT__0``,
``pf_points__0``) give the position; otherwise the config order is the argument order.
Outputs map the same way onto the returned tensor or tuple.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import MissingDependencyError, ServeError
from hepinfer.serve.devices import CPU, Device

_INDEXED = re.compile(r"__(\d+)$")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        feature = "the pytorch_libtorch backend"
        package = "torch"
        raise MissingDependencyError(package, "torch", feature) from None
    return torch


def _order(names: Sequence[str]) -> dict[str, int]:
    """Position of each tensor: the ``__<index>`` suffix if all names have one, else order."""
    matches = [_INDEXED.search(n) for n in names]
    if names and all(matches):
        return {n: int(m.group(1)) for n, m in zip(names, matches, strict=True) if m}
    return {n: i for i, n in enumerate(names)}


def torch_device(config: mc.ModelConfig, device: Device, cuda_devices: int) -> str:
    """The torch device string of an instance on `device` (``cpu`` or ``cuda:N``), refused
    with the reason where this torch cannot reach that GPU (a CPU build, or fewer devices).
    """
    if device.kind == "cpu":
        return "cpu"
    if device.index >= cuda_devices:
        msg = (
            f"model {config.name!r}: an instance on {device} needs torch with CUDA, and this "
            f"torch sees {cuda_devices} CUDA device(s) (a CPU-only build sees none); install "
            "a CUDA build of torch, or use instance_group kind: KIND_CPU"
        )
        raise ServeError(msg)
    return str(device)


class PyTorchInstance:
    """One TorchScript module, on the CPU or a CUDA device (inputs moved there and outputs
    back, as Triton's pytorch backend does for ``KIND_GPU`` instances).
    """

    def __init__(self, path: Path, config: mc.ModelConfig, device: Device = CPU) -> None:
        torch = _torch()
        self._torch = torch
        cuda = torch.cuda.device_count() if device.kind == "gpu" else 0
        self._device = torch_device(config, device, cuda)
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript, which Triton's pytorch backend serves
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
                self._module = torch.jit.load(str(path), map_location=self._device).eval()
        except Exception as exc:
            msg = f"model {config.name!r}: torch.jit.load cannot load {path}: {exc}"
            raise ServeError(msg) from exc
        in_order = _order([i.name for i in config.input])
        self._inputs = sorted(in_order, key=in_order.__getitem__)
        self._outputs = _order([o.name for o in config.output])

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(np.array(inputs[n])) for n in self._inputs]
        if self._device != "cpu":
            args = [a.to(self._device, non_blocking=True) for a in args]
        with torch.inference_mode():
            result = self._module(*args)
        if isinstance(result, torch.Tensor):
            result = (result,)
        elif isinstance(result, dict):
            return {n: result[n].cpu().numpy() for n in outputs}
        return {n: result[self._outputs[n]].cpu().numpy() for n in outputs}

    def close(self) -> None:
        del self._module


class PyTorchBackend:
    """Serves TorchScript ``model.pt`` files."""

    platforms: tuple[str, ...] = ("pytorch_libtorch",)
    default_filename = "model.pt"

    def load(self, path: Path, config: mc.ModelConfig) -> PyTorchInstance:
        return PyTorchInstance(path, config)

    def load_on(self, path: Path, config: mc.ModelConfig, device: Device) -> PyTorchInstance:
        return PyTorchInstance(path, config, device)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        msg = (
            f"model {config.name!r}: TorchScript models carry no tensor types; write a "
            f"config.pbtxt with inputs and outputs next to {path.parent}"
        )
        raise ServeError(msg)
