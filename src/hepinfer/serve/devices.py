"""Where model instances run: Triton's ``instance_group`` kinds and GPU ids.

As Triton 2.51: ``KIND_CPU`` instances run on the CPU; ``KIND_GPU`` puts ``count`` instances
on each GPU of ``gpus`` (every visible GPU when ``gpus`` is empty) and fails the load, with
Triton's own message, where no GPU is visible or an id is not one of them; ``KIND_AUTO`` is
``KIND_GPU`` where a GPU is visible and the backend can use it, else ``KIND_CPU``;
``KIND_MODEL`` leaves the choice to the model (hepinfer: the CPU). Backends that run on GPUs
(onnxruntime with its CUDA or TensorRT execution provider, TorchScript on CUDA) implement
`GpuBackend.load_on`; the others refuse a GPU instance by name.

GPUs are found without a CUDA library: the NVIDIA driver lists one folder per GPU under
``/proc/driver/nvidia/gpus``, and ``CUDA_VISIBLE_DEVICES`` narrows them as CUDA does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve.backends.base import ModelInstance

__all__ = ["CPU", "Device", "GpuBackend", "default_instance_group", "placements", "visible_gpus"]

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Device:
    """One place an instance runs: the CPU, or GPU ``index`` (CUDA's numbering)."""

    kind: Literal["cpu", "gpu"]
    index: int = 0

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


CPU = Device("cpu")


@runtime_checkable
class GpuBackend(Protocol):
    """A backend that can put an instance on a GPU."""

    def load_on(self, path: Path, config: mc.ModelConfig, device: Device) -> ModelInstance:
        """Load one instance of the model at `path` on `device`."""
        ...


def visible_gpus(
    driver: Path = NVIDIA_GPUS, environ: os._Environ[str] | dict[str, str] | None = None
) -> tuple[int, ...]:
    """CUDA device ids this process can use (``()`` without an NVIDIA driver or GPU).

    ``CUDA_VISIBLE_DEVICES`` as CUDA reads it: a comma list of physical indices, cut at the
    first entry that is not one (``""`` or ``-1`` hides every GPU); the visible ones are then
    numbered from 0.
    """
    env = os.environ if environ is None else environ
    try:
        physical = sum(1 for _ in driver.iterdir())
    except OSError:
        physical = 0
    mask = env.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return tuple(range(physical))
    visible = 0
    for text in mask.split(","):
        entry = text.strip()
        if not entry.isdigit() or int(entry) >= physical:
            break
        visible += 1
    return tuple(range(visible))


def default_instance_group(config: mc.ModelConfig, gpu_capable: bool, gpus: Sequence[int]) -> None:
    """Triton's default when the config has no ``instance_group``: one instance on each
    visible GPU where the backend runs on GPUs, else one on the CPU.
    """
    if config.instance_group:
        return
    if gpu_capable and gpus:
        config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_GPU)
    else:
        config.instance_group.add(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)


def placements(config: mc.ModelConfig, gpus: Sequence[int], gpu_capable: bool) -> list[Device]:
    """One `Device` per instance the config's ``instance_group`` asks for (Triton's rules)."""
    devices: list[Device] = []
    for i, group in enumerate(config.instance_group):
        name = group.name or f"{config.name}_{i}"
        count = group.count if group.count > 0 else 1
        kind = group.kind
        if kind == mc.ModelInstanceGroup.KIND_AUTO:
            gpu = gpu_capable and bool(gpus)
            kind = mc.ModelInstanceGroup.KIND_GPU if gpu else mc.ModelInstanceGroup.KIND_CPU
        if kind != mc.ModelInstanceGroup.KIND_GPU:
            devices += [CPU] * count
            continue
        if not gpus:
            msg = (
                f"instance group {name} of model {config.name} has kind KIND_GPU but no GPUs "
                "are available (no NVIDIA driver lists a GPU in "
                f"{NVIDIA_GPUS}, or CUDA_VISIBLE_DEVICES hides them); use kind: KIND_CPU "
                "or KIND_AUTO to run this model on the CPU"
            )
            raise ServeError(msg)
        ids = list(group.gpus) or list(gpus)
        for gpu_id in ids:
            if gpu_id not in gpus:
                msg = (
                    f"instance group {name} of model {config.name} specifies invalid or "
                    f"unsupported gpu id {gpu_id}. GPUs visible here are: "
                    f"{' '.join(str(g) for g in gpus)}"
                )
                raise ServeError(msg)
        devices += [Device("gpu", gpu_id) for gpu_id in ids for _ in range(count)]
    return devices or [CPU]
