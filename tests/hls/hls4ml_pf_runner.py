"""Write hls4ml 1.3's io_parallel projects of one-convolution Keras 3 models (hls4ml's python).

Usage: python hls4ml_pf_runner.py SPEC.json
SPEC: {"cases": [{"input_shape": [...], "layer": {"class", "config"}, "hls_config": {...}}],
       "out_dir": dir, "result": out.json}. For every case builds Input -> layer, converts it
with `convert_from_keras_model` (Vitis, io_parallel), writes the project (no compile) and
records what hls4ml wrote for the convolution (Conv or DepthwiseConv, 1D / 2D): `n_partitions`,
`n_pixels` (its expression evaluated), `reuse_factor`, the layer's `parallelization_factor`,
the top function's pipeline pragma, the kernel's partition-loop pragma and hls4ml's printed
warnings. Kept out of pytest's
collection (no test_ prefix); tests/hls/test_parallelization.py calls it in a subprocess.
"""

import contextlib
import io
import json
import re
import sys
from pathlib import Path

#: the convolution classes whose schedule is recorded
CONVS = ("Conv1D", "Conv2D")  # by suffix: DepthwiseConv1D / DepthwiseConv2D too


def _const(text: str, config: str, key: str) -> str:
    block = text[text.index(f"struct {config} : nnet::conv") :]
    return re.search(rf"static const [\w:]+ {key} = ([^;]+);", block).group(1).strip()


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml
    import keras

    results = []
    for i, case in enumerate(spec["cases"]):
        inputs = keras.Input(tuple(case["input_shape"]), name="x_in")
        layer = getattr(keras.layers, case["layer"]["class"])(**case["layer"]["config"])
        model = keras.Model(inputs, layer(inputs))
        out_dir = Path(spec["out_dir"]) / f"case{i}"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            hls_model = hls4ml.converters.convert_from_keras_model(
                model,
                hls_config=case["hls_config"],
                output_dir=str(out_dir),
                project_name="oracle",
                backend="Vitis",
                part="xcu250-figd2104-2L-e",
                io_type="io_parallel",
            )
            hls_model.write()
        conv = next(n for n in hls_model.get_layers() if n.class_name.endswith(CONVS))
        params = (out_dir / "firmware" / "parameters.h").read_text()
        config = f"config{conv.index}"
        values = {
            key: _const(params, config, key)
            for key in ("n_partitions", "n_pixels", "out_width", "reuse_factor")
        }
        out_height = int(_const(params, config, "out_height")) if "2D" in conv.class_name else 1
        scope = {"out_width": int(values["out_width"]), "out_height": out_height}
        scope["n_partitions"] = int(values["n_partitions"])
        top = (out_dir / "firmware" / "oracle.cpp").read_text()
        family = "sepconv" if conv.class_name.startswith("Depthwise") else "conv"
        kernel = f"nnet_{family}{conv.class_name[-2:].lower()}_latency.h"
        loop = (out_dir / "firmware" / "nnet_utils" / kernel).read_text()
        results.append(
            {
                # None but on Conv1D / Conv2D (hls4ml stores the attribute on those only)
                "parallelization_factor": conv.get_attr("parallelization_factor"),
                "n_partitions": int(values["n_partitions"]),
                "n_pixels": int(
                    eval(values["n_pixels"], {}, scope)
                ),  # e.g. out_width / n_partitions
                "reuse_factor": int(values["reuse_factor"]),
                "top_pragma": re.search(r"#pragma HLS (DATAFLOW|PIPELINE)", top).group(1),
                "partition_pragma": re.search(
                    r"PartitionLoop:.*?#pragma HLS (PIPELINE[^\n]*)", loop, re.DOTALL
                ).group(1),
                "warnings": [
                    line for line in printed.getvalue().splitlines() if "Parallel" in line
                ],
            }
        )
    Path(spec["result"]).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
