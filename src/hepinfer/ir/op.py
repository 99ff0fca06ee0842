"""The kinds of operators the IR knows (one `hepinfer.ops` module each)."""

from __future__ import annotations

from enum import Enum


class Op(Enum):
    """Operator kinds. The value is the name used in the text form and in configurations."""

    INPUT = "Input"
    DENSE = "Dense"
    CONV1D = "Conv1D"
    CONV2D = "Conv2D"
    DEPTHWISE_CONV2D = "DepthwiseConv2D"
    BATCHNORM = "BatchNormalization"
    LINEAR = "Linear"
    RELU = "ReLU"
    LEAKY_RELU = "LeakyReLU"
    ELU = "ELU"
    SIGMOID = "Sigmoid"
    SOFTPLUS = "Softplus"
    TANH = "TanH"
    HARD_SIGMOID = "HardSigmoid"
    SOFTMAX = "Softmax"
    FLATTEN = "Flatten"
    RESHAPE = "Reshape"
    TRANSPOSE = "Transpose"
    MAXPOOL = "MaxPooling"
    AVGPOOL = "AveragePooling"
    GLOBAL_MAXPOOL = "GlobalMaxPooling"
    GLOBAL_AVGPOOL = "GlobalAveragePooling"
    ADD = "Add"
    MULTIPLY = "Multiply"
    CONCAT = "Concatenate"
    QUANT = "Quant"
    SOFTSIGN = "Softsign"
    SELU = "Selu"
    THRESHOLDED_RELU = "ThresholdedReLU"
    PRELU = "PReLU"
    SUBTRACT = "Subtract"
    AVERAGE = "Average"
    MAXIMUM = "Maximum"
    MINIMUM = "Minimum"
    LSTM = "LSTM"
    GRU = "GRU"
    SIMPLE_RNN = "SimpleRNN"
    CLIP = "Clip"
    BIPOLAR_QUANT = "BipolarQuant"
    MULTITHRESHOLD = "MultiThreshold"
    ZERO_PADDING = "ZeroPadding"
    CROPPING = "Cropping"
    UPSAMPLING = "UpSampling"
    DEPTHWISE_CONV1D = "DepthwiseConv1D"
    EMBEDDING = "Embedding"
    DOT = "Dot"
    LAYERNORM = "LayerNormalization"
    EINSUM_DENSE = "EinsumDense"
    EINSUM = "Einsum"
    FIXED_POINT_QUANTIZER = "FixedPointQuantizer"
    GARNET = "GarNet"
    GARNET_STACK = "GarNetStack"
    UNARY_LUT = "UnaryLUT"
    BIT_EXACT_SOFTMAX = "BitExactSoftmax"
    CONV_TRANSPOSE = "ConvTranspose"

    @classmethod
    def parse(cls, name: str) -> Op:
        """The Op whose value (case-insensitive) or member name is `name`."""
        low = name.lower()
        for op in cls:
            if op.value.lower() == low or op.name.lower() == low:
                return op
        known = ", ".join(op.value for op in cls)
        msg = f"unknown operator type {name!r}; known types: {known}"
        raise ValueError(msg)
