"""Files of the instance process: the stub and ``triton_python_backend_utils``."""
