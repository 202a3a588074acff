#!/usr/bin/env bash
# Data-parallel training throughput: tiles/s of unet-train as
#   1 rank x 2 threads, 2 ranks x 1 thread, 1 rank x 1 thread
# on the two benchmark U-Nets (small = base 16, depth 4; standard = base 32,
# depth 4; no batch normalisation), and for the 2-rank runs the time per step
# split into computation and time blocked in MPI (gradient allreduce plus the
# small sums), read from unet-train's --json-file "distributed" section.
#
# Full measurement (needs the whole machine, nothing else running; about 10
# minutes on 2 cores):
#   tools/bench/mpi-train-bench.sh --build build --tile 256 --batch 8 --steps 20
# Smoke run (seconds; what the suite's authors ran while the machine was busy):
#   tools/bench/mpi-train-bench.sh --build build --tile 64 --batch 2 --steps 3 --nets small
# Options:
#   --build DIR    meson build folder with MPI (default build)
#   --tiles DIR    tiles to train on (default: synthetic, made with unet-synth and
#                  unet-tile at --tile into a temporary folder)
#   --tile N       tile size of the synthetic tiles (default 256)
#   --batch N      global batch (default 8; must be even)
#   --steps N      optimiser steps per run (default 20; the first, which creates
#                  the oneDNN primitives, is in the average)
#   --nets LIST    small,standard (default both)
#   --out FILE     also write the table as TSV
# Output columns: net, ranks, threads per rank, tiles/s, ms per step, ms
# computing per step, ms blocked in MPI per step, gradient MiB.
set -euo pipefail

build=build tiles= tile=256 batch=8 steps=20 nets=small,standard out=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --tiles) tiles=$2; shift 2 ;;
    --tile) tile=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --nets) nets=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "mpi-train-bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
train=$build/trainer/unet-train
for p in "$train" "$build/tools/unet-synth" "$build/tools/unet-tile"; do
  [ -x "$p" ] || { echo "mpi-train-bench: $p not built (meson setup $build -Dmpi=enabled && ninja -C $build)" >&2; exit 2; }
done
command -v mpirun >/dev/null || { echo "mpi-train-bench: mpirun not found (apt-get install openmpi-bin)" >&2; exit 2; }
command -v jq >/dev/null || { echo "mpi-train-bench: needs jq" >&2; exit 2; }
[ $((batch % 2)) -eq 0 ] || { echo "mpi-train-bench: --batch must be even (split over 2 ranks)" >&2; exit 2; }

work=$(mktemp -d /tmp/unet-mpi-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$tiles" ]; then
  side=$((tile * 4))
  "$build/tools/unet-synth" -o "$work/scenes" --scenes 2 --size "${side}x${side}" --seed 1 --quiet
  "$build/tools/unet-tile" "$work/scenes" -o "$work/tiles" --tile "$tile" --quiet
  tiles=$work/tiles
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none

row() { # net filters ranks threads
  local net=$1 filters=$2 ranks=$3 threads=$4 json=$work/$1-$3x$4.json
  local cmd=("$train" "$tiles" -o "$work/m.onnx" --depth 4 --filters "$filters" --batch "$batch"
             --max-steps "$steps" --epochs 1000 --no-augment --threads "$threads" --force --quiet
             --json-file "$json")
  if [ "$ranks" -gt 1 ]; then
    mpirun -np "$ranks" --bind-to none --oversubscribe "${cmd[@]}"
  else
    "${cmd[@]}"
  fi
  jq -r --arg net "$net" --argjson ranks "$ranks" --argjson threads "$threads" --argjson batch "$batch" '
    (.tiles_per_second) as $tps | ($batch / $tps * 1000) as $step
    | (if .distributed then .distributed.mpi_wait_seconds / .distributed.steps * 1000 else 0 end) as $mpi
    | (if .distributed then .distributed.gradient_bytes / 1048576 else null end) as $grad
    | [$net, $ranks, $threads, ($tps*10|round/10), ($step*10|round/10), (($step-$mpi)*10|round/10),
       ($mpi*100|round/100), (if $grad then ($grad*100|round/100) else "-" end)] | @tsv' "$json"
}

table=$work/table.tsv
printf 'net\tranks\tthreads\ttiles/s\tms/step\tms compute\tms MPI\tgrad MiB\n' > "$table"
IFS=, read -r -a list <<< "$nets"
for net in "${list[@]}"; do
  case "$net" in
    small) f=16 ;;
    standard) f=32 ;;
    *) echo "mpi-train-bench: unknown net $net (small, standard)" >&2; exit 2 ;;
  esac
  for cfg in "1 2" "2 1" "1 1"; do
    set -- $cfg
    row "$net" "$f" "$1" "$2" >> "$table"
  done
done
machine=$("$train" --version)
echo "unet-train, global batch $batch, $steps steps, tiles from $tiles;" \
  "CPU: $(sed -n 's/^CPU: //p' <<<"$machine"); oneDNN ISA: $(sed -n 's/^oneDNN ISA: //p' <<<"$machine")"
column -t -s $'\t' "$table"
[ -z "$out" ] || cp "$table" "$out"
