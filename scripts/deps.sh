#!/usr/bin/env bash
# Installs what Folio needs to build: Debian -dev packages and libtorch (from PyPI's torch wheel, unpacked
# into a cache folder outside the repository that later runs reuse). Sourced by scripts/run and scripts/test;
# exports FOLIO_TORCH_DIR.
set -euo pipefail
FOLIO_CACHE=${FOLIO_CACHE:-$HOME/.cache/folio}
TORCH_VERSION=2.11.0
APT_PACKAGES=(cmake ninja-build g++ pkg-config python3-pip
  qt6-base-dev qt6-base-dev-tools libpoppler-qt6-dev libopencv-dev
  nlohmann-json3-dev libpcre2-dev libcli11-dev xvfb xauth)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "folio: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

FOLIO_TORCH_DIR="$FOLIO_CACHE/torch-$TORCH_VERSION/torch"
if [ ! -f "$FOLIO_TORCH_DIR/lib/libtorch_cpu.so" ]; then
  echo "folio: fetching libtorch (torch==$TORCH_VERSION wheel) into $FOLIO_CACHE"
  mkdir -p "$FOLIO_CACHE"
  python3 -m pip install -q --no-deps --no-compile --target "$FOLIO_CACHE/torch-$TORCH_VERSION.tmp" \
    "torch==$TORCH_VERSION"
  rm -rf "$FOLIO_CACHE/torch-$TORCH_VERSION"
  mv "$FOLIO_CACHE/torch-$TORCH_VERSION.tmp" "$FOLIO_CACHE/torch-$TORCH_VERSION"
fi
# libtorch_cpu links libcudart/libcupti even when no GPU is used; the CUDA toolkit provides them here,
# PyPI's runtime packages elsewhere.
if ! ldconfig -p | grep -q libcupti.so.13 && [ ! -e /usr/local/cuda/lib64/libcupti.so.13 ] \
   && [ ! -e /usr/local/cuda/lib/libcupti.so.13 ] && [ ! -d "$FOLIO_CACHE/cuda-runtime/nvidia" ]; then
  echo "folio: fetching the CUDA runtime libraries libtorch links against"
  python3 -m pip install -q --no-deps --no-compile --target "$FOLIO_CACHE/cuda-runtime" \
    nvidia-cuda-runtime nvidia-cuda-cupti
fi
export FOLIO_TORCH_DIR FOLIO_CACHE
