#!/usr/bin/env bash
# Foreign models: U-Nets exported by PyTorch (tests/torch/export_unets.py:
# opsets 11/13/17, BatchNormalization, bilinear Upsample, NHWC, dynamic axes)
# run in libunet (unet-run-raw) and must match PyTorch's own outputs within
# 1e-4 (max abs difference, printed per model).
# Needs /usr/bin/python3 with torch (Debian python3-torch, a large install):
# without it the test is skipped (exit 77) with the install command.
set -uo pipefail
for v in UNET_RUN_RAW RAW_DIFF; do
  [ -x "${!v:-}" ] || { echo "test_torch_models: $v is not set to a program" >&2; exit 2; }
done
exporter=${UNET_TORCH_EXPORT:-$(dirname "$0")/export_unets.py}
python=${UNET_PYTHON:-/usr/bin/python3}
tol=1e-4
if ! "$python" -c 'import torch, onnx' 2>/dev/null; then
  echo "SKIP: $python cannot import torch and onnx: apt-get install python3-torch python3-onnx"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/unet-torch.XXXXXX")
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
"$python" "$exporter" "$work" || { echo "FAIL: $exporter could not export the models" >&2; exit 1; }

passed=0 failed=0
while IFS=$'\t' read -r name in_dims out_dims ops; do
  shapes=$("$UNET_RUN_RAW" --threads 1 "$work/$name.onnx" "$work/$name.input.f32" "$in_dims" "$work/$name.unet.")
  if [ $? -ne 0 ]; then
    echo "FAIL - $name: libunet could not run it ($ops)"; failed=$((failed + 1)); continue
  fi
  got_dims=$(head -1 <<<"$shapes" | cut -d' ' -f3)
  if [ "$(wc -l <<<"$shapes")" -ne 1 ] || [ "$got_dims" != "$out_dims" ]; then
    echo "FAIL - $name: libunet's outputs [$shapes], PyTorch's $out_dims"; failed=$((failed + 1)); continue
  fi
  if diff=$("$RAW_DIFF" "$work/$name.unet.0.f32" "$work/$name.expected.f32" "$tol"); then
    echo "ok   - $name ($in_dims -> $out_dims): $diff"; passed=$((passed + 1))
  else
    echo "FAIL - $name ($in_dims -> $out_dims): $diff"; failed=$((failed + 1))
  fi
done < "$work/manifest.tsv"
echo "$passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
