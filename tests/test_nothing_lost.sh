#!/usr/bin/env bash
# Nothing lost: unet-infer over 1,000 small tiles of which 10 are corrupt
#  1. finishes the other 990 and lists exactly the 10 failures in its JSON;
#  2. killed with SIGKILL partway and restarted, skips the finished masks and
#     ends with every mask written exactly once, valid, and no *.tmp.* file;
#  3. with the output on a full disk (a 256 KiB tmpfs when mounting is allowed,
#     else RLIMIT_FSIZE=0 in the child), reports the errors, exits 1, and
#     leaves no corrupt or partial mask.
# Needs UNET_INFER, UNET_MAKE_MODEL, UNET_SYNTH and MASK_CHECK (paths to the
# built programs; meson passes them). Prints "N passed, N failed" at the end.
set -uo pipefail
for v in UNET_INFER UNET_MAKE_MODEL UNET_SYNTH MASK_CHECK; do
  [ -x "${!v:-}" ] || { echo "test_nothing_lost: $v is not set to a program" >&2; exit 2; }
done
# Memory-backed when possible: a thousand fsyncs on a disk take longer than
# the whole test should, and nothing tested here depends on the medium.
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
work=$(mktemp -d "$base/unet-nothing-lost.XXXXXX")
mounted=""
cleanup() {
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
  rm -rf "$work"
}
[ -n "${KEEP_WORK:-}" ] || trap cleanup EXIT
passed=0 failed=0
check() { # check NAME CONDITION-STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   - $1"
  else
    failed=$((failed + 1)); echo "FAIL - $1${3:+: $3}"
  fi
}
json_field() { jq -r "$2" "$1"; }

# ---- the model and 1,000 tiles (990 good copies of 20 synthetic tiles + 10 corrupt)
"$UNET_MAKE_MODEL" -o "$work/m.onnx" --depth 1 --filters 2 --classes 3 || exit 2
tag=$(sha256sum "$work/m.onnx" | cut -d' ' -f1)
"$UNET_SYNTH" -o "$work/synth" --scenes 1 --parts 20 --size 32x32 --quiet || exit 2
mkdir -p "$work/tiles"
parts=("$work"/synth/scene-1/images/*.png)
[ ${#parts[@]} -eq 20 ] || { echo "unet-synth made ${#parts[@]} parts, expected 20" >&2; exit 2; }
for p in $(seq 0 19); do
  names=()
  for i in $(seq $p 20 989); do
    names+=("$work/tiles/t$(printf %04d $i).png")
  done
  tee "${names[@]}" < "${parts[$p]}" > /dev/null
done
good=$work/tiles/t0000.png
size=$(stat -c %s "$good")
c=$work/tiles
: > "$c/c00-empty.png"
head -c 60 "$good" > "$c/c01-truncated-header.png"
head -c $((size - 20)) "$good" > "$c/c02-truncated-data.png"
head -c 500 /dev/zero | tr '\0' 'x' > "$c/c03-text.png"
{ head -c 8 "$good"; head -c 300 /dev/zero | tr '\0' '\377'; } > "$c/c04-signature-then-junk.png"
cp "$good" "$c/c05-bad-ihdr-crc.png"; printf '\x7f' | dd of="$c/c05-bad-ihdr-crc.png" bs=1 seek=29 conv=notrunc status=none
cp "$good" "$c/c06-bad-idat.png"; head -c 16 /dev/zero | dd of="$c/c06-bad-idat.png" bs=1 seek=$((size - 40)) conv=notrunc status=none
{ printf 'GIF89a'; head -c 100 /dev/zero; } > "$c/c07-gif.png"
{ printf '\377\330\377\340'; head -c 200 /dev/zero | tr '\0' '\125'; } > "$c/c08-jpeg-junk.jpg"
mkdir "$c/c09-directory.png"
corrupt=$(cd "$c" && ls -d c0* | sed "s|^|$c/|" | sort)
n_tiles=$(ls "$c" | wc -l)
[ "$n_tiles" -eq 1000 ] || { echo "made $n_tiles tiles, expected 1000" >&2; exit 2; }

masks_valid() { # masks_valid DIR: every *.png in DIR is a complete, tagged 32x32 mask
  local files=("$1"/*.png)
  [ -e "${files[0]}" ] || return 0
  "$MASK_CHECK" --size 32x32 --classes 3 --tag "$tag" "${files[@]}" > "$work/mask-check.log" 2>&1
}
no_temp_files() { ! ls -A "$1" | grep -q '\.tmp\.'; }

# ---- 1. corrupt inputs: the rest is finished, exactly the 10 are listed
"$UNET_INFER" "$work/m.onnx" "$c" -o "$work/out1" --threads 1 --quiet --json > "$work/run1.json" 2> "$work/run1.err"
status=$?
check "corrupt tiles: exit status 1" $((status != 1)) "got $status"
check "corrupt tiles: 990 written, 10 failed" \
  $(( $(json_field "$work/run1.json" .written) != 990 || $(json_field "$work/run1.json" .failed) != 10 )) \
  "$(jq -c '{written, skipped, failed}' "$work/run1.json")"
listed=$(jq -r '.failures[].file' "$work/run1.json" | sort)
check "corrupt tiles: the JSON lists exactly the 10 corrupt files" $([ "$listed" = "$corrupt" ]; echo $?) \
  "listed: $(echo $listed)"
check "corrupt tiles: every failure has a message" \
  $(jq -e '[.failures[].error | length > 0] | all' "$work/run1.json" > /dev/null; echo $?)
check "corrupt tiles: 990 masks, all valid" \
  $( [ "$(ls "$work/out1" | wc -l)" -eq 990 ] && masks_valid "$work/out1"; echo $?) "$(tail -3 "$work/mask-check.log")"
check "corrupt tiles: no mask for a corrupt tile" $(ls "$work/out1" | grep -q '^c0'; [ $? -ne 0 ]; echo $?)

# ---- 2. SIGKILL partway, then restart
out=$work/out2
"$UNET_INFER" "$work/m.onnx" "$c" -o "$out" --quiet --batch 4 --threads 1 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  n=$(ls "$out" 2>/dev/null | grep -c '^t.*\.png$')
  [ "$n" -ge 300 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.02
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
before=$(ls "$out" | grep -c '^t.*\.png$')
check "kill: stopped partway (some but not all masks)" $(( before < 1 || before >= 990 )) "$before masks"
check "kill: every mask present after the kill is valid" $(masks_valid "$out"; echo $?) "$(tail -3 "$work/mask-check.log")"
(cd "$out" && stat -c '%n %i %Y %s' t*.png | sort) > "$work/before.txt"
"$UNET_INFER" "$work/m.onnx" "$c" -o "$out" --threads 1 --quiet --json > "$work/run2.json" 2> "$work/run2.err"
status=$?
check "restart: exit status 1 (the 10 corrupt tiles)" $((status != 1)) "got $status"
check "restart: skipped the finished masks, wrote the rest" \
  $(( $(json_field "$work/run2.json" .skipped) != before || $(json_field "$work/run2.json" .written) != 990 - before )) \
  "before=$before $(jq -c '{written, skipped, failed}' "$work/run2.json")"
(cd "$out" && stat -c '%n %i %Y %s' t*.png | sort) > "$work/after.txt"
check "restart: masks from before the kill were not rewritten" \
  $(comm -23 "$work/before.txt" "$work/after.txt" | grep -q .; [ $? -ne 0 ]; echo $?)
check "restart: 990 masks, all valid" \
  $( [ "$(ls "$out" | grep -c '^t.*\.png$')" -eq 990 ] && masks_valid "$out"; echo $?) "$(tail -3 "$work/mask-check.log")"
check "restart: no *.tmp.* file left" $(no_temp_files "$out"; echo $?) "$(ls -A "$out" | grep '\.tmp\.' | head -3 | tr '\n' ' ')"

# ---- 3. full disk
full=$work/full
mkdir -p "$full"
how=""
if mount -t tmpfs -o size=256k tmpfs "$full" 2> /dev/null; then
  mounted=$full
  how="tmpfs of 256 KiB"
  "$UNET_INFER" "$work/m.onnx" "$c" -o "$full" --threads 1 --quiet --json > "$work/run3.json" 2> "$work/run3.err"
  status=$?
else
  # No mount here: every write past 0 bytes fails with EFBIG (SIGXFSZ ignored
  # so the write returns an error instead of killing the process).
  how="RLIMIT_FSIZE=0 (mounting a tmpfs is not permitted here)"
  # Its output goes through a pipe: the limit applies to every regular file.
  (trap '' XFSZ; ulimit -f 0; exec "$UNET_INFER" "$work/m.onnx" "$c" -o "$full" --threads 1 --quiet --json 2>&1) \
    | cat > "$work/run3.all"
  status=${PIPESTATUS[0]}
  grep '^{' "$work/run3.all" > "$work/run3.json"
  grep -v '^{' "$work/run3.all" > "$work/run3.err"
fi
echo "#    full disk simulated with: $how"
written=$(json_field "$work/run3.json" .written)
nfailed=$(json_field "$work/run3.json" .failed)
check "full disk: exit status 1" $((status != 1)) "got $status"
check "full disk: every tile either written or reported" $(( written + nfailed != 1000 || nfailed <= 10 )) \
  "written=$written failed=$nfailed"
check "full disk: write errors name the cause" $(grep -qiE 'no space left|file too large' "$work/run3.err"; echo $?) \
  "$(grep -v '^c0' "$work/run3.err" | head -2)"
check "full disk: masks present = masks reported written, all valid" \
  $( [ "$(ls "$full" | grep -c '\.png$')" -eq "$written" ] && masks_valid "$full"; echo $?) \
  "$(ls "$full" | grep -c '\.png$') files; $(tail -2 "$work/mask-check.log")"
check "full disk: no *.tmp.* file left" $(no_temp_files "$full"; echo $?)

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
