#!/usr/bin/env bash
# Makes docs/report-screenshot.png: unet-eval --report on the shipped sample
# tiles with the shipped model, rendered by headless Chromium, scaled 0.6 so
# the PNG stays under 200 KB. Run from the source root:
#
#   bash docs/report-screenshot.sh [BUILD] [OUT.png]
set -euo pipefail
build=${1:-build} out=${2:-docs/report-screenshot.png}
work=$(mktemp -d /tmp/unet-report-shot.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$build/tools/unet-eval" models/unet-aerial.onnx models/samples --report "$work/report.html" \
  --report-tiles 2 --quiet > /dev/null
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --user-data-dir="$work/profile" --hide-scrollbars --force-device-scale-factor=0.6 \
  --window-size=1100,2000 --screenshot="$out" "file://$work/report.html" > /dev/null 2>&1
ls -l "$out"
