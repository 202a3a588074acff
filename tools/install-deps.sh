#!/usr/bin/env bash
# Installs what unet needs to build and test on Debian 12 (run as root).
# Skips apt when every package is already there, so reruns are fast.
set -euo pipefail
packages=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler
  libpng-dev libjpeg-dev libcmocka-dev
  libonnx-testdata python3-onnx python3-numpy python3-torch
  libgdal-dev gdal-bin
  openmpi-bin libopenmpi-dev
  nodejs npm
  chromium
)
# Packages that count as present when their command is (NodeSource's nodejs
# bundles npm and conflicts with Debian's npm package).
declare -A command_of=([nodejs]=node [npm]=npm)
missing=()
for p in "${packages[@]}"; do
  [ -n "${command_of[$p]:-}" ] && command -v "${command_of[$p]}" >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
