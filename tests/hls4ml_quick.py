"""hls4ml's `ModelGraph.compile()` for the test oracles, with g++ -O1 instead of its -O3.

hls4ml's `build_lib.sh` compiles the generated project with `-O3`; the oracles run a few
thousand samples once, so most of their cost is that compile. -O1 gives the same bits (the
C++ is the same; only how fast it runs changes) in about 70 % of the compile time. Imported by
the runner scripts inside the peers' python (they put this folder on sys.path); not collected
by pytest.
"""

from pathlib import Path
from typing import Any

_HLS4ML_FLAGS = 'CFLAGS="-O3 -fPIC"'


def compile_quick(hls_model: Any) -> None:
    """`hls_model.compile()`, the project's library built with -O1."""
    hls_model.write()
    script = Path(hls_model.config.get_output_dir()) / "build_lib.sh"
    text = script.read_text()
    if _HLS4ML_FLAGS in text:  # hls4ml 1.3's Vivado/Vitis script; any other is left as it is
        script.write_text(text.replace(_HLS4ML_FLAGS, 'CFLAGS="-O1 -fPIC"'))
    hls_model._compile()
