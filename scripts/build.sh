#!/usr/bin/env bash
# Configures and builds Folio in build/ (Release): a CUDA build when scripts/deps.sh finds an NVIDIA GPU whose
# driver runs CUDA 13, else the CPU build. Extra arguments go to CMake's configure step.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/deps.sh"
build=${FOLIO_BUILD_DIR:-$here/build}
options=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_TORCH_DIR="$FOLIO_TORCH_DIR" -DFOLIO_CUDA="$FOLIO_CUDA")
[ -n "$FOLIO_CUDA_ARCHS" ] && options+=(-DFOLIO_CUDA_ARCHS="$FOLIO_CUDA_ARCHS")
[ -n "${CUDACXX:-}" ] && options+=(-DCMAKE_CUDA_COMPILER="$CUDACXX")
options+=("$@")
# Configure again whenever the choice changed (a GPU appeared, other architectures, other options).
stamp="$build/.folio-configure"
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${options[*]}" ]; then
  cmake -S "$here" -B "$build" "${options[@]}"
  printf '%s' "${options[*]}" > "$stamp"
fi
# FOLIO_BUILD_TARGETS: only these (the GPU machine's benchmark runs), else everything.
cmake --build "$build" -j "$(nproc)" ${FOLIO_BUILD_TARGETS:+--target $FOLIO_BUILD_TARGETS}
