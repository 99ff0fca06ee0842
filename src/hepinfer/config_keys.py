"""Every key hls4ml 1.3 writes or reads in a configuration, and what hepinfer does with it.

hls4ml's `config_from_*_model` and `hls4ml convert` YAML files carry keys that steer hls4ml's
own tooling (tracing, BRAM mapping of weights, optimizer flows, ...). A configuration written
for hls4ml must compile here unchanged, so each such key is either *applied* with hls4ml's
meaning (`APPLIED`, `PRECISION_ALIASES`) or *accepted with a note* (`NO_EFFECT`: the reason it
changes nothing here). Anything else is a ConfigError with a close-match suggestion.

The lists were read from hls4ml 1.3.0's source: `hls4ml/model/graph.py` (`HLSConfig`),
`hls4ml/utils/config.py` (`config_from_*_model`, `create_config`), the configurable
attributes of every class in `hls4ml.model.layers.layer_map` (Vitis backend) and
`hls4ml/converters/__init__.py` (`convert_from_config`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "APPLIED",
    "CONVERT_KEYS",
    "HLS4ML_LAYER_CLASSES",
    "NO_EFFECT",
    "NO_EFFECT_PRECISIONS",
    "PRECISION_ALIASES",
    "TOP_NO_EFFECT",
    "snake",
    "suggest",
]


def snake(key: str) -> str:
    """hls4ml's `convert_to_snake_case`: 'ReuseFactor' and 'reuse_factor' name one setting."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower().replace("__", "_")


def suggest(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices` (difflib), or ''."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: level keys applied with hls4ml's meaning, by snake_case spelling -> LevelConfig field
APPLIED = {
    "precision": "precision",
    "reuse_factor": "reuse_factor",
    "strategy": "strategy",
    "implementation": "implementation",
    "table_size": "table_size",
    "table_range_power2": "table_range_power2",
    "parallelization_factor": "parallelization_factor",
}

_TRACE = "hls4ml's trace output (its per-layer debugging aid); use CompiledModel.trace instead"
_BRAM = (
    "weights are mapped to BRAM by the HLS tool here; hls4ml's BramFactor threshold only "
    "moves weights of larger layers out of the top function"
)

#: level keys (snake_case) accepted without effect, with the reason
NO_EFFECT = {
    "trace": _TRACE,
    "trace_output": _TRACE,
    "bram_factor": _BRAM,
    "target_cycles": "used only by hls4ml's Catapult/oneAPI backends",
    "conv_implementation": "hepinfer's convolutions use the line buffer (hls4ml's default)",
    "compression": "hls4ml's compressed (sparse) weight storage is not implemented",
    "pipeline_style": "the generated project pipelines every layer (hls4ml's 'auto')",
    "pipeline_interval": "the initiation interval follows from the reuse factor here",
    "skip": "hls4ml's Softmax 'skip' (drop the softmax) is not implemented; remove the layer",
    "static": "hls4ml's static and non-static recurrent kernels give the same bits; hepinfer's "
    "keeps the state in local variables, reset for every sequence",
    "direction": "recurrent layers run forward here (Bidirectional is not supported yet)",
    "recurrent_reuse_factor": "the recurrent product uses the layer's ReuseFactor (as hls4ml's "
    "Vivado backend sets it)",
    "algorithm": "UpSampling/Resize layers are not supported by hepinfer",
    "time_step_loop_parallelism": "a TimeDistributed layer is its inner layer on every step "
    "at once here (the steps unrolled in io_parallel, one after another in io_stream)",
    "depthwise_reuse_factor": "both parts of a separable convolution use its ReuseFactor",
    "pointwise_reuse_factor": "both parts of a separable convolution use its ReuseFactor",
    "channels_last_conversion": "hepinfer's PyTorch frontend keeps PyTorch's layout itself",
    "transpose_outputs": "outputs keep the model's layout here",
    "input_shape": "give the input shape with --input-shape / compile(input_shape=...)",
}

#: precision variables hls4ml names differently; hepinfer's Softmax uses one `table` type for
#: its exponential table, its inverse table and the inverse-table index (all three default to
#: hls4ml's ap_fixed<18,8,AP_RND,AP_SAT>); a parametrised activation's `param` (LeakyReLU,
#: ELU, ThresholdedReLU, PReLU) is its `weight` here
PRECISION_ALIASES = {
    "scale": "weight",
    "param": "weight",
    "embeddings": "weight",
    "exp_table": "table",
    "inv_table": "table",
    "inv_inp": "table",
    "edge_weight": "table",
    "aggr": "accum",
}

#: precision variables of layers hepinfer does not implement (accepted, noted)
NO_EFFECT_PRECISIONS = {
    "maximum": "the cap of hls4ml's 'auto' bit growth; hepinfer's 'auto' never overflows",
    "slope": "HardActivation's slope is fixed here",
    "shift": "HardActivation's shift is fixed here",
    "edge_weight_aggr": "GarNet's sums of edge weights never leave hls4ml's default type",
    "norm": "GarNet's mean_by_nvert normalisation keeps hls4ml's default ap_ufixed<14,4> (its "
    "integer quotient V/R / n fits it unless V/R >= 16)",
}

#: top-level keys of an hls4ml configuration that do nothing here, with the reason
TOP_NO_EFFECT = {
    "Backend": "hepinfer writes one Vitis/Vivado HLS project (hls4ml's Vivado/Vitis backends)",
    "Version": "the project version string of hls4ml's writer",
    "ClockUncertainty": "the HLS tool's default clock uncertainty applies",
    "Stamp": "hls4ml's project stamp",
    "WriterConfig": "hls4ml's writer options (weights are always written to files)",
    "Flows": "hls4ml's optimizer flows; hepinfer's passes are fixed",
    "Optimizers": "hls4ml's optimizer flows; hepinfer's passes are fixed",
    "SkipOptimizers": "hls4ml's optimizer flows; hepinfer's passes are fixed",
    "InputShape": "give the input shape with --input-shape",
    "InputData": "hls4ml's test bench data; give it to `hepinfer csim -i`",
    "OutputPredictions": "hls4ml's test bench data; `hepinfer hls --test-inputs` writes ours",
}

#: keys of an `hls4ml convert` YAML that name the model and the project (`hepinfer convert`)
CONVERT_KEYS = (
    "KerasJson",
    "KerasH5",
    "KerasModel",
    "OnnxModel",
    "PytorchModel",
    "OutputDir",
    "ProjectName",
)

#: hls4ml 1.3's layer classes (`hls4ml.model.layers.layer_map`): a LayerType entry naming one
#: that the model does not contain is noted, anything else is a misspelling
HLS4ML_LAYER_CLASSES = frozenset(
    [
        "Activation",
        "ApplyAlpha",
        "AveragePooling1D",
        "AveragePooling2D",
        "BatchNormOnnx",
        "BatchNormalization",
        "BatchNormalizationQuantizedTanh",
        "BiasAdd",
        "Bidirectional",
        "BinaryConv2D",
        "BinaryDense",
        "BipolarQuant",
        "Broadcast",
        "Clone",
        "Concatenate",
        "Constant",
        "Conv",
        "Conv1D",
        "Conv2D",
        "Cropping1D",
        "Cropping2D",
        "DACombinational",
        "Dense",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "Dot",
        "ELU",
        "Einsum",
        "EinsumDense",
        "Embedding",
        "FixedPointQuantizer",
        "GRU",
        "GarNet",
        "GarNetStack",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "HardActivation",
        "Input",
        "InputLayer",
        "IntQuant",
        "LSTM",
        "LayerGroup",
        "LayerNormalization",
        "LeakyReLU",
        "MatMul",
        "MaxPooling1D",
        "MaxPooling2D",
        "Merge",
        "PReLU",
        "PointwiseConv1D",
        "PointwiseConv2D",
        "QActivation",
        "QBatchNormalization",
        "QConv1D",
        "QConv2D",
        "QConv2DBatchnorm",
        "QDense",
        "QDepthwiseConv2D",
        "QGRU",
        "QLSTM",
        "QSeparableConv1D",
        "QSeparableConv2D",
        "QSimpleRNN",
        "Quant",
        "Repack",
        "Reshape",
        "Resize",
        "SeparableConv1D",
        "SeparableConv2D",
        "SimpleRNN",
        "Softmax",
        "SymbolicExpression",
        "TernaryDense",
        "TernaryTanh",
        "ThresholdedReLU",
        "TimeDistributed",
        "Transpose",
        "UnaryLUT",
        "UpSampling1D",
        "UpSampling2D",
        "ZeroPadding1D",
        "ZeroPadding2D",
    ]
)
