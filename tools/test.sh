#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build with
# -Werror, run every test (and the ISA-sensitive ones again at AVX2 on an
# AVX-512 CPU); then again under AddressSanitizer +
# UndefinedBehaviorSanitizer; then the short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)
# meson prints configuration errors on stdout: keep them out of the way, but show them on failure.
setup() { local dir=$1; shift; [ -d "$dir" ] && return 0
  "$@" > "/tmp/unet-setup-$$.log" 2>&1 || { cat "/tmp/unet-setup-$$.log"; rm -f "/tmp/unet-setup-$$.log"; exit 1; }
  rm -f "/tmp/unet-setup-$$.log"; }
# One closing line over both suites, from meson's own test log.
count() { /usr/bin/python3 - "$@" <<'PY'
import json, sys
ok = fail = skip = 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): ok += 1
        elif r == "SKIP": skip += 1
        else: fail += 1
print(f"{ok} passed, {fail} failed, {skip} skipped")
PY
}

echo "== build and test (gcc, -Werror)"
setup build-ci meson setup build-ci --buildtype=release -Dwerror=true
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes "$jobs"

# oneDNN picks other kernels and blocked layouts (16- instead of 8-channel blocks) above
# AVX2: on such a CPU the ISA-sensitive tests run again with oneDNN held to AVX2, so both
# code paths are covered whichever machine this lands on. (cli_isa and train_trajectory
# run both ISAs themselves.)
isa_tests=(reference_unet export_runtime grad conformance-node conformance-pytorch-converted
  conformance-pytorch-operator conformance-simple overfit precision ops_naive ops_resize fusion
  infer_e2e scene_infer train_e2e train_resume train_losses train_vs_runtime bn_sync torch_models
  eltwise_accuracy bf16 qdq qdq_deconv qdq_select quantize)
logs=(build-ci/meson-logs/testlog.json)
if grep -q -w avx512f /proc/cpuinfo; then
  echo "== ISA-sensitive tests again under ONEDNN_MAX_CPU_ISA=AVX2 (this CPU has AVX-512)"
  ONEDNN_MAX_CPU_ISA=AVX2 meson test -C build-ci --print-errorlogs --num-processes "$jobs" \
    --logbase testlog-avx2 "${isa_tests[@]}"
  logs+=(build-ci/meson-logs/testlog-avx2.json)
else
  echo "== this CPU has no AVX-512: oneDNN's AVX-512 path was not exercised (an AVX-512 machine runs both)"
fi

echo "== build and test under ASan + UBSan (clang)"
setup build-asan env CC=clang meson setup build-asan --buildtype=debugoptimized -Dwerror=true \
  -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS=suppressions="$(pwd)/tests/lsan.supp" \
  meson test -C build-asan --print-errorlogs --num-processes "$jobs" --no-suite slow

echo "== short fuzz runs (libFuzzer, clang, ASan + UBSan)"
# Each target first replays the committed crash inputs (tests/regressions/),
# then mutates its seed corpus for UNET_FUZZ_SECONDS (default 60). Any crash,
# sanitizer report, leak, allocation over 512 MB or input slower than 60 s
# fails the run; the input is left in build-fuzz/fuzz-crashes/.
setup build-fuzz env CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dwerror=true -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-fuzz tests/fuzz/fuzz_onnx tests/fuzz/fuzz_png tests/fuzz/fuzz_jpeg tests/fuzz/fuzz-image-seeds
UNET_MAKE_MODEL=build-ci/tools/unet-make-model bash tests/fuzz/make-seeds.sh build-fuzz build-fuzz/fuzz-seeds
mkdir -p build-fuzz/fuzz-crashes
for t in onnx png jpeg; do
  corpus=build-fuzz/fuzz-corpus/$t
  regress=build-fuzz/fuzz-regressions/$t
  rm -rf "$regress"
  mkdir -p "$corpus" "$regress"
  case $t in onnx) pattern='onnx-*' ;; png) pattern='png-*' ;; jpeg) pattern='jpeg-*' ;; esac
  find tests/regressions -name "$pattern" -exec cp {} "$regress/" \;
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LSAN_OPTIONS=suppressions="$(pwd)/tests/lsan.supp" \
    build-fuzz/tests/fuzz/fuzz_$t -max_total_time="${UNET_FUZZ_SECONDS:-60}" -timeout=60 \
      -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix=build-fuzz/fuzz-crashes/$t- \
      "$corpus" "build-fuzz/fuzz-seeds/$t" "$regress" > "build-fuzz/fuzz-$t.log" 2>&1 \
    || { tail -60 "build-fuzz/fuzz-$t.log"; echo "fuzz_$t: crash, input in build-fuzz/fuzz-crashes/" >&2; exit 1; }
  awk -v t="fuzz_$t" '/stat::number_of_executed_units/ {n=$2} /stat::average_exec_per_sec/ {r=$2}
    END {printf "%s: %d execs, %d exec/s, 0 crashes\n", t, n, r}' "build-fuzz/fuzz-$t.log"
done

echo "== summary (gcc suite, its AVX2 pass where run, sanitizer suite)"
count "${logs[@]}" build-asan/meson-logs/testlog.json
