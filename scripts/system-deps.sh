#!/usr/bin/env bash
# Installs the Debian packages hepinfer's tests and demo need, only when something is missing
# (so a machine that has them all makes no network call). Needs root or sudo for apt-get.
set -euo pipefail
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# the native gRPC front end of `hepinfer serve` (gRPC C++, compiled on first use)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists grpc++ 2>/dev/null || need+=(libgrpc++-dev)
# open firmware proof: `hepinfer rtl --check` (Verilator) and `--synth` (Yosys)
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
# the gRPC load balancer of `hepinfer serve-lb` (Debian installs it in /usr/sbin)
command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
  if [[ " ${need[*]} " == *" nginx "* ]]; then
    # hepinfer runs its own nginx processes; stop the system service the package may start
    # on port 80 (containers usually refuse to start it anyway)
    { $SUDO systemctl disable --now nginx || $SUDO service nginx stop; } >/dev/null 2>&1 || true
  fi
fi
