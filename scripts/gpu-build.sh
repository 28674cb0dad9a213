#!/usr/bin/env bash
# The GPU machine (no network, no Qt): scripts/build.sh with the torch of its Python environment and the header
# libraries from Debian .deb files carried in .deps/ (fetch them here: mkdir -p .deps && cd .deps &&
# apt-get download nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libcli11-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
for f in "$here"/.deps/*.deb; do dpkg -x "$f" /tmp/folio-deps; done
FOLIO_OFFLINE=1 FOLIO_GUI=OFF FOLIO_BUILD_DIR=${FOLIO_BUILD_DIR:-$here/build-gpu} \
  FOLIO_TORCH_DIR=${FOLIO_TORCH_DIR:-$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')} \
  "$here/scripts/build.sh" -DFOLIO_GUI=OFF -DFOLIO_OPENCV=OFF -DFOLIO_TESTS=OFF \
  -DFOLIO_SHARED_DIR="${FOLIO_SHARED_DIR:-$here/.shared}" -DCMAKE_PREFIX_PATH=/tmp/folio-deps/usr "$@"
