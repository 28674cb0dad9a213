#!/usr/bin/env bash
# The GPU machine (no network, no Qt): scripts/build.sh with the torch of its Python environment and the .deb
# files carried in .deps/ (fetched here by scripts/gpu-deps.sh) unpacked into /tmp/folio-deps. With .deps/qt/
# (scripts/gpu-deps.sh app) it builds the app and all tests too; without, the library, folio-cli and benchmarks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=/tmp/folio-deps
for f in "$here"/.deps/*.deb "$here"/.deps/qt/*.deb; do [ -f "$f" ] && dpkg -x "$f" $prefix; done
gui=(-DFOLIO_GUI=OFF -DFOLIO_TESTS=OFF)
if compgen -G "$here/.deps/qt/*.deb" > /dev/null; then
  source "$here/scripts/gpu-env.sh"
  lib=${folio_deps_libs%%:*}
  export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$prefix/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$prefix
  gui=(-DFOLIO_GUI=ON -DFOLIO_TESTS=ON -DFOLIO_PACKAGING=OFF -DPKG_CONFIG_EXECUTABLE=$prefix/usr/bin/pkgconf
       "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$folio_deps_libs"
       "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$folio_deps_libs")
fi
FOLIO_OFFLINE=1 FOLIO_GUI=OFF FOLIO_BUILD_DIR=${FOLIO_BUILD_DIR:-$here/build-gpu} \
  FOLIO_TORCH_DIR=${FOLIO_TORCH_DIR:-$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')} \
  "$here/scripts/build.sh" "${gui[@]}" -DFOLIO_OPENCV=OFF \
  -DFOLIO_SHARED_DIR="${FOLIO_SHARED_DIR:-$here/.shared}" -DCMAKE_PREFIX_PATH=$prefix/usr "$@"
