#!/usr/bin/env bash
# Installs what Folio needs to build and decides which build to make. Sourced by scripts/build.sh (and so by
# scripts/run and scripts/test). Exports FOLIO_TORCH_DIR, FOLIO_CUDA (ON/OFF), FOLIO_CUDA_ARCHS and, for a CUDA
# build, CUDACXX.
#
# - Debian -dev packages with apt-get when missing (FOLIO_OFFLINE=1: none; the caller provides them).
# - libtorch from PyPI's torch wheel, unpacked with pip into a cache folder outside the repository that later
#   runs reuse ($FOLIO_CACHE, default ~/.cache/folio). FOLIO_TORCH_DIR set by the caller: that torch instead.
# - An NVIDIA GPU (nvidia-smi sees one; FOLIO_CUDA=1|0 forces the choice) whose driver runs CUDA 13: the CUDA
#   libraries the wheel lists in its own Requires-Dist, installed beside torch (its libraries find them there),
#   and a CUDA 13 compiler (the system toolkit, else PyPI's). Architectures: the GPUs' own, or FOLIO_CUDA_ARCHS.
set -euo pipefail
FOLIO_CACHE=${FOLIO_CACHE:-$HOME/.cache/folio}
TORCH_VERSION=2.11.0
CUDA_MAJOR=13  # the CUDA the torch wheel is built for
CUDA_TOOLKIT_VERSION=13.0.2

folio_say() { echo "folio: $*" >&2; }

folio_install_apt() {
  local packages=(cmake ninja-build g++ pkg-config python3-pip nlohmann-json3-dev libpcre2-dev libcli11-dev)
  [ "${FOLIO_GUI:-ON}" = OFF ] ||
    packages+=(qt6-base-dev qt6-base-dev-tools libpoppler-qt6-dev libopencv-dev libdtl-dev xvfb xauth
      libpodofo-dev libcmark-gfm-dev libcmark-gfm-extensions-dev libcpp-httplib-dev fonts-dejavu-core fonts-droid-fallback pandoc
      poppler-utils python3-jsonschema
      clang  # libFuzzer for the fuzz harnesses (scripts/fuzz)
      dpkg-dev help2man appstream desktop-file-utils)  # the .deb (scripts/package) and its test
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  folio_say "installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pip into a folder: the wheel's files unpacked, nothing else on the system touched.
folio_pip_into() {
  local target=$1; shift
  python3 -m pip install -q --disable-pip-version-check --no-compile --target "$target" "$@"
}

folio_install_torch() {
  local site="$FOLIO_CACHE/torch-$TORCH_VERSION"
  FOLIO_TORCH_DIR="$site/torch"
  [ -f "$FOLIO_TORCH_DIR/lib/libtorch_cpu.so" ] && return 0
  folio_say "fetching libtorch (torch==$TORCH_VERSION wheel) into $FOLIO_CACHE"
  mkdir -p "$FOLIO_CACHE"
  rm -rf "$site.tmp"
  folio_pip_into "$site.tmp" --no-deps "torch==$TORCH_VERSION"
  rm -rf "$site"
  mv "$site.tmp" "$site"
}

# The CPU build links libtorch_cpu, which needs libcudart/libcupti at load time even when no GPU is used: the
# CUDA toolkit has them here, PyPI's runtime packages elsewhere.
folio_install_cpu_runtime() {
  if ldconfig -p | grep -q "libcupti.so.$CUDA_MAJOR" || [ -e "/usr/local/cuda/lib64/libcupti.so.$CUDA_MAJOR" ] ||
     [ -d "$FOLIO_CACHE/cuda-runtime/nvidia" ]; then return 0; fi
  folio_say "fetching the CUDA runtime libraries libtorch links against"
  folio_pip_into "$FOLIO_CACHE/cuda-runtime" --no-deps nvidia-cuda-runtime nvidia-cuda-cupti
}

# The CUDA major version the driver runs, from nvidia-smi's header ("CUDA Version: 13.0"), or empty.
folio_driver_cuda() {
  { nvidia-smi 2>/dev/null || true; } | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\.\([0-9]*\).*/\1.\2/p' | head -1
}

# The GPUs' compute capabilities as CMake architectures ("86;90"), or empty.
folio_gpu_archs() {
  nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' .' | grep -E '^[0-9]+$' |
    sort -un | paste -sd';' || true
}

# Sets FOLIO_CUDA to ON or OFF and says why in one line.
folio_choose_build() {
  local gpu driver
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
  case "${FOLIO_CUDA:-auto}" in
    0|OFF|off) FOLIO_CUDA=OFF; folio_say "CPU build (FOLIO_CUDA=0)"; return ;;
    1|ON|on) FOLIO_CUDA=ON; FOLIO_BUILD_REASON="FOLIO_CUDA=1" ;;
    *)
      if [ -z "$gpu" ]; then
        FOLIO_CUDA=OFF
        folio_say "CPU build: no NVIDIA GPU found (nvidia-smi sees none; FOLIO_CUDA=1 forces a CUDA build)"
        return
      fi
      FOLIO_CUDA=ON; FOLIO_BUILD_REASON="$gpu" ;;
  esac
  if [ -n "$gpu" ]; then
    driver=$(folio_driver_cuda)
    if [ -z "$driver" ] || [ "${driver%%.*}" -lt "$CUDA_MAJOR" ]; then
      FOLIO_CUDA=OFF
      folio_say "CPU build: the NVIDIA driver for $gpu runs CUDA ${driver:-(unknown)}, and Folio's libtorch needs" \
        "CUDA $CUDA_MAJOR (driver 580 or newer). Update the driver (your distribution's nvidia-driver package or" \
        "https://www.nvidia.com/drivers), then run this again; until then Folio reads pages on the CPU."
      return
    fi
    FOLIO_BUILD_REASON="$FOLIO_BUILD_REASON, driver runs CUDA $driver"
  fi
}

# The CUDA libraries the torch wheel asks for (its Requires-Dist entries for Linux that are NVIDIA's), beside
# torch: its libraries' RPATH ($ORIGIN/../../nvidia/...) finds them there. FOLIO_OFFLINE=1: they must be there.
folio_install_cuda_libraries() {
  local site; site=$(dirname "$FOLIO_TORCH_DIR")
  [ -e "$site/nvidia/cu$CUDA_MAJOR/lib/libcublas.so.$CUDA_MAJOR" ] && [ -d "$site/nvidia/cudnn" ] && return 0
  if [ "${FOLIO_OFFLINE:-0}" = 1 ]; then
    folio_say "warning: the CUDA libraries are not beside $FOLIO_TORCH_DIR (expected $site/nvidia/cu$CUDA_MAJOR);" \
      "the system's must do"
    return 0
  fi
  local metadata requirements
  metadata=$(ls "$site"/torch-*.dist-info/METADATA)
  mapfile -t requirements < <(sed -n 's/^Requires-Dist: \(\(cuda-toolkit\|nvidia-\)[^;]*\);.*Linux.*/\1/p' "$metadata" |
    tr -d ' ')
  folio_say "fetching the CUDA libraries torch needs (${#requirements[@]} packages, a few GB) into $site"
  folio_pip_into "$site" --upgrade "${requirements[@]}"
}

# A CUDA $CUDA_MAJOR compiler on this machine: $CUDACXX, nvcc on the PATH or in /usr/local/cuda.
folio_system_nvcc() {
  local candidate version
  for candidate in "${CUDACXX:-}" "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
    [ -x "$candidate" ] || continue
    version=$("$candidate" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
    if [ "$version" = "$CUDA_MAJOR" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

# The system's CUDA $CUDA_MAJOR compiler, else PyPI's (into the cache).
folio_find_nvcc() {
  CUDACXX=$(folio_system_nvcc) && return 0
  local toolkit="$FOLIO_CACHE/cuda-toolkit-$CUDA_TOOLKIT_VERSION"
  if [ ! -x "$toolkit/nvidia/cu$CUDA_MAJOR/bin/nvcc" ]; then
    [ "${FOLIO_OFFLINE:-0}" = 1 ] && { folio_say "error: no CUDA $CUDA_MAJOR compiler (nvcc) found"; return 1; }
    folio_say "no CUDA $CUDA_MAJOR compiler found: fetching PyPI's nvcc into $toolkit"
    folio_pip_into "$toolkit" "cuda-toolkit[nvcc,cccl,crt,nvvm,cudart,cublas]==$CUDA_TOOLKIT_VERSION"
  fi
  CUDACXX="$toolkit/nvidia/cu$CUDA_MAJOR/bin/nvcc"
}

# The GPUs' own architectures unless FOLIO_CUDA_ARCHS says otherwise; empty: CMake's release list
# (cmake/FolioTorch.cmake).
folio_choose_archs() {
  FOLIO_CUDA_ARCHS=${FOLIO_CUDA_ARCHS:-$(folio_gpu_archs)}
}

[ "${FOLIO_OFFLINE:-0}" = 1 ] || folio_install_apt
[ -n "${FOLIO_TORCH_DIR:-}" ] || folio_install_torch
folio_choose_build
if [ "$FOLIO_CUDA" = ON ]; then
  folio_install_cuda_libraries
  folio_find_nvcc
  folio_choose_archs
  folio_say "CUDA build for architectures ${FOLIO_CUDA_ARCHS:-of the release list} ($FOLIO_BUILD_REASON;" \
    "compiler $CUDACXX)"
  export CUDACXX
else
  [ "${FOLIO_OFFLINE:-0}" = 1 ] || folio_install_cpu_runtime
  # Where a CUDA compiler is present (CI), the CPU build still compiles the CUDA sources for the release list.
  if CUDACXX=$(folio_system_nvcc); then export CUDACXX; else unset CUDACXX; fi
fi
export FOLIO_TORCH_DIR FOLIO_CACHE FOLIO_CUDA
export FOLIO_CUDA_ARCHS=${FOLIO_CUDA_ARCHS:-}
