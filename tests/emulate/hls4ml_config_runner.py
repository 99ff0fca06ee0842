"""Run hls4ml on its own configurations (executed with hls4ml's python, not collected).

Usage: python hls4ml_config_runner.py SPEC.json
SPEC: {"json", "h5", "x", "y", "out_dir", "config_out", and either "granularity" (hls4ml's
config_from_keras_model of that granularity, every 'auto' pinned by `pin` unless "pin" is
false) or "yaml" (an `hls4ml convert` YAML, converted by hls4ml.converters.convert_from_config);
optional "types_out" (every layer's types as hls4ml set them, JSON)}.
Writes hls4ml's predict() output (float64) to "y" and the exact HLSConfig it used to
"config_out" (JSON), for hepinfer to compile unchanged.
"""

import json
import sys
from pathlib import Path

from hls4ml_common import dense_keras_model, predict_to

#: concrete types for hls4ml's 'auto' entries (its auto types flatten this model's softmax);
#: per variable, so that the type and name levels are visible in the result
PINS = {
    "result": "ap_fixed<18,8>",
    "weight": "ap_fixed<10,3,AP_RND,AP_SAT>",
    "bias": "ap_fixed<12,4>",
    "accum": "ap_fixed<24,10>",
}


def pin(config: dict) -> dict:
    """Replace every 'auto' by the PINS type of its variable; all other keys stay."""
    for level in [config.get("Model", {})] + [
        v for key in ("LayerType", "LayerName") for v in config.get(key, {}).values()
    ]:
        precision = level.get("Precision")
        if isinstance(precision, dict):
            for var, value in precision.items():
                if value == "auto":
                    precision[var] = PINS[var]
    return config


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml

    if "yaml" in spec:
        # what `hls4ml convert -c FILE` does; hls4ml 1.3's convert_from_config returns None
        # for KerasJson/KerasH5 files, so those go to keras_v2_to_hls (which reads them)
        yaml_config = hls4ml.converters.parse_yaml_config(spec["yaml"])
        hls_model = hls4ml.converters.convert_from_config(yaml_config)
        if hls_model is None and "KerasJson" in yaml_config:
            hls_model = hls4ml.converters.keras_v2_to_hls(yaml_config)
        used = {}
    else:
        model = dense_keras_model(spec)
        config = hls4ml.utils.config_from_keras_model(model, granularity=spec["granularity"])
        if spec.get("pin", True):
            config = pin(config)
        used = json.loads(json.dumps(config))  # before hls4ml adds its own entries
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=config,
            output_dir=spec["out_dir"],
            backend="Vitis",
            io_type="io_parallel",
            part="xcu250-figd2104-2L-e",
        )
    predict_to(hls_model, spec)
    Path(spec["config_out"]).write_text(json.dumps(used))
    return 0


if __name__ == "__main__":
    sys.exit(main())
