#!/usr/bin/env bash
# Our export in ONNX Runtime: U-Nets written by the trainer's exporter
# (unet-make-model, and export-random-model with random biases and batch-norm
# statistics; with and without --batchnorm) run in ONNX Runtime (npm package
# onnxruntime-node, through tools/ort/ort-run.js) and in libunet
# (unet-run-raw) on the same random batch (N=2, 3x64x64); every output must
# agree in shape and within 1e-5 (max abs difference).
#
# ONNX Runtime is taken from wherever node finds it (NODE_PATH included), else
# from UNET_ORT_PREFIX (meson passes BUILD/ort), installed there with npm on
# first use (needs the npm registry). Missing node or npm fails the test with
# the reason; UNET_SKIP_ORT=1 skips it instead (exit 77).
set -uo pipefail
if [ "${UNET_SKIP_ORT:-}" = 1 ]; then
  echo "SKIP: UNET_SKIP_ORT=1, ONNX Runtime interop not checked"
  exit 77
fi
for v in UNET_MAKE_MODEL UNET_EXPORT_RANDOM UNET_RUN_RAW RAW_DIFF; do
  [ -x "${!v:-}" ] || { echo "test_ort_interop: $v is not set to a program" >&2; exit 2; }
done
[ -f "${UNET_ORT_RUN:-}" ] || { echo "test_ort_interop: UNET_ORT_RUN is not set to ort-run.js" >&2; exit 2; }
[ -n "${UNET_ORT_PREFIX:-}" ] || { echo "test_ort_interop: UNET_ORT_PREFIX is not set" >&2; exit 2; }
tol=1e-5

if ! command -v node >/dev/null; then
  echo "FAIL: node is not installed, so ONNX Runtime cannot run: install nodejs and npm" \
       "(tools/install-deps.sh does), or set UNET_SKIP_ORT=1 to skip this test" >&2
  exit 1
fi
export NODE_PATH="$UNET_ORT_PREFIX/node_modules${NODE_PATH:+:$NODE_PATH}"
ort_version() { node -e "console.log(require('onnxruntime-node/package.json').version)" 2>/dev/null; }
if ! ort_version >/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "FAIL: onnxruntime-node is not installed and npm is missing to install it: install npm" \
         "(tools/install-deps.sh does), or set UNET_SKIP_ORT=1 to skip this test" >&2
    exit 1
  fi
  echo "installing onnxruntime-node into $UNET_ORT_PREFIX (npm, once per build folder)"
  mkdir -p "$UNET_ORT_PREFIX"
  if ! npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
       --prefix "$UNET_ORT_PREFIX" onnxruntime-node >"$UNET_ORT_PREFIX/npm-install.log" 2>&1; then
    tail -20 "$UNET_ORT_PREFIX/npm-install.log" >&2
    echo "FAIL: npm install onnxruntime-node failed (is the npm registry reachable?);" \
         "log in $UNET_ORT_PREFIX/npm-install.log; UNET_SKIP_ORT=1 skips this test" >&2
    exit 1
  fi
  ort_version >/dev/null || { echo "FAIL: onnxruntime-node installed but cannot be loaded" >&2; exit 1; }
fi
echo "ONNX Runtime (onnxruntime-node) $(ort_version), node $(node --version)"

work=$(mktemp -d "${TMPDIR:-/tmp}/unet-ort.XXXXXX")
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT

# The input batch: 2x3x64x64 values in [0, 1) from a fixed-seed generator.
dims=2x3x64x64
node -e '
  const n = 2 * 3 * 64 * 64, b = Buffer.alloc(n * 4);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; b.writeFloatLE((s >>> 8) / 16777216, i * 4); }
  require("fs").writeFileSync(process.argv[1], b);' "$work/input.f32" || exit 2

passed=0 failed=0
check_model() { # check_model NAME MAKER ARGS...
  local name=$1 maker=$2
  shift 2
  local model=$work/$name.onnx
  if ! "$maker" -o "$model" "$@"; then
    echo "FAIL - $name: export failed"; failed=$((failed + 1)); return
  fi
  local ort_shapes unet_shapes
  if ! ort_shapes=$(node "$UNET_ORT_RUN" "$model" "$work/input.f32" "$dims" "$work/$name.ort."); then
    echo "FAIL - $name: ONNX Runtime could not run the export"; failed=$((failed + 1)); return
  fi
  if ! unet_shapes=$("$UNET_RUN_RAW" --threads 1 "$model" "$work/input.f32" "$dims" "$work/$name.unet."); then
    echo "FAIL - $name: libunet could not run the export"; failed=$((failed + 1)); return
  fi
  if [ "$ort_shapes" != "$unet_shapes" ]; then
    echo "FAIL - $name: outputs differ: ONNX Runtime [$ort_shapes] vs libunet [$unet_shapes]"
    failed=$((failed + 1)); return
  fi
  local k diff ok=1
  for k in $(cut -d' ' -f1 <<<"$ort_shapes"); do
    diff=$("$RAW_DIFF" "$work/$name.unet.$k.f32" "$work/$name.ort.$k.f32" "$tol") || ok=0
    echo "     $name output $k ($(sed -n "$((k + 1))p" <<<"$ort_shapes" | cut -d' ' -f2-)): $diff"
  done
  if [ $ok = 1 ]; then
    echo "ok   - $name: libunet matches ONNX Runtime within $tol"; passed=$((passed + 1))
  else
    echo "FAIL - $name: libunet differs from ONNX Runtime beyond $tol"; failed=$((failed + 1))
  fi
}

check_model make-d2f4 "$UNET_MAKE_MODEL" --depth 2 --filters 4
check_model make-d2f4-bn "$UNET_MAKE_MODEL" --depth 2 --filters 4 --batchnorm
check_model random-d2f4 "$UNET_EXPORT_RANDOM" --depth 2 --filters 4 --seed 7
check_model random-d2f4-bn "$UNET_EXPORT_RANDOM" --depth 2 --filters 4 --batchnorm --seed 8
check_model random-d3f8-bn-c5 "$UNET_EXPORT_RANDOM" --depth 3 --filters 8 --classes 5 --batchnorm --seed 9
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
