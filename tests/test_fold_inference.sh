#!/usr/bin/env bash
# tools/search/fold-inference.sh end to end on synthetic scenes: three 64x64
# scenes cut into 32x32 tiles in 2 folds (scene 3 held out as fold "test"),
# a --cv 2 search with --keep-run-models, then the script on its run folder:
#   1. one JSON per fold and setting, each scoring that fold's scenes only,
#      with the setting's overlap and flips and the --tile window;
#   2. with windows side by side (o0, --tile 32) the scene-mode mIoU of a
#      fold equals the search's own validation mIoU of that fold (the same
#      32x32 grid), to 0.005 (the runtime's kernels are not the trainer's);
#   3. a second call evaluates nothing again (the JSONs are kept) and prints
#      the same table, which has a row per setting;
#   4. refusals: an unknown setting (exit 2), a folder without kept models,
#      JSONs in OUT_DIR that scored another run's model, two kept models of
#      one fold (exit 1).
set -euo pipefail
: "${UNET_SOURCE_ROOT:?}" "${UNET_TRAIN:?}" "${UNET_SYNTH:?}" "${UNET_TILE:?}" "${UNET_BUILD:?}"
script="$UNET_SOURCE_ROOT/tools/search/fold-inference.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$UNET_SYNTH" -o "$tmp/scenes" --scenes 3 --size 64x64 --seed 1 --quiet
"$UNET_TILE" "$tmp/scenes" -o "$tmp/tiles" --tile 32 --folds 2 --test-scenes scene-3 --quiet
"$UNET_TRAIN" "$tmp/tiles" -o "$tmp/m.onnx" --cv 2 --filters 4 --depth 2 --epochs 3 --batch 2 \
    --no-augment --threads 1 --keep-run-models --quiet

run() { "$script" --tiles "$tmp/tiles" --scenes "$tmp/scenes" --tile 32 --settings o0,o0-tta "$@"; }
run "$tmp/m.search" "$tmp/out" >"$tmp/table1" 2>"$tmp/err1" || fail "fold-inference.sh failed: $(cat "$tmp/err1")"

for fold in 0 1; do
    for s in o0 o0-tta; do
        [ -f "$tmp/out/fold$fold.$s.json" ] || fail "no fold$fold.$s.json"
    done
done
# o64 needs windows larger than 64: the default 256 (one window per scene).
"$script" --tiles "$tmp/tiles" --scenes "$tmp/scenes" --settings o64 "$tmp/m.search" "$tmp/out64" \
    >/dev/null 2>"$tmp/err64" || fail "fold-inference.sh o64 failed: $(cat "$tmp/err64")"
/usr/bin/env python3 - "$tmp" <<'EOF'
import glob, json, os, sys
tmp = sys.argv[1]
folds = {}
for line in open(os.path.join(tmp, "tiles/folds.tsv")):
    name, scene, fold = line.rstrip("\n").split("\t")
    folds.setdefault(fold, set()).add(scene)
want = {"o0": ("out", 0, False, 32), "o0-tta": ("out", 0, True, 32), "o64": ("out64", 64, False, 256)}
for result in glob.glob(os.path.join(tmp, "m.search/*/result.json")):
    r = json.load(open(result))
    if r["fold"] is None:
        assert not os.path.exists(os.path.join(os.path.dirname(result), "model.onnx"))
        continue
    k = r["fold"]
    for s, (out, overlap, tta, tile) in want.items():
        e = json.load(open(os.path.join(tmp, f"{out}/fold{k}.{s}.json")))
        scenes = {sc["name"] for sc in e["scenes"]}
        assert scenes == folds[str(k)], (s, k, scenes, folds[str(k)])
        assert (e["overlap"], e["tta"], e["tile"]) == (overlap, tta, tile), (s, e["overlap"], e["tta"], e["tile"])
        assert e["model"].endswith("/model.onnx") and os.path.basename(os.path.dirname(result)) in e["model"]
        if s == "o0":
            d = abs(e["mean_iou"] - r["val_miou"])
            assert d <= 0.005, f"fold {k}: scene mode o0 mIoU {e['mean_iou']:.4f}, search {r['val_miou']:.4f}"
            print(f"fold {k}: o0 {e['mean_iou']:.4f} vs the search's {r['val_miou']:.4f}")
EOF
[ "$(grep -c '^| o' "$tmp/table1")" -eq 4 ] || fail "expected 2 settings x 2 tables of rows: $(cat "$tmp/table1")"
cmp -s "$tmp/table1" "$tmp/out/table.md" || fail "table.md differs from the printed table"

run "$tmp/m.search" "$tmp/out" >"$tmp/table2" 2>"$tmp/err2"
[ ! -s "$tmp/err2" ] || fail "the second call evaluated again: $(cat "$tmp/err2")"
cmp -s "$tmp/table1" "$tmp/table2" || fail "the second call's table differs"

# Kept JSONs of other runs' models, two models of one fold: refused.
cp -r "$tmp/m.search" "$tmp/other.search"
for d in "$tmp/other.search"/*.fold0.*; do mv "$d" "${d%.*}.0ther"; done
set +e
run "$tmp/other.search" "$tmp/out" >/dev/null 2>"$tmp/err5"
rc5=$?
cp -r "$tmp/other.search"/*.0ther "$tmp/m.search/" || fail "no renamed run to copy"
run "$tmp/m.search" "$tmp/out2" >/dev/null 2>"$tmp/err6"
rc6=$?
"$script" --tiles "$tmp/tiles" --scenes "$tmp/scenes" --settings o7 "$tmp/m.search" "$tmp/o2" 2>"$tmp/err3"
rc=$?
mkdir -p "$tmp/empty"
"$script" --tiles "$tmp/tiles" --scenes "$tmp/scenes" "$tmp/empty" "$tmp/o3" 2>"$tmp/err4"
rc4=$?
set -e
[ $rc -eq 2 ] && grep -q "unknown setting 'o7'" "$tmp/err3" || fail "unknown setting: rc $rc, $(cat "$tmp/err3")"
[ $rc4 -eq 1 ] && grep -q 'keep-run-models' "$tmp/err4" || fail "no models: rc $rc4, $(cat "$tmp/err4")"
[ $rc5 -eq 1 ] && grep -q 'scored another model' "$tmp/err5" || fail "another run's JSON: rc $rc5, $(cat "$tmp/err5")"
[ $rc6 -eq 1 ] && grep -q 'two kept models of fold 0' "$tmp/err6" || fail "two models of a fold: rc $rc6, $(cat "$tmp/err6")"
echo "fold-inference: OK"
