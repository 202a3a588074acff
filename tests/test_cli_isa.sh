#!/usr/bin/env bash
# The programs name the CPU and the ISA oneDNN dispatches to
# (unet_cpu_model(), unet_cpu_isa()):
#   1. unet-infer --check MODEL prints "oneDNN ISA: NAME (...)" with NAME one
#      of oneDNN's ISA names, and a "cpu:" line; on a CPU with AVX-512 the ISA
#      is an avx512 one;
#   2. with ONEDNN_MAX_CPU_ISA=AVX2 it prints avx2 (on an AVX2-only CPU too);
#      on a CPU without AVX2 the cap changes nothing;
#   3. unet-train --version names the ISA the same way, capped alike;
#   4. unet-infer --json carries "machine": {"cpu", "isa"}, capped alike;
#   5. --precision bf16 runs in unet-infer and unet-eval where the ISA is
#      avx512_core_bf16 or above, and is refused with the reason (naming AVX-512
#      BF16 and the ISA there is) below it, e.g. capped at AVX2.
# Needs UNET_INFER, UNET_EVAL, UNET_TRAIN, UNET_MAKE_MODEL and UNET_SYNTH
# (meson passes them). Prints "N passed, N failed"; exit status 1 on any failure.
set -uo pipefail
for v in UNET_INFER UNET_EVAL UNET_TRAIN UNET_MAKE_MODEL UNET_SYNTH; do
  [ -x "${!v:-}" ] || { echo "test_cli_isa: $v is not set to a program" >&2; exit 2; }
done
unset ONEDNN_MAX_CPU_ISA DNNL_MAX_CPU_ISA
work=$(mktemp -d /tmp/unet-cli-isa.XXXXXX)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # check NAME STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   - $1"
  else
    failed=$((failed + 1)); echo "FAIL - $1${3:+: $3}"
  fi
}
names='sse41|avx|avx2|avx2_vnni|avx512_mic|avx512_mic_4ops|avx512_core|avx512_core_vnni|avx512_core_bf16|avx512_core_amx'
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { grep -qw "$1" <<< "$flags"; }
# What a cap to AVX2 must give: avx2 where the CPU has it, else the CPU's own.
capped=avx2
has avx2 || capped=""

"$UNET_MAKE_MODEL" -o "$work/m.onnx" --depth 1 --filters 2 --classes 3 > /dev/null || exit 2
"$UNET_SYNTH" -o "$work/scenes" --scenes 1 --size 32x32 --quiet || exit 2

# isa_of FILE PREFIX: the ISA name after PREFIX ("oneDNN ISA: ") in FILE.
isa_of() { sed -n "s/^$2\\([a-z0-9_]*\\) (.*)\$/\\1/p" "$1" | head -n 1; }

# 1. --check at the CPU's own ISA.
timeout 60 "$UNET_INFER" --check "$work/m.onnx" > "$work/check.txt" 2>&1
st=$?
check "unet-infer --check exits 0" "$st" "$(head -c 300 "$work/check.txt")"
native=$(isa_of "$work/check.txt" "oneDNN ISA: ")
grep -qxE "$names" <<< "$native"
check "unet-infer --check names the ISA oneDNN dispatches to ($native)" $? \
  "$(grep -i isa "$work/check.txt" || echo 'no "oneDNN ISA:" line')"
grep -qE '^cpu: .+' "$work/check.txt"
check "unet-infer --check names the CPU ($(sed -n 's/^cpu: //p' "$work/check.txt"))" $?
if has avx512f; then
  [[ "$native" == avx512* ]]
  check "the CPU has AVX-512 and the ISA is an AVX-512 one ($native)" $?
fi

# 2. --check capped at AVX2.
ONEDNN_MAX_CPU_ISA=AVX2 timeout 60 "$UNET_INFER" --check "$work/m.onnx" > "$work/check-avx2.txt" 2>&1
low=$(isa_of "$work/check-avx2.txt" "oneDNN ISA: ")
[ "$low" = "${capped:-$native}" ]
check "ONEDNN_MAX_CPU_ISA=AVX2 unet-infer --check names ${capped:-$native} ($low)" $? \
  "$(grep -i isa "$work/check-avx2.txt")"

# 3. unet-train --version, own and capped.
timeout 60 "$UNET_TRAIN" --version > "$work/train.txt" 2>&1
t_native=$(isa_of "$work/train.txt" "oneDNN ISA: ")
[ "$t_native" = "$native" ] && grep -qE '^CPU: .+' "$work/train.txt"
check "unet-train --version names the CPU and the ISA ($t_native)" $? "$(cat "$work/train.txt")"
ONEDNN_MAX_CPU_ISA=AVX2 timeout 60 "$UNET_TRAIN" --version > "$work/train-avx2.txt" 2>&1
t_low=$(isa_of "$work/train-avx2.txt" "oneDNN ISA: ")
[ "$t_low" = "${capped:-$native}" ]
check "ONEDNN_MAX_CPU_ISA=AVX2 unet-train --version names ${capped:-$native} ($t_low)" $? "$(cat "$work/train-avx2.txt")"

# 4. The JSON summary of a run, own and capped.
for cap in "" AVX2; do
  want=$native
  [ -n "$cap" ] && want=${capped:-$native}
  env ${cap:+ONEDNN_MAX_CPU_ISA=$cap} timeout 120 "$UNET_INFER" "$work/m.onnx" "$work/scenes/scene-1/images" \
    -o "$work/masks$cap" --json --quiet --force > "$work/run$cap.json" 2> "$work/run$cap.err"
  st=$?
  isa=$(jq -r '.machine.isa' "$work/run$cap.json" 2> /dev/null | sed 's/ (.*//')
  cpu=$(jq -r '.machine.cpu' "$work/run$cap.json" 2> /dev/null)
  [ "$st" -eq 0 ] && [ "$isa" = "$want" ] && [ -n "$cpu" ] && [ "$cpu" != null ]
  check "unet-infer --json${cap:+ (ONEDNN_MAX_CPU_ISA=$cap)}: machine.isa $want, machine.cpu '$cpu'" $? \
    "exit $st, isa '$isa': $(head -c 300 "$work/run$cap.json") $(head -c 300 "$work/run$cap.err")"
done

# 5. --precision bf16, own ISA and capped.
for cap in "" AVX2; do
  isa=$native
  [ -n "$cap" ] && isa=${capped:-$native}
  bf16=0
  [[ "$isa" == avx512_core_bf16 || "$isa" == avx512_core_amx ]] && bf16=1
  for prog in infer eval; do
    if [ "$prog" = infer ]; then
      env ${cap:+ONEDNN_MAX_CPU_ISA=$cap} timeout 120 "$UNET_INFER" "$work/m.onnx" "$work/scenes/scene-1/images" \
        -o "$work/bf16$cap" --precision bf16 --quiet --force > "$work/bf16$cap.out" 2>&1
    else
      env ${cap:+ONEDNN_MAX_CPU_ISA=$cap} timeout 120 "$UNET_EVAL" --scene "$work/m.onnx" "$work/scenes/scene-1" \
        --precision bf16 --quiet > "$work/bf16$cap.out" 2>&1
    fi
    st=$?
    if [ "$bf16" = 1 ]; then
      [ "$st" -eq 0 ]
      check "unet-$prog --precision bf16 runs at $isa${cap:+ (ONEDNN_MAX_CPU_ISA=$cap)}" $? "$(head -c 300 "$work/bf16$cap.out")"
    else
      [ "$st" -eq 2 ] && grep -q "needs a CPU with AVX-512 BF16" "$work/bf16$cap.out" && grep -qi "offers" "$work/bf16$cap.out"
      check "unet-$prog --precision bf16 is refused with the reason at $isa${cap:+ (ONEDNN_MAX_CPU_ISA=$cap)}" $? \
        "exit $st: $(head -c 300 "$work/bf16$cap.out")"
    fi
  done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
