#!/usr/bin/env bash
# Installs visrec's build and test dependencies from Debian 12's apt, only what is missing.
# Idempotent: a second run installs nothing and takes a second.
# Usage: tools/install-deps.sh [--test] [--bench]
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopencv-dev libtorch-dev libeigen3-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev nlohmann-json3-dev
  # `visrec weights fetch` downloads published weights.
  libcurl4-openssl-dev
  # A real BLAS: Debian's default reference BLAS makes every GEMM (LibTorch linear, Eigen-free paths) crawl.
  libopenblas0-pthread libblas-dev
  libfaiss-dev
  python3
)
# --test: what the test suite and CI need on top (real photos from opencv-doc, clang for libFuzzer).
# --bench: the Python references the benchmark scripts run beside visrec (never needed by tests).
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(opencv-doc clang libclang-rt-14-dev) ;;
    --bench) packages+=(python3-numpy python3-scipy python3-sklearn python3-faiss python3-matplotlib python3-torchvision python3-pil) ;;
    *) echo "install-deps: unknown option '$arg' (--test, --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
