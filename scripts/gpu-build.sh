#!/usr/bin/env bash
# Builds the Qt-free part of Folio (folio_inference, folio-cli, folio-bench) on the GPU machine: libtorch with
# CUDA from its Python environment, no Qt/OpenCV there, the header-only/C libraries from Debian .deb files
# carried in .deps/ (fetch them here with: mkdir -p .deps && cd .deps &&
# apt-get download nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libcli11-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps=/tmp/folio-deps
mkdir -p "$deps"
for f in "$here"/.deps/*.deb; do dpkg -x "$f" "$deps"; done
torch_cmake=${FOLIO_TORCH_CMAKE:-/opt/torch/.venv/lib/python3.12/site-packages/torch/share/cmake}
build=${FOLIO_BUILD_DIR:-$here/build-gpu}
shared=${FOLIO_SHARED_DIR:-$here/.shared}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_GUI=OFF -DFOLIO_OPENCV=OFF \
  -DFOLIO_CUDA=ON -DFOLIO_TESTS=OFF -DFOLIO_SHARED_DIR="$shared" \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$deps/usr" -DCMAKE_CUDA_ARCHITECTURES=90 "$@" > "$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
