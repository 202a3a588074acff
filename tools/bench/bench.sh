#!/usr/bin/env bash
# tools/bench/bench.sh: libunet vs ONNX Runtime on the same ONNX files, and
# unet-train vs PyTorch on the same architecture; prints markdown tables,
# headed by the CPU model and the ISA oneDNN dispatches to.
#
#   bash tools/bench/bench.sh [--build DIR] [--quick] [--no-train] [--no-ort]
#
# Inference: tiles/s at batch 1, 8 and 32 on 1 and 2 threads for the default
# model (models/unet-aerial.onnx, or the "small" U-Net when absent) and the
# "standard" U-Net (base 32, depth 4); the ratio ours/ORT per row (medians of
# runs made in one session, alternating); achieved GFLOP/s from the analytic
# FLOPs and its fraction of the FP32 FMA peak this script measures; model load
# time (open to ready at batch 8) and peak RSS over the empty-session baseline.
# Where the CPU has AVX-512 BF16, bf16 rows (--precision bf16) at batch 8 on 1
# and 2 threads, against ONNX Runtime fp32 on the same file. int8 rows: the
# model's QDQ form (unet-quantize, calibrated on the sample tiles; 7-bit
# activations where the CPU lacks VNNI) against ONNX Runtime fp32 on the float
# file and ONNX Runtime on the same QDQ file.
# Training: tiles/s per step at batch 8 on 2 threads, ours vs PyTorch
# (python3-torch, /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build
iters=5
quick=0
train=1
ort=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --quick) quick=1; iters=3; shift ;;
    --no-train) train=0; shift ;;
    --no-ort) ort=0; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$build/tools/unet-session-bench" ] || { echo "bench.sh: build first (ninja -C $build)" >&2; exit 2; }

if [ "$ort" = 1 ]; then
  if ! node -e "require('onnxruntime-node')" 2>/dev/null && [ ! -d "$build/ort/node_modules/onnxruntime-node" ]; then
    echo "installing onnxruntime-node into $build/ort (npm)" >&2
    npm install --silent --ignore-scripts --prefix "$build/ort" onnxruntime-node >/dev/null
  fi
  export NODE_PATH="$build/ort/node_modules${NODE_PATH:+:$NODE_PATH}"
fi

default=models/unet-aerial.onnx
if [ ! -f "$default" ]; then
  "$build/tools/unet-make-model" -o "$work/small.onnx"
  default="$work/small.onnx"
fi
"$build/tools/unet-make-model" -o "$work/standard.onnx" --filters 32

peak1=$("$build/tools/unet-fma-peak" 1 | sed 's/.*"gflops":\([0-9.]*\).*/\1/')
peak2=$("$build/tools/unet-fma-peak" 2 | sed 's/.*"gflops":\([0-9.]*\).*/\1/')
field() { sed "s/.*\"$2\": *\([-0-9.e]*\).*/\1/" <<<"$1"; }

# The CPU and the ISA oneDNN dispatches to in this environment (ONEDNN_MAX_CPU_ISA
# caps it): what every row below ran on. unet-infer --version prints both.
machine=$("$build/tools/unet-infer" --version)
cpu=$(sed -n 's/^CPU: //p' <<<"$machine")
isa=$(sed -n 's/^oneDNN ISA: //p' <<<"$machine")
echo "CPU: ${cpu:-unknown}; oneDNN ISA: ${isa:-unknown}; FP32 FMA peak measured here: $peak1 GFLOP/s on 1 thread, $peak2 on 2 threads"
echo
bf16=0
"$build/tools/unet-infer" --precision bf16 --version >/dev/null 2>&1 && bf16=1
[ "$bf16" = 1 ] || echo "bf16 rows left out: $("$build/tools/unet-infer" --precision bf16 --version 2>&1 | tail -1)"
echo
int8=0
# The QDQ files come from our own unet-quantize (calibrated on the sample
# tiles); without VNNI, 7-bit activations keep oneDNN's AVX2 int8 kernels
# exact (see unet-quantize --help).
qbits=8
grep -qi vnni <<<"$isa" || qbits=7
if [ -x "$build/tools/unet-quantize" ]; then
  for model in "$default" "$work/standard.onnx"; do
    "$build/tools/unet-quantize" "$model" models/samples -o "$work/$(basename "$model" .onnx).int8.onnx" \
      --activation-bits "$qbits" --quiet && int8=1
  done
  [ "$int8" = 1 ] && echo "int8 rows: unet-quantize defaults, --activation-bits $qbits, calibrated on models/samples"
else
  echo "int8 rows left out: $build/tools/unet-quantize is not built"
fi
echo
echo "| model | precision | batch | threads | ours tiles/s | ORT fp32 tiles/s | ours/ORT fp32 | ORT same file tiles/s | ours/ORT same file | ours GFLOP/s | % of FP32 peak | ours load ms | ours peak RSS - base MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
batches="1 8 32"
[ "$quick" = 1 ] && batches="8"
rows=()
for model in "$default" "$work/standard.onnx"; do
  for b in $batches; do
    for t in 1 2; do rows+=("$model fp32 $b $t"); done
  done
  if [ "$bf16" = 1 ]; then
    for t in 1 2; do rows+=("$model bf16 8 $t"); done
  fi
  if [ "$int8" = 1 ]; then
    for t in 1 2; do rows+=("$model int8 8 $t"); done
  fi
done
for row in "${rows[@]}"; do
      set -- $row
      model=$1; prec=$2; b=$3; t=$4
      name=$(basename "$model" .onnx)
      it=$iters
      [ "$b" = 32 ] && it=3
      file=$model; sprec=$prec
      if [ "$prec" = int8 ]; then file=$work/$(basename "$model" .onnx).int8.onnx; sprec=fp32; fi # int8: the QDQ file decides
      ours=$("$build/tools/unet-session-bench" "$file" "$b" "$t" "$it" 256 "$sprec")
      ot="-"; ratio="-"; os="-"; sratio="-"
      if [ "$ort" = 1 ]; then
        theirs=$(node tools/bench/ort-bench.js "$model" "$b" "$t" "$it" 2>/dev/null)
        ot=$(field "$theirs" tiles_per_s)
        ratio=$(awk -v a="$(field "$ours" tiles_per_s)" -v b="$ot" 'BEGIN{printf "%.2f", a/b}')
        ot=$(awk -v v="$ot" 'BEGIN{printf "%.2f", v}')
        if [ "$file" != "$model" ]; then
          same=$(node tools/bench/ort-bench.js "$file" "$b" "$t" "$it" 2>/dev/null)
          os=$(field "$same" tiles_per_s)
          sratio=$(awk -v a="$(field "$ours" tiles_per_s)" -v b="$os" 'BEGIN{printf "%.2f", a/b}')
          os=$(awk -v v="$os" 'BEGIN{printf "%.2f", v}')
        else
          os="(fp32)"; sratio="$ratio"
        fi
      fi
      peak=$([ "$t" = 1 ] && echo "$peak1" || echo "$peak2")
      gf=$(field "$ours" gflops)
      rss=$(awk -v p="$(field "$ours" rss_peak_kb)" -v q="$(field "$ours" rss_base_kb)" 'BEGIN{printf "%.0f", (p-q)/1024}')
      printf "| %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %.1f | %.0f%% | %.0f | %s |\n" "$name" "$prec" "$b" "$t" \
        "$(field "$ours" tiles_per_s)" "$ot" "$ratio" "$os" "$sratio" "$gf" "$(awk -v g="$gf" -v p="$peak" 'BEGIN{print 100*g/p}')" \
        "$(field "$ours" load_ms)" "$rss"
done

if [ "$train" = 1 ]; then
  echo
  echo "Training on ${cpu:-unknown}; oneDNN ISA: ${isa:-unknown}"
  echo
  echo "| training | batch | threads | ours tiles/s | PyTorch tiles/s | ours/PyTorch |"
  echo "|---|---|---|---|---|---|"
  for cfg in "4 16 0 small" "4 16 1 small+BN" "4 32 0 standard"; do
    set -- $cfg
    steps=5
    ours=$("$build/tools/unet-train-bench" "$1" "$2" 8 2 "$steps" "$3")
    if /usr/bin/python3 -c "import torch" 2>/dev/null; then
      theirs=$(/usr/bin/python3 tools/bench/torch-train-bench.py "$1" "$2" 8 2 "$steps" "$3")
      tt=$(field "$theirs" tiles_per_s)
      if [ -z "$tt" ] || [ "$tt" = "$theirs" ]; then
        tt="(torch run failed)"; ratio="-"
      else
        ratio=$(awk -v a="$(field "$ours" tiles_per_s)" -v b="$tt" 'BEGIN{printf "%.2f", a/b}')
      fi
    else
      tt="(no python3-torch)"; ratio="-"
    fi
    printf "| %s | 8 | 2 | %.2f | %s | %s |\n" "$4" "$(field "$ours" tiles_per_s)" "$tt" "$ratio"
  done
fi
