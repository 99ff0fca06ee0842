"""Instance placement: Triton's instance_group kinds, GPU ids, and the GPU backends' choices.

No GPU is lent to this machine, so the GPU paths are checked up to the device: the
placements and the providers/devices each backend would ask for, and the refusals a CPU-only
machine gives (the same as Triton 2.51's, checked against the peer).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve.backends.onnxruntime import OnnxRuntimeInstance, execution_providers
from hepinfer.serve.devices import CPU, Device, default_instance_group, placements, visible_gpus
from tests.serve.models import scale_model


def _config(text: str, name: str = "m") -> mc.ModelConfig:
    config = text_format.Parse(text, mc.ModelConfig())
    config.name = name
    return config


def _driver(tmp_path: Path, gpus: int) -> Path:
    driver = tmp_path / "gpus"
    driver.mkdir()
    for i in range(gpus):
        (driver / f"0000:{i:02x}:00.0").mkdir()
    return driver


@pytest.mark.parametrize(
    ("mask", "expected"),
    [(None, (0, 1, 2)), ("", ()), ("-1", ()), ("2,0", (0, 1)), ("1,7,0", (0,)), ("1, 2", (0, 1))],
)
def test_visible_gpus_follow_cuda_visible_devices(
    tmp_path: Path, mask: str | None, expected: tuple[int, ...]
) -> None:
    environ = {} if mask is None else {"CUDA_VISIBLE_DEVICES": mask}
    assert visible_gpus(_driver(tmp_path, 3), environ) == expected


def test_no_driver_means_no_gpu(tmp_path: Path) -> None:
    assert visible_gpus(tmp_path / "absent", {}) == ()


def test_placements_follow_tritons_instance_group_rules() -> None:
    gpu = _config("instance_group [{ kind: KIND_GPU count: 2 gpus: [1] }, { kind: KIND_CPU }]")
    assert placements(gpu, (0, 1), True) == [Device("gpu", 1), Device("gpu", 1), CPU]
    every = _config("instance_group [{ kind: KIND_GPU }]")
    assert placements(every, (0, 1), True) == [Device("gpu", 0), Device("gpu", 1)]
    auto = _config("instance_group [{ kind: KIND_AUTO count: 2 }]")
    assert placements(auto, (0,), True) == [Device("gpu", 0)] * 2
    assert placements(auto, (0,), False) == [CPU, CPU]  # a CPU-only backend
    assert placements(auto, (), True) == [CPU, CPU]
    assert placements(_config(""), (), True) == [CPU]
    assert str(Device("gpu", 3)) == "cuda:3"


def test_kind_gpu_without_a_gpu_is_refused_by_name() -> None:
    config = _config("instance_group [{ kind: KIND_GPU }]", name="tagger")
    with pytest.raises(ServeError, match="KIND_GPU but no GPUs are available") as info:
        placements(config, (), True)
    assert "instance group tagger_0 of model tagger" in str(info.value)
    assert "KIND_CPU" in str(info.value)  # what to do instead
    wrong = _config("instance_group [{ name: 'big' kind: KIND_GPU gpus: [0, 3] }]")
    with pytest.raises(ServeError, match=r"invalid or unsupported gpu id 3.*: 0 1"):
        placements(wrong, (0, 1), True)


def test_default_instance_group_is_one_per_gpu_where_the_backend_runs_there() -> None:
    config = _config("")
    default_instance_group(config, gpu_capable=True, gpus=(0, 1))
    assert [g.kind for g in config.instance_group] == [mc.ModelInstanceGroup.KIND_GPU]
    cpu = _config("")
    default_instance_group(cpu, gpu_capable=True, gpus=())
    assert [g.kind for g in cpu.instance_group] == [mc.ModelInstanceGroup.KIND_CPU]
    given = _config("instance_group [{ kind: KIND_CPU count: 3 }]")
    default_instance_group(given, gpu_capable=True, gpus=(0,))
    assert [g.count for g in given.instance_group] == [3]


def test_onnxruntime_providers_on_each_device() -> None:
    plain = _config("")
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers(plain, CPU, cuda) == ["CPUExecutionProvider"]
    assert execution_providers(plain, Device("gpu", 1), cuda) == [
        ("CUDAExecutionProvider", {"device_id": 1}),
        "CPUExecutionProvider",
    ]
    trt = _config(
        "optimization { execution_accelerators { gpu_execution_accelerator [{ name: 'tensorrt' }] } }"
    )
    with pytest.raises(ServeError, match="TensorrtExecutionProvider"):
        execution_providers(trt, Device("gpu", 0), cuda)
    assert execution_providers(trt, Device("gpu", 0), ["TensorrtExecutionProvider", *cuda])[0] == (
        "TensorrtExecutionProvider",
        {"device_id": 0},
    )


def test_a_cpu_onnxruntime_refuses_a_gpu_instance(tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the refusal is for CPU-only builds")
    scale_model(tmp_path / "model.onnx", 2.0)
    with pytest.raises(ServeError, match="install onnxruntime-gpu"):
        OnnxRuntimeInstance(tmp_path / "model.onnx", _config(""), Device("gpu", 0))


def test_a_cpu_torch_refuses_a_gpu_instance(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.serve.backends.pytorch import PyTorchInstance, torch_device

    assert torch_device(_config(""), CPU, 0) == "cpu"
    assert torch_device(_config(""), Device("gpu", 1), 2) == "cuda:1"
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA: the refusal is for CPU-only builds")
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript, which Triton serves
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(4, 2)), str(tmp_path / "model.pt"))
    config = _config("input [{ name: 'x' data_type: TYPE_FP32 dims: [4] }]")
    with pytest.raises(ServeError, match="sees 0 CUDA device"):
        PyTorchInstance(tmp_path / "model.pt", config, Device("gpu", 0))


def test_kind_gpu_on_a_machine_without_gpus_fails_as_in_triton(
    tritonserver_bin: Path, tmp_path: Path
) -> None:
    """A python-backend model with KIND_GPU on this GPU-less machine: Triton 2.51 fails its
    load with "instance group idg_0 of model idg has kind KIND_GPU but no GPUs are
    available"; hepinfer fails it with the same words (and what to do instead).
    """
    from hepinfer.serve import InferenceServer, ServerOptions
    from tests.peers_util import TritonPeer

    if visible_gpus():
        pytest.skip("a GPU is visible here")
    repo = tmp_path / "repo"
    (repo / "idg" / "1").mkdir(parents=True)
    (repo / "idg" / "1" / "model.py").write_text(
        "import triton_python_backend_utils as pb_utils\n"
        "class TritonPythonModel:\n"
        "    def execute(self, requests):\n"
        "        return [pb_utils.InferenceResponse([pb_utils.Tensor('OUT', "
        "pb_utils.get_input_tensor_by_name(r, 'IN').as_numpy())]) for r in requests]\n"
    )
    (repo / "idg" / "config.pbtxt").write_text(
        'name: "idg"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [{ name: "IN" data_type: TYPE_FP32 dims: [4] }]\n'
        'output [{ name: "OUT" data_type: TYPE_FP32 dims: [4] }]\n'
        "instance_group [{ kind: KIND_GPU count: 1 }]\n"
    )
    # the model fails its load: ready without it (--strict-readiness=false) to read the log
    args = ("--exit-on-error=false", "--strict-readiness=false")
    with TritonPeer(repo, binary=tritonserver_bin, extra_args=args) as triton:
        triton_log = triton.log()
    words = "instance group idg_0 of model idg has kind KIND_GPU but no GPUs are available"
    assert words in triton_log
    options = ServerOptions(
        [repo], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as ours:
        assert not ours.repository.ready("idg")
        assert words in ours.repository.failures()["idg"]
