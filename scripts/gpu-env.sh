# Sourced on the GPU machine: Debian's Qt and Poppler from the prefix scripts/gpu-build.sh unpacks .deps/qt/ into
# (moc at build time; the app, its tests and benchmarks afterwards). Some Debian 12 packages (libdbus) still
# install into /lib rather than /usr/lib.
folio_deps_libs=/tmp/folio-deps/usr/lib/x86_64-linux-gnu:/tmp/folio-deps/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$folio_deps_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=$PATH:/tmp/folio-deps/usr/bin  # pdftotext for the export tests
export QT_PLUGIN_PATH=/tmp/folio-deps/usr/lib/x86_64-linux-gnu/qt6/plugins
export XDG_DATA_DIRS=/tmp/folio-deps/usr/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}  # fonts
export FONTCONFIG_FILE=/tmp/folio-deps/etc/fonts/fonts.conf
