#!/usr/bin/env bash
# Run here (Debian 12, network): fetches what the GPU machine (Ubuntu 24.04, no network, no Qt) needs beyond its
# torch as Debian .deb files into .deps/, which scripts/gpu-build.sh unpacks into a prefix there. With `app`,
# also Qt 6 (Core, Gui, Widgets, Network, Concurrent, Test, the offscreen platform plugin) and poppler-qt6 with
# every library they load that Ubuntu's base system may lack, and dtl's headers, into .deps/qt/ (about 41 MB).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$here/.deps"
(cd "$here/.deps" && apt-get download nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libcli11-dev)
[ "${1:-}" = app ] || exit 0
wanted="qt6-base-dev qt6-base-dev-tools libqt6core6 libqt6gui6 libqt6widgets6 libqt6test6 libqt6network6
  libqt6concurrent6 qt6-qpa-plugins libpoppler-qt6-dev libpoppler-qt6-3 pkgconf libdtl-dev
  libpodofo-dev libpodofo0.9.8 libcmark-gfm-dev libcmark-gfm0.29.0.gfm.6 libcmark-gfm-extensions-dev
  libcmark-gfm-extensions0.29.0.gfm.6 fonts-droid-fallback poppler-utils
  libcpp-httplib-dev libcpp-httplib0.11 libssl-dev zlib1g-dev libbrotli-dev"
# Left out: the C/C++ runtime and base libraries every Ubuntu has (newer there, and ABI-compatible), tools the
# build never runs (perl, python, dpkg), Mesa's drivers (the offscreen platform draws without OpenGL) and fonts
# beyond DejaVu and Droid Sans Fallback (the searchable PDF's CJK glyphs).
base='^(libc6|libgcc-s1|libstdc\+\+6|gcc-12-base|zlib1g|dpkg|debconf|cdebconf|tar|perl.*|libperl.*|python3.*'
base+='|libpython3.*|readline-common|libreadline8|mailcap|media-types|mime-support|install-info|lsb-base'
base+='|sysvinit-utils|libgl1-mesa-dri|libllvm15|libz3-4|libsensors.*|libdrm.*|libglapi-mesa|libgbm1'
base+='|libegl-mesa0|libglx-mesa0|fonts-(croscore|freefont-otf|freefont-ttf|liberation|liberation2|texgyre'
base+='|urw-base35)|ttf-bitstream-vera|xfonts-.*|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1'
base+='|libncursesw6|libtinfo6|libgdbm.*|libdb5.3|libnsl2|libtirpc.*|libcrypt1|libacl1|libblkid1|libmount1'
base+='|libuuid1|libselinux1|libsystemd0|libudev1|libelogind0|libcap2|libgcrypt20|libgpg-error0|liblz4-1'
base+='|liblzma5|libzstd1|libbz2-1.0|libmd0|libbsd0|libffi8|libexpat1|libpcre2-8-0|libssl3|libgnutls30'
base+='|libhogweed6|libnettle8|libgmp10|libidn2-0|libp11-kit0|libtasn1-6|libkrb5.*|libk5crypto3'
base+='|libgssapi-krb5-2|libcom-err2|libkeyutils1|libsqlite3-0|libedit2|libelf1|libxml2|libwayland.*|libvulkan1'
# ... and the C++ toolchain and Boost that libpodofo-dev drags in (the GPU machine has its own compiler; PoDoFo's
# headers need neither). OpenSSL's, zlib's and Brotli's headers stay: cpp-httplib's include them.
base+='|libboost.*|libstdc\+\+-12-dev|libgcc-12-dev|libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt-dev|libnsl-dev'
base+='|libtirpc-dev|rpcsvc-proto|lib[atlu]+san[0-9]+|libubsan1|libitm1|libquadmath0|libgomp1|libatomic1|libcc1-0'
base+='|gcc-12|cpp-12|g\+\+-12|binutils.*|libbinutils|libctf.*|libgprofng0|libjansson4|libisl23|libmpc3|libmpfr6'
base+=')$'
packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances $wanted | grep -v '^[ <]' | sort -u | grep -vE "$base")
rm -rf "$here/.deps/qt" && mkdir -p "$here/.deps/qt"
(cd "$here/.deps/qt" && apt-get download $packages > /dev/null)
echo "$(ls "$here/.deps/qt" | wc -l) packages, $(du -sh "$here/.deps/qt" | cut -f1) in .deps/qt"
