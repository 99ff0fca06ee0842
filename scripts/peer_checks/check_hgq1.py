"""End-to-end check of the HGQ 1 peer: HGQ model -> proxy model (Keras 2 JSON + HDF5) ->
hls4ml's Keras 2 JSON path -> Vitis C++ -> compile -> predict.

Run with the qkeras venv's python (HGQ 0.2.6 is installed into it):
    peers/qkeras/bin/python scripts/peer_checks/check_hgq1.py WORKDIR
HGQ 1 proxy models are bit-exact in hls4ml 1.3: exits 1 unless hls4ml's C simulation equals
the proxy model's own Keras output on every input.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(workdir: Path) -> int:
    import HGQ
    import hls4ml
    import tensorflow as tf
    from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax

    workdir.mkdir(parents=True, exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(16,), name="features"),
            HQuantize(beta=0.0, name="inp_q"),
            HDense(8, activation="relu", beta=0.0, name="dense1"),
            HDense(4, beta=0.0, name="dense2"),
        ]
    )
    x = np.random.default_rng(1).uniform(-4, 4, size=(256, 16)).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    proxy = to_proxy_model(model)
    (workdir / "proxy.json").write_text(proxy.to_json())
    proxy.save_weights(str(workdir / "proxy_weights.h5"))
    hls_model = hls4ml.converters.keras_v2_to_hls(
        {
            "KerasJson": str(workdir / "proxy.json"),
            "KerasH5": str(workdir / "proxy_weights.h5"),
            "OutputDir": str(workdir / "hls4ml_prj"),
            "Backend": "Vitis",
            "Part": "xcu250-figd2104-2L-e",
            "ProjectName": "myproject",
            "IOType": "io_parallel",
            "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        }
    )
    start = time.perf_counter()
    hls_model.compile()
    compile_s = time.perf_counter() - start
    expected = proxy.predict(x, verbose=0)
    got = np.asarray(hls_model.predict(x)).reshape(expected.shape)
    mismatches = int(np.sum(got != expected))
    print(
        f"HGQ {HGQ.__version__} + hls4ml {hls4ml.__version__}: compile {compile_s:.1f} s, "
        f"{mismatches} of {expected.size} outputs differ from the proxy model"
    )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
