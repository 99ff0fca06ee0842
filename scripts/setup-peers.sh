#!/usr/bin/env bash
# Installs the peer tools hepinfer is judged against, each in its own virtual environment:
#   PREFIX/hls4ml  hls4ml 1.3.0 (Keras 3 on the torch CPU backend, ONNX)  the compiler peer
#   PREFIX/triton  NVIDIA Triton 2.51 from nvidia-pytriton 0.7.0 (python backend + onnxruntime)
#   PREFIX/pa      perf_analyzer 2.41 from tritonclient 2.41.0
#   PREFIX/qkeras  QKeras 0.9.0 on TensorFlow 2.14.1 (CPU, Keras 2) with hls4ml 1.3.0: the
#                  QKeras models' own framework and hls4ml's Keras 2 path
#   PREFIX/hls4ml  + HGQ2 0.2.0 (`hgq2`, with `quantizers`): peer `hgq2`, the HGQ2 models' own
#                  framework, added to the hls4ml venv (hls4ml, Keras and torch pinned as they are)
#   PREFIX/qkeras  + HGQ 0.2.6 (`HGQ`, HGQ 1 on Keras 2): peer `hgq1`, the HGQ 1 proxy models'
#                  own framework, added to the qkeras venv with --no-deps (its TensorFlow, Keras
#                  and numpy requirements are met there; nothing else moves)
#   PREFIX/hls4ml  + QONNX 1.0.0 (`qonnx`): peer `qonnx`, the clean-up and channels-last
#                  transforms hls4ml 1.3's ONNX converter needs, added to the hls4ml venv (hls4ml,
#                  numpy, onnx, onnxruntime, protobuf and torch pinned as they are)
#   PREFIX/hls4ml  + Brevitas 0.13.4 (`brevitas`): peer `brevitas`, the Brevitas models' own
#                  framework and its QONNX exporter, added to the hls4ml venv (after `qonnx`)
#                  with --no-deps: torch, numpy, onnx, sympy and packaging are there already;
#                  its small pure requirements (dependencies, unfoldNd) and onnxoptimizer
#                  (the TorchScript exporter's clean-up) are named
# plus wrappers PREFIX/bin/tritonserver and PREFIX/bin/perf_analyzer that set the library paths,
# and PREFIX/NOTES.md saying how to use them. Each peer is checked end to end, then gets a
# marker PREFIX/READY-<peer>; a peer whose marker exists and that still imports is skipped.
# Three chains run at once (triton -> pa; hls4ml -> hgq2 -> qonnx -> brevitas; qkeras -> hgq1):
# a fresh set-up takes about 1.5 min instead of 3.5 on two cores.
#
# Usage: scripts/setup-peers.sh [PREFIX] [PEER...]   (PREFIX default <repo>/peers; PEERs among
#        triton pa hls4ml qkeras hgq2 qonnx hgq1 brevitas, default all).  PEERS_PYTHON picks the interpreter (default python3),
#        PEERS_FORCE=1 re-installs and re-checks everything.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-$REPO/peers}"
shift || true
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(triton pa hls4ml qkeras hgq2 qonnx hgq1 brevitas)
PYTHON="${PEERS_PYTHON:-python3}"
FORCE="${PEERS_FORCE:-0}"

mkdir -p "$PREFIX/bin" "$PREFIX/logs"
PREFIX="$(cd "$PREFIX" && pwd)"
# Two set-ups of the same PREFIX at once (e.g. parallel `make test`) wait for each other.
exec 9>"$PREFIX/.setup.lock"
flock 9

log() { printf '[setup-peers %s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
CURRENT=""  # the peer being set up: its marker goes when the set-up fails
trap '[ -z "$CURRENT" ] || rm -f "$PREFIX/READY-$CURRENT"' EXIT

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null \
  || die "$PYTHON is not Python 3.9+; set PEERS_PYTHON to a Python 3.11 interpreter"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# The Triton python-backend stub embeds libpython: it must be this interpreter's own one.
PYLIBDIR="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"

wanted() { local p; for p in "${WANT[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

make_venv() {  # make_venv NAME PACKAGE...   (pip is idempotent: installed packages are kept)
  local venv="$PREFIX/$1"; shift
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@"
}

replace_file() {  # replace_file DEST < CONTENT: atomic (running servers keep the old file)
  local tmp="$1.tmp.$$"
  cat >"$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$1"
}

site_packages() {
  "$PREFIX/$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

mark_ready() {  # mark_ready PEER DESCRIPTION
  printf '%s\nverified %s by scripts/setup-peers.sh\n' "$2" "$(date -u +%FT%TZ)" \
    >"$PREFIX/READY-$1"
  log "$1 ready ($PREFIX/READY-$1)"
}

skip_if_ready() {  # skip_if_ready PEER QUICK-CHECK...: 0 (skip) when marked and still working
  local peer="$1"; shift
  [ "$FORCE" = 1 ] && return 1  # the marker stays unless the new check fails
  if [ -f "$PREFIX/READY-$peer" ] && "$@" >/dev/null 2>&1; then
    log "$peer already installed and working; skipped"
    return 0
  fi
  rm -f "$PREFIX/READY-$peer"
  return 1
}

# ---------------------------------------------------------------- Triton (nvidia-pytriton)
triton_quick() {
  [ -x "$PREFIX/bin/tritonserver" ] && [ -f "$PREFIX/triton/backends/python/libtriton_python.so" ] \
    && "$PREFIX/triton/bin/python" -c 'import onnxruntime, tritonclient.grpc'
}

setup_triton() {
  skip_if_ready triton triton_quick && return 0
  local start=$SECONDS
  log "installing Triton (nvidia-pytriton 0.7.0) into $PREFIX/triton"
  # onnx only builds the tiny model of the check below (and helps users write their own).
  make_venv triton "nvidia-pytriton==0.7.0" onnxruntime onnx
  local site tsdir stub backend
  site="$(site_packages triton)"
  tsdir="$site/pytriton/tritonserver"
  stub="$tsdir/python_backend_stubs/$PYVER/triton_python_backend_stub"
  [ -f "$stub" ] || die "no Triton python-backend stub for Python $PYVER in $tsdir; use Python 3.11"
  if [ ! -f "$PYLIBDIR/libpython$PYVER.so.1.0" ] && [ ! -f "$PYLIBDIR/libpython$PYVER.so" ]; then
    die "$PYTHON has no shared libpython in $PYLIBDIR (built without --enable-shared); the" \
      "Triton python-backend stub needs it: set PEERS_PYTHON to a shared-library build"
  fi
  backend="$PREFIX/triton/backends/python"
  mkdir -p "$backend"
  local file
  for file in "$tsdir/backends/python/libtriton_python.so" \
    "$tsdir/backends/python/triton_python_backend_utils.py" "$stub"; do
    replace_file "$backend/$(basename "$file")" <"$file"
  done
  replace_file "$PREFIX/bin/tritonserver" <<EOF
#!/usr/bin/env bash
# Triton Inference Server 2.51 from nvidia-pytriton 0.7.0 (written by scripts/setup-peers.sh).
# - LD_LIBRARY_PATH: the interpreter's own libpython (else the stub loads the system's
#   libpython against this interpreter's stdlib: '_recursion_count' errors) and the wheel's libs;
# - PATH: the stub finds 'python3' on PATH and, through its pyvenv.cfg, uses the triton venv's
#   site-packages (numpy, onnxruntime) for model.py;
# - --backend-directory: the python backend with the Python $PYVER stub.
export LD_LIBRARY_PATH="$PYLIBDIR:$site/nvidia_pytriton.libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$PREFIX/triton/bin:\$PATH"
exec "$tsdir/bin/tritonserver" --backend-directory="$PREFIX/triton/backends" "\$@"
EOF
  log "checking tritonserver end to end (python backend + onnxruntime, gRPC infer)"
  "$PREFIX/triton/bin/python" "$REPO/scripts/peer_checks/check_triton.py" "$PREFIX/logs/check-triton" \
    --tritonserver "$PREFIX/bin/tritonserver" || die "Triton check failed (see output above)"
  mark_ready triton "Triton 2.51 (nvidia-pytriton 0.7.0): $PREFIX/bin/tritonserver"
  log "triton: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- perf_analyzer (tritonclient)
pa_quick() { "$PREFIX/bin/perf_analyzer" --version; }

setup_pa() {
  skip_if_ready pa pa_quick && return 0
  local start=$SECONDS
  log "installing perf_analyzer (tritonclient 2.41.0) into $PREFIX/pa"
  make_venv pa "tritonclient==2.41.0" nvidia-cuda-runtime-cu12
  if ! ldconfig -p | grep -q 'libb64\.so\.0d'; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing Debian package libb64-0d (perf_analyzer links it)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libb64-0d \
      || { $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libb64-0d; }
  fi
  local site
  site="$(site_packages pa)"
  [ -d "$site/nvidia/cuda_runtime/lib" ] || die "no CUDA runtime in $site/nvidia/cuda_runtime/lib"
  replace_file "$PREFIX/bin/perf_analyzer" <<EOF
#!/usr/bin/env bash
# perf_analyzer 2.41 from tritonclient 2.41.0 (written by scripts/setup-peers.sh); it links
# libcudart.so.12 even for CPU-only runs: the nvidia-cuda-runtime-cu12 wheel provides it.
export LD_LIBRARY_PATH="$site/nvidia/cuda_runtime/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$PREFIX/pa/bin/perf_analyzer" "\$@"
EOF
  pa_quick >/dev/null 2>&1 || die "perf_analyzer does not start: $("$PREFIX/bin/perf_analyzer" --version 2>&1)"
  [ -f "$PREFIX/READY-triton" ] || die "perf_analyzer is checked against the Triton peer: set up triton first"
  log "checking perf_analyzer against tritonserver (concurrency mode, CSV)"
  "$PREFIX/triton/bin/python" "$REPO/scripts/peer_checks/check_triton.py" "$PREFIX/logs/check-pa" \
    --tritonserver "$PREFIX/bin/tritonserver" --perf-analyzer "$PREFIX/bin/perf_analyzer" \
    || die "perf_analyzer check failed (see output above)"
  mark_ready pa "perf_analyzer 2.41.0 (tritonclient 2.41.0): $PREFIX/bin/perf_analyzer"
  log "pa: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- hls4ml
hls4ml_quick() { KERAS_BACKEND=torch "$PREFIX/hls4ml/bin/python" -c 'import hls4ml'; }

setup_hls4ml() {
  skip_if_ready hls4ml hls4ml_quick && return 0
  local start=$SECONDS
  log "installing hls4ml 1.3.0 (with torch 2.13.0 CPU for Keras 3) into $PREFIX/hls4ml"
  # torch pinned in the same command: an unpinned torch would pull GBs of CUDA packages.
  make_venv hls4ml "torch==2.13.0" "hls4ml[keras-v3,onnx]==1.3.0" onnxruntime
  if "$PREFIX/hls4ml/bin/python" -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
    die "a CUDA build of torch got into $PREFIX/hls4ml; provide the torch 2.13.0 CPU wheel" \
      "(pip find-links) and re-run with PEERS_FORCE=1 after removing $PREFIX/hls4ml"
  fi
  log "checking hls4ml end to end (Keras Dense -> Vitis C++ -> compile -> predict)"
  KERAS_BACKEND=torch "$PREFIX/hls4ml/bin/python" "$REPO/scripts/peer_checks/check_hls4ml.py" \
    "$PREFIX/logs/check-hls4ml" || die "hls4ml check failed (see output above)"
  mark_ready hls4ml "hls4ml 1.3.0: KERAS_BACKEND=torch $PREFIX/hls4ml/bin/python"
  log "hls4ml: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- QKeras (TensorFlow, Keras 2)
qkeras_quick() { "$PREFIX/qkeras/bin/python" -c 'import qkeras, hls4ml' 2>/dev/null; }

setup_qkeras() {
  skip_if_ready qkeras qkeras_quick && return 0
  local start=$SECONDS
  log "installing QKeras 0.9.0 + TensorFlow 2.14.1 (CPU) + hls4ml 1.3.0 into $PREFIX/qkeras"
  # TensorFlow <= 2.14.1 is hls4ml 1.3's own pin for its qkeras extra (tf.keras is Keras 2 there;
  # tf_keras is the same Keras 2 for code that imports it by name); QKeras 0.9.0 imports
  # pyparsing without declaring it.
  make_venv qkeras "tensorflow-cpu==2.14.1" "tf_keras==2.14.1" "qkeras==0.9.0" \
    "tensorflow-model-optimization==0.7.5" "hls4ml==1.3.0" pyparsing
  log "checking QKeras + hls4ml end to end (QDense/QActivation -> Vitis C++ -> compile -> predict)"
  "$PREFIX/qkeras/bin/python" "$REPO/scripts/peer_checks/check_qkeras.py" \
    "$PREFIX/logs/check-qkeras" || die "QKeras check failed (see output above)"
  mark_ready qkeras "QKeras 0.9.0 + TensorFlow 2.14.1 + hls4ml 1.3.0: $PREFIX/qkeras/bin/python"
  log "qkeras: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- HGQ2 (in the hls4ml venv)
hgq2_quick() { KERAS_BACKEND=torch "$PREFIX/hls4ml/bin/python" -c 'import hgq, hls4ml' 2>/dev/null; }

setup_hgq2() {
  skip_if_ready hgq2 hgq2_quick && return 0
  local start=$SECONDS constraints
  [ -f "$PREFIX/READY-hls4ml" ] || die "HGQ2 goes into the hls4ml venv: set up hls4ml first"
  log "adding HGQ2 0.2.0 (hgq2 + quantizers) to $PREFIX/hls4ml"
  # hls4ml 1.3 converts HGQ2 models itself (keras_v3/hgq2); the versions already there stay
  # as they are (pip would otherwise be free to move Keras or torch).
  constraints="$PREFIX/logs/hgq2-constraints.txt"
  "$PREFIX/hls4ml/bin/python" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null \
    | grep -iE '^(hls4ml|keras|torch|numpy)==' >"$constraints"
  make_venv hls4ml -c "$constraints" "hgq2==0.2.0" "quantizers==1.2.2"
  log "checking HGQ2 + hls4ml end to end (QDense -> Vitis C++ -> compile -> predict)"
  KERAS_BACKEND=torch "$PREFIX/hls4ml/bin/python" "$REPO/scripts/peer_checks/check_hgq2.py" \
    "$PREFIX/logs/check-hgq2" || die "HGQ2 check failed (see output above)"
  mark_ready hgq2 "HGQ2 0.2.0 in the hls4ml venv: KERAS_BACKEND=torch $PREFIX/hls4ml/bin/python"
  log "hgq2: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- QONNX (in the hls4ml venv)
qonnx_quick() { "$PREFIX/hls4ml/bin/python" -c 'import qonnx.util.cleanup, hls4ml' 2>/dev/null; }

setup_qonnx() {
  skip_if_ready qonnx qonnx_quick && return 0
  local start=$SECONDS constraints
  [ -f "$PREFIX/READY-hls4ml" ] || die "QONNX goes into the hls4ml venv: set up hls4ml first"
  log "adding QONNX 1.0.0 to $PREFIX/hls4ml"
  # hls4ml 1.3 converts ONNX only after QONNX's clean-up and channels-last transforms (its
  # ONNX handlers refuse channels-first Conv/pooling and have no Gemm); the versions already
  # there stay as they are (pip would otherwise be free to move onnx, protobuf or numpy).
  constraints="$PREFIX/logs/qonnx-constraints.txt"
  "$PREFIX/hls4ml/bin/python" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null \
    | grep -iE '^(hls4ml|keras|torch|numpy|onnx|onnxruntime|protobuf)==' >"$constraints"
  make_venv hls4ml -c "$constraints" "qonnx==1.0.0"
  log "checking QONNX + hls4ml end to end (ONNX Conv/Gemm -> QONNX clean-up -> Vitis C++ -> predict)"
  "$PREFIX/hls4ml/bin/python" "$REPO/scripts/peer_checks/check_qonnx.py" \
    "$PREFIX/logs/check-qonnx" || die "QONNX check failed (see output above)"
  mark_ready qonnx "QONNX 1.0.0 in the hls4ml venv: $PREFIX/hls4ml/bin/python"
  log "qonnx: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- HGQ 1 (in the qkeras venv)
hgq1_quick() { "$PREFIX/qkeras/bin/python" -c 'import HGQ, hls4ml' 2>/dev/null; }

setup_hgq1() {
  skip_if_ready hgq1 hgq1_quick && return 0
  local start=$SECONDS
  [ -f "$PREFIX/READY-qkeras" ] || die "HGQ 1 goes into the qkeras venv: set up qkeras first"
  log "adding HGQ 0.2.6 (HGQ 1, Keras 2) to $PREFIX/qkeras"
  # --no-deps: HGQ 0.2.6 requires tensorflow>=2.13, keras<3, numpy, all met by the venv's
  # tensorflow-cpu 2.14.1 / keras 2.14; pip would otherwise add the 'tensorflow' wheel.
  "$PREFIX/qkeras/bin/python" -m pip install --disable-pip-version-check -q --no-deps "HGQ==0.2.6"
  log "checking HGQ 1 + hls4ml end to end (HGQ model -> proxy JSON + HDF5 -> Vitis C++ -> predict)"
  "$PREFIX/qkeras/bin/python" "$REPO/scripts/peer_checks/check_hgq1.py" \
    "$PREFIX/logs/check-hgq1" || die "HGQ 1 check failed (see output above)"
  mark_ready hgq1 "HGQ 0.2.6 in the qkeras venv: $PREFIX/qkeras/bin/python"
  log "hgq1: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- Brevitas (in the hls4ml venv)
brevitas_quick() {
  "$PREFIX/hls4ml/bin/python" -c 'import brevitas.export, onnxoptimizer, qonnx.util.cleanup, hls4ml' 2>/dev/null
}

setup_brevitas() {
  skip_if_ready brevitas brevitas_quick && return 0
  local start=$SECONDS
  [ -f "$PREFIX/READY-qonnx" ] || die "Brevitas goes into the hls4ml venv with QONNX: set up qonnx first"
  log "adding Brevitas 0.13.4 to $PREFIX/hls4ml"
  # --no-deps: Brevitas 0.13.4 requires torch>=1.13, numpy, sympy, packaging and
  # typing-extensions (all in the venv: torch 2.13.0 CPU stays), setuptools<81 (only for
  # its own optional C++ extensions; the venv's setuptools stays), dependencies and unfoldNd
  # (named here); its TorchScript QONNX exporter needs onnx (there) and onnxoptimizer (named).
  "$PREFIX/hls4ml/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
    "brevitas==0.13.4" "dependencies==2.0.1" "unfoldNd==0.2.3" "onnxoptimizer==0.4.2"
  log "checking Brevitas + hls4ml end to end (QuantLinear -> export_qonnx -> QONNX -> Vitis C++ -> predict)"
  "$PREFIX/hls4ml/bin/python" "$REPO/scripts/peer_checks/check_brevitas.py" \
    "$PREFIX/logs/check-brevitas" || die "Brevitas check failed (see output above)"
  mark_ready brevitas "Brevitas 0.13.4 in the hls4ml venv: $PREFIX/hls4ml/bin/python"
  log "brevitas: $((SECONDS - start)) s"
}

write_notes() {
  sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@REPO@#$REPO#g" "$REPO/scripts/peer_checks/NOTES.md.in" \
    >"$PREFIX/NOTES.md"
}

set_up_chain() {  # set_up_chain PEER...: the wanted ones in order (each needs the one before)
  local peer
  trap '[ -z "$CURRENT" ] || rm -f "$PREFIX/READY-$CURRENT"' EXIT  # (a subshell's own trap)
  for peer in "$@"; do
    if wanted "$peer"; then
      CURRENT="$peer"
      "setup_$peer"
    fi
  done
  CURRENT=""
}

write_notes
# Three independent chains at once (each peer's set-up is pip downloads and unpacking, then
# an end-to-end check; one chain waits on the network while another compiles): Triton then
# perf_analyzer (checked against it); the hls4ml venv, then what goes into it; the QKeras
# venv, then HGQ 1 into it.
pids=()
for chain in "triton pa" "hls4ml hgq2 qonnx brevitas" "qkeras hgq1"; do
  # shellcheck disable=SC2086  # the chain is a list of words
  ( set_up_chain $chain ) &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "a peer set-up failed: see its ERROR line above and $PREFIX/logs"
log "done: $(cd "$PREFIX" && ls READY-* 2>/dev/null | tr '\n' ' ')(usage: $PREFIX/NOTES.md)"
