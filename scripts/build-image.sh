#!/usr/bin/env bash
# Build the OCI image of `hepinfer serve` (deploy/Dockerfile) with podman or docker, also on
# machines that reach no container registry and no PyPI from inside a build:
#
#   scripts/build-image.sh [-t TAG]        build (default tag hepinfer:latest)
#   scripts/build-image.sh --run-args      print the runtime and the `run` options it needs here
#   scripts/build-image.sh --check         exit 0 if a container runtime can run a container
#                                          here, 3 (with the reason on stderr) if not
#
# What it does:
#   1. finds a runtime (podman, then docker) and the options under which it can start a
#      container here: as given, else with runc and the host's own rlimits (a root podman
#      inside a sandbox without CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE/NPROC, and crun
#      refuses hybrid cgroup v1/v2 hierarchies; runc accepts them);
#   2. the base image: $BASE if set, else debian:bookworm-slim if it is present or can be
#      pulled, else Debian bookworm made from Debian packages with debootstrap (root) and
#      imported as localhost/debian:bookworm-debootstrap;
#   3. a wheelhouse of hepinfer[serve] and its dependencies made by the host's pip (which knows
#      this machine's index, proxy and certificates) in deploy/wheels/, installed in the image
#      with --no-index, so the image build needs no PyPI access;
#   4. `<runtime> build` of deploy/Dockerfile with the host network (for apt-get).
# Exit codes: 0 built, 2 usage, 3 no usable container runtime here, 1 a build step failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="hepinfer:latest"
MODE=build
PYTHON="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--tag) TAG="$2"; shift 2 ;;
    --run-args) MODE=run-args; shift ;;
    --check) MODE=check; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "build-image: $*" >&2; }
no_runtime() { log "no usable container runtime: $*"; exit 3; }

RUNTIME=""
for name in podman docker; do
  if command -v "$name" >/dev/null 2>&1 && "$name" info >/dev/null 2>&1; then
    RUNTIME="$(command -v "$name")"; break
  fi
done
[ -n "$RUNTIME" ] || no_runtime "neither podman nor docker answers 'info' (Debian: apt-get install podman runc)"

# the smallest image at hand to probe with: one already present, else the base built below
probe_image() {
  local image
  for image in "${BASE:-}" debian:bookworm-slim localhost/debian:bookworm-debootstrap; do
    [ -n "$image" ] && "$RUNTIME" image inspect "$image" >/dev/null 2>&1 && { echo "$image"; return 0; }
  done
  return 1
}

make_base() {
  if [ -n "${BASE:-}" ]; then echo "$BASE"; return 0; fi
  if "$RUNTIME" image inspect debian:bookworm-slim >/dev/null 2>&1 \
     || timeout 120 "$RUNTIME" pull -q debian:bookworm-slim >/dev/null 2>&1; then
    echo debian:bookworm-slim; return 0
  fi
  local local_base=localhost/debian:bookworm-debootstrap
  if "$RUNTIME" image inspect "$local_base" >/dev/null 2>&1; then echo "$local_base"; return 0; fi
  command -v debootstrap >/dev/null 2>&1 \
    || no_runtime "no registry answers and debootstrap is missing to make the Debian base (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || no_runtime "no registry answers and debootstrap needs root to make the Debian base"
  local root; root="$(mktemp -d)"
  log "no registry: making the Debian bookworm base with debootstrap in $root"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >&2
  tar -C "$root" -c . | "$RUNTIME" import - "$local_base" >/dev/null
  rm -rf "$root"
  echo "$local_base"
}

# options under which the runtime starts a container here
RUN_ARGS=()
find_run_args() {
  local image="$1" nofile nproc
  if "$RUNTIME" run --rm "$image" true >/dev/null 2>&1; then RUN_ARGS=(); return 0; fi
  nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
  [ "$nofile" = unlimited ] && nofile=65536
  local limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
  if "$RUNTIME" run --rm "${limits[@]}" "$image" true >/dev/null 2>&1; then
    RUN_ARGS=("${limits[@]}"); return 0
  fi
  if [ "$(basename "$RUNTIME")" = podman ] && command -v runc >/dev/null 2>&1 \
     && "$RUNTIME" run --rm --runtime runc "${limits[@]}" "$image" true >/dev/null 2>&1; then
    RUN_ARGS=(--runtime runc "${limits[@]}"); return 0
  fi
  local why
  why="$("$RUNTIME" run --rm "${limits[@]}" "$image" true 2>&1 | tail -1 || true)"
  no_runtime "$(basename "$RUNTIME") cannot start a container here: $why"
}

if [ "$MODE" = build ]; then
  BASE_IMAGE="$(make_base)"
  find_run_args "$BASE_IMAGE"
else
  image="$(probe_image || make_base)"
  find_run_args "$image"
  [ "$MODE" = run-args ] && echo "$RUNTIME ${RUN_ARGS[*]}"
  exit 0
fi

log "runtime $(basename "$RUNTIME") ${RUN_ARGS[*]:-}, base $BASE_IMAGE"
WHEELS="$REPO/deploy/wheels"
rm -f "$WHEELS"/*.whl
log "wheelhouse: hepinfer[serve] and its dependencies -> deploy/wheels"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS" "$REPO[serve]" >&2

BUILD_ARGS=()
[ "$(basename "$RUNTIME")" = podman ] && BUILD_ARGS=("${RUN_ARGS[@]}")
"$RUNTIME" build "${BUILD_ARGS[@]}" --network host \
  --build-arg "BASE=$BASE_IMAGE" \
  --build-arg "HEPINFER_SPEC=hepinfer[serve]" \
  --build-arg "PIP_INSTALL_ARGS=--no-index --find-links /opt/hepinfer/wheels" \
  -f "$REPO/deploy/Dockerfile" -t "$TAG" "$REPO" >&2
log "built $TAG"
