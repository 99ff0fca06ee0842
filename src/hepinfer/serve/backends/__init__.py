"""Model backends: onnxruntime, TorchScript, TensorFlow, and any registered by other packages."""
