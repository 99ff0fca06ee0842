"""Triton python-backend models for the tests, written exactly as for Triton 2.51."""

from __future__ import annotations

from pathlib import Path

#: uses every pb_utils API hepinfer provides (except decoupled senders): auto_complete_config,
#: initialize args and model_config, get_output_config_by_name, triton_string_to_numpy,
#: get_input_tensor_by_name, Tensor (as_numpy, name, to_dlpack/from_dlpack),
#: InferenceResponse with outputs or a TritonError, BLS (InferenceRequest.exec), Logger
ALL_APIS = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.add_input(
            {"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]})
        auto_complete_model_config.add_output(
            {"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]})
        auto_complete_model_config.add_output(
            {"name": "OUTPUT1", "data_type": "TYPE_FP64", "dims": [4]})
        auto_complete_model_config.add_output(
            {"name": "OUTPUT2", "data_type": "TYPE_STRING", "dims": [1]})
        auto_complete_model_config.set_max_batch_size(8)
        auto_complete_model_config.set_dynamic_batching()
        return auto_complete_model_config

    def initialize(self, args):
        self.model_config = json.loads(args["model_config"])
        self.name = args["model_name"]
        self.version = args["model_version"]
        self.kind = args["model_instance_kind"]
        self.bls_model = self.model_config["parameters"]["bls_model"]["string_value"]
        self.dtypes = {
            name: pb_utils.triton_string_to_numpy(
                pb_utils.get_output_config_by_name(self.model_config, name)["data_type"])
            for name in ("OUTPUT0", "OUTPUT1", "OUTPUT2")
        }
        pb_utils.Logger.log_info(f"initialized {args['model_instance_name']}")

    def execute(self, requests):
        responses = []
        for request in requests:
            tensor = pb_utils.get_input_tensor_by_name(request, "INPUT0")
            x = tensor.as_numpy()
            if tensor.name() != "INPUT0" or np.any(x < -1000):
                error = pb_utils.TritonError(f"INPUT0 has values below -1000: {x.min()}")
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            bls = pb_utils.InferenceRequest(
                model_name=self.bls_model,
                requested_output_names=["SCALED"],
                inputs=[pb_utils.Tensor("X", x)],
            )
            answer = bls.exec()
            if answer.has_error():
                raise pb_utils.TritonModelException(answer.error().message())
            scaled = pb_utils.get_output_tensor_by_name(answer, "SCALED").as_numpy()
            total = pb_utils.Tensor("tmp", (scaled + x).astype(self.dtypes["OUTPUT0"]))
            out0 = pb_utils.Tensor.from_dlpack("OUTPUT0", total.to_dlpack())
            out1 = pb_utils.Tensor("OUTPUT1", (x.astype(np.float64) ** 2).astype(self.dtypes["OUTPUT1"]))
            text = np.array(
                [[f"{self.name}/{self.version}/{self.kind}:{row.sum():.3f}".encode()] for row in x],
                dtype=self.dtypes["OUTPUT2"],
            )
            out2 = pb_utils.Tensor("OUTPUT2", text)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out0, out1, out2]))
        return responses

    def finalize(self):
        pb_utils.Logger.log_info("finalized")
"""

ALL_APIS_CONFIG = """
backend: "python"
parameters: {{ key: "bls_model" value: {{ string_value: "{bls}" }} }}
"""

#: the BLS target: SCALED = 2 * X (a python model too, so Triton serves it as well)
SCALE = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor(
                "SCALED", 2 * pb_utils.get_input_tensor_by_name(r, "X").as_numpy())])
            for r in requests
        ]
"""

SCALE_CONFIG = """
backend: "python"
max_batch_size: 8
input [{ name: "X" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "SCALED" data_type: TYPE_FP32 dims: [4] }]
"""

#: the cheapest python model: OUTPUT0 = INPUT0 (the overhead benchmark's model)
IDENTITY = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())])
            for r in requests
        ]
"""

IDENTITY_CONFIG = """
backend: "python"
max_batch_size: 0
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [-1] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [-1] }]
"""


def write_python_model(repo: Path, name: str, code: str, config: str) -> Path:
    """``repo/name/config.pbtxt`` and ``repo/name/1/model.py``; returns the model folder."""
    folder = repo / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(config)
    (folder / "1" / "model.py").write_text(code)
    return folder


def write_all_apis_repository(repo: Path) -> Path:
    """``pb_all`` (every API, BLS to ``pb_scale``) and ``pb_scale``, servable by both servers."""
    write_python_model(repo, "pb_scale", SCALE, SCALE_CONFIG)
    write_python_model(repo, "pb_all", ALL_APIS, ALL_APIS_CONFIG.format(bls="pb_scale"))
    return repo
