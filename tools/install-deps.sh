#!/usr/bin/env bash
# Installs what unet needs to build and test on Debian 12 (run as root).
# Skips apt when every package is already there, so reruns are fast.
set -euo pipefail
packages=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler
  libpng-dev libjpeg-dev libcmocka-dev
  libonnx-testdata python3-onnx python3-numpy
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
