#!/usr/bin/env bash
# Configures and builds Folio in build/ (Release). Extra arguments go to CMake's configure step.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/deps.sh"
build=${FOLIO_BUILD_DIR:-$here/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_TORCH_DIR="$FOLIO_TORCH_DIR" "$@"
fi
cmake --build "$build" -j "$(nproc)"
