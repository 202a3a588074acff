#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, and segment the
# shipped sample tiles with the shipped model into masks/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
./build/tools/unet-infer models/unet-aerial.onnx models/samples -o masks --overlay "$@"
echo "masks written to $(pwd)/masks (NAME.png: class ids with the class palette; NAME.overlay.png: blended view)"
