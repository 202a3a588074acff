#!/usr/bin/env bash
# QDQ models (QuantizeLinear/DequantizeLinear, the form ONNX Runtime's static
# quantiser writes) in libunet, on a small random U-Net-like net written by
# tests/qdq_model.py (python3-onnx + numpy, no code shared with libunet):
#   1. where the ISA has VNNI, every Conv and the ConvTranspose (as its 1x1
#      convolution) runs as a oneDNN int8 convolution (ONEDNN_VERBOSE names an
#      int8 kernel: src u8), and a Conv whose only reader is another QDQ node
#      writes that reader's uint8 input (dst u8); without VNNI (e.g. capped at
#      AVX2) none runs int8 (see runtime/ops/conv_int8.c for why);
#   2. the output equals qdq_model.py's float64 evaluation of the QDQ
#      arithmetic (round half to even, saturation) to 1e-5;
#   3. ONNX Runtime runs the same file and agrees with libunet on >= 99.9% of
#      values within one quantisation step of the head: its input scale times
#      its largest weight (ONNX Runtime fuses its QDQ pairs its own way);
#   4. the 7-bit form (qdq_model.py quantize --bits 7: a Clip before each
#      QuantizeLinear) runs all 5 int8 at this ISA and capped at AVX2, with
#      the Concat's Clip on its parts (no concatenation step), and equals its
#      float64 reference to 1e-5 at both.
# Exit 77 (SKIP) with the reason where python3-onnx/numpy are missing; step 3
# is skipped (and said) where node or onnxruntime-node (in UNET_ORT_PREFIX,
# which test_ort_interop.sh installs) are. Needs UNET_RUN_RAW and ORT_RUN
# (tools/ort/ort-run.js).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! "$py" -c 'import onnx, numpy' 2> /dev/null; then
  echo "SKIP: python3-onnx and python3-numpy are needed to write the QDQ fixtures"
  exit 77
fi
[ -x "${UNET_RUN_RAW:-}" ] || { echo "test_qdq: UNET_RUN_RAW is not set to a program" >&2; exit 2; }
work=$(mktemp -d /tmp/unet-qdq.XXXXXX)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
passed=0 failed=0
check() { # check NAME STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   - $1"
  else
    failed=$((failed + 1)); echo "FAIL - $1${3:+: $3}"
  fi
}
"$py" "$here/qdq_model.py" small small.onnx --seed 7 || exit 2
"$py" -c "
import numpy as np
x = np.random.default_rng(11).random((2, 3, 16, 16)).astype(np.float32)
np.save('x.npy', x); x.tofile('x.f32')" || exit 2
"$py" "$here/qdq_model.py" quantize small.onnx qdq.onnx --input x.npy || exit 2
"$py" "$here/qdq_model.py" run qdq.onnx x.npy ref.npy || exit 2

# 1. which kernels ran
ONEDNN_VERBOSE=1 "$UNET_RUN_RAW" qdq.onnx x.f32 2x3x16x16 ours > verbose.txt 2>&1
st=$?
check "libunet runs the QDQ model" "$st" "$(tail -3 verbose.txt)"
int8=$(grep -c '^onednn_verbose,exec,cpu,convolution,.*src_u8' verbose.txt)
kernels=$(grep '^onednn_verbose,exec,cpu,convolution,.*src_u8' verbose.txt | cut -d, -f5 | sort -u | tr '\n' ' ')
isa=$(grep -m1 '^onednn_verbose,info,cpu,isa:' verbose.txt | cut -d: -f2-)
if grep -qiE 'vnni|DL Boost' <<< "$isa"; then  # oneDNN calls VNNI "DL Boost"
  [ "$int8" -eq 5 ]
  check "ISA $isa: the 4 QDQ Convs and the ConvTranspose (as a 1x1 convolution) ran int8 ($int8; $kernels)" $?
  # conv2 -> Relu -> Q -> DQ -> up and conv3 -> Relu -> Q -> DQ -> head: the
  # first of each pair writes the second's uint8 input itself
  requant=$(grep -c '^onednn_verbose,exec,cpu,convolution,.*src_u8.*dst_u8' verbose.txt)
  [ "$requant" -eq 2 ]
  check "conv2 and conv3 hand their readers uint8 (requantisation fused: $requant int8 -> int8 convolutions)" $?
else
  [ "$int8" -eq 0 ]
  check "ISA $isa (no VNNI): no Conv ran int8 ($int8 did: $kernels)" $?
fi

# 2. against the float64 QDQ reference
against_reference() { # against_reference REF.npy OURS.f32 LABEL: prints the check line, status 0 within 1e-5
  "$py" -c "
import numpy as np, sys
r = np.load(sys.argv[1]); o = np.fromfile(sys.argv[2], np.float32).reshape(r.shape)
d = np.abs(o - r).max()
print('%smax |libunet - reference| = %.3g (outputs up to %.3g)' % (sys.argv[3], d, np.abs(r).max()))
sys.exit(0 if d <= 1e-5 else 1)" "$@" 2>&1
}
against_reference ref.npy ours0.f32 "" > ref.txt
st=$?
check "$(cat ref.txt)" "$st"

# 3. ONNX Runtime on the same file
export NODE_PATH="${UNET_ORT_PREFIX:-/nonexistent}/node_modules${NODE_PATH:+:$NODE_PATH}"
if command -v node > /dev/null && node -e "require('onnxruntime-node')" 2> /dev/null; then
  node "$ORT_RUN" qdq.onnx x.f32 2x3x16x16 ort > ort.txt 2>&1
  check "ONNX Runtime runs the QDQ file" $? "$(tail -3 ort.txt)"
  "$py" -c "
import numpy as np, onnx, sys
from onnx import numpy_helper
init = {i.name: numpy_helper.to_array(i) for i in onnx.load('qdq.onnx').graph.initializer}
step = float(init['r3_scale']) * float(np.abs(init['wh_q'] * init['wh_scale'].reshape(-1, 1, 1, 1)).max())
o = np.fromfile('ours0.f32', np.float32); t = np.fromfile('ort0.f32', np.float32)
share = float((np.abs(o - t) <= step).mean())
print('libunet and ONNX Runtime agree within one step (%.3g) on %.4f of values (max difference %.3g)' % (step, share, np.abs(o - t).max()))
sys.exit(0 if share >= 0.999 else 1)" > agree.txt 2>&1
  st=$?
  check "$(cat agree.txt)" "$st"
else
  echo "skip - ONNX Runtime comparison: node or onnxruntime-node is missing (NODE_PATH=${NODE_PATH:-unset})"
fi

# 4. the 7-bit form (a Clip(max) before each QuantizeLinear): int8 without
# VNNI too, the Concat's Clip applied to its parts (no concatenation runs),
# and the same float64 reference, at this CPU's ISA and capped at AVX2
"$py" "$here/qdq_model.py" quantize small.onnx q7.onnx --input x.npy --bits 7 || exit 2
"$py" "$here/qdq_model.py" run q7.onnx x.npy ref7.npy || exit 2
for cap in "" AVX2; do
  if [ -n "$cap" ]; then export ONEDNN_MAX_CPU_ISA=$cap; fi  # else the ISA this run was given
  ONEDNN_VERBOSE=1 "$UNET_RUN_RAW" q7.onnx x.f32 2x3x16x16 ours7 > verbose7.txt 2>&1
  check "libunet runs the 7-bit QDQ model${cap:+ capped at $cap}" $? "$(tail -3 verbose7.txt)"
  int8=$(grep -c '^onednn_verbose,exec,cpu,convolution,.*src_u8' verbose7.txt)
  concats=$(grep -c '^onednn_verbose,exec,cpu,concat' verbose7.txt)
  [ "$int8" -eq 5 ] && [ "$concats" -eq 0 ]
  check "7-bit${cap:+ at $cap}: 5 int8 convolutions ($int8), no float concatenation ($concats)" $?
  against_reference ref7.npy ours70.f32 "7-bit: " > ref7.txt
  st=$?
  check "$(cat ref7.txt)${cap:+ (capped at $cap)}" "$st"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
