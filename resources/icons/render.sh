#!/usr/bin/env bash
# Renders folio.svg to the PNG sizes of the hicolor icon theme (hicolor/<n>x<n>/apps/folio.png), which the app's
# window icon and the desktop entry use. Run it after editing the SVG; needs rsvg-convert (Debian: librsvg2-bin).
set -euo pipefail
cd "$(dirname "$0")"
for size in 16 32 48 64 128 256; do
  mkdir -p "hicolor/${size}x${size}/apps"
  rsvg-convert --width "$size" --height "$size" folio.svg -o "hicolor/${size}x${size}/apps/folio.png"
done
