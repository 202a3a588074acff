#!/usr/bin/env bash
# Test-time flips and window overlap, measured on held-out scenes: each fold
# model a search kept (unet-train --keep-run-models) segments the whole scenes
# of its own validation fold (unet-eval --scene) under several inference
# settings, so their gain is measured where no run trained.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tools/search/fold-inference.sh [options] SEARCH_DIR OUT_DIR
       tools/search/fold-inference.sh --help

SEARCH_DIR is a search's run folder (e.g. /tmp/search-work/F.search): every
RUN/ with result.json (its "fold") and model.onnx is a fold model. The fold's
scenes are the SCENE column of the tiles' folds.tsv for that fold; each is
SCENE_ROOT/SCENE (the data set's 'Tile N' folders). For every fold model and
every setting, unet-eval --scene writes OUT_DIR/foldK.SETTING.json (kept:
small, for git) unless that file exists already; then a Markdown table of the
settings' mIoU per fold, their mean over folds, the mean IoU of each class and
the seconds unet-eval took is printed (and written to OUT_DIR/table.md).

Settings: o0 (windows side by side, --overlap 0), o64 (unet-infer's default
overlap), o128, o0-tta, o64-tta (--tta: flips and quarter turns averaged).

Options:
  --tiles DIR       the search's tiles folder [/tmp/search-tiles]
  --scenes DIR      SCENE_ROOT [REPO/../shared/data/dubai-aerial-semantic-segmentation]
  --tile N          the window's size, as the search's tiles [256]
  --threads N       unet-eval threads [1]
  --settings LIST   comma-separated subset of the settings above [all]
Needs python3 (JSON). Exit status: 0 done, 1 failure, 2 bad usage.
EOF
}

repo=$(cd "$(dirname "$0")/../.." && pwd)
tiles=/tmp/search-tiles
scenes="$repo/../shared/data/dubai-aerial-semantic-segmentation"
threads=1
tile=256
settings="o0,o64,o128,o0-tta,o64-tta"
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --tiles | --scenes | --tile | --threads | --settings)
        [ $# -ge 2 ] || { echo "fold-inference: $1 needs a value" >&2; exit 2; }
        case "$1" in
        --tiles) tiles=$2 ;;
        --scenes) scenes=$2 ;;
        --tile | --threads)
            case "$2" in '' | *[!0-9]* | 0*) echo "fold-inference: $1 '$2' is not a positive number" >&2; exit 2 ;; esac
            if [ "$1" = --tile ]; then tile=$2; else threads=$2; fi ;;
        --settings) settings=$2 ;;
        esac
        shift 2 ;;
    -*) echo "fold-inference: unknown option '$1' (--help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -eq 2 ] || { usage >&2; exit 2; }
search_dir=$1 out_dir=$2
eval_exe=${UNET_BUILD:-$repo/build}/tools/unet-eval
[ -d "$search_dir" ] || { echo "fold-inference: '$search_dir' is not a folder" >&2; exit 1; }
[ -f "$tiles/folds.tsv" ] || { echo "fold-inference: no folds file $tiles/folds.tsv" >&2; exit 1; }
[ -d "$scenes" ] || { echo "fold-inference: the scenes folder '$scenes' is missing" >&2; exit 1; }
[ -x "$eval_exe" ] || { echo "fold-inference: $eval_exe is not built (ninja -C build)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "fold-inference: python3 is needed" >&2; exit 1; }

flags_of() {
    case "$1" in
    o0) echo "--overlap 0" ;;
    o64) echo "--overlap 64" ;;
    o128) echo "--overlap 128" ;;
    o0-tta) echo "--overlap 0 --tta" ;;
    o64-tta) echo "--overlap 64 --tta" ;;
    *) return 1 ;;
    esac
}
IFS=, read -r -a wanted <<<"$settings"
for s in "${wanted[@]}"; do
    flags_of "$s" >/dev/null || { echo "fold-inference: unknown setting '$s' (o0, o64, o128, o0-tta, o64-tta)" >&2; exit 2; }
done
mkdir -p "$out_dir"

models=0 seen_folds=""
for run in "$search_dir"/*/; do
    run=${run%/}
    [ -f "$run/model.onnx" ] && [ -f "$run/result.json" ] || continue
    fold=$(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["fold"]; print("" if f is None else f)' "$run/result.json")
    [ -n "$fold" ] || continue
    # One model per fold: a grid's several configurations would share OUT_DIR's names.
    case " $seen_folds " in *" $fold "*)
        echo "fold-inference: two kept models of fold $fold in $search_dir (one configuration per search folder)" >&2; exit 1 ;;
    esac
    seen_folds="$seen_folds $fold"
    models=$((models + 1))
    mapfile -t fold_scenes < <(awk -F'\t' -v k="$fold" '$3 == k { print $2 }' "$tiles/folds.tsv" | sort -u)
    [ ${#fold_scenes[@]} -gt 0 ] || { echo "fold-inference: fold $fold has no scenes in $tiles/folds.tsv" >&2; exit 1; }
    paths=()
    for sc in "${fold_scenes[@]}"; do
        [ -d "$scenes/$sc" ] || { echo "fold-inference: scene '$scenes/$sc' of fold $fold is missing" >&2; exit 1; }
        paths+=("$scenes/$sc")
    done
    for s in "${wanted[@]}"; do
        json="$out_dir/fold$fold.$s.json"
        if [ -f "$json" ]; then
            # Kept from an earlier call: only if it scored this run's model (the
            # run's name holds its configuration's hash; the path may differ).
            python3 -c 'import json,sys; sys.exit(not json.load(open(sys.argv[1]))["model"].endswith(sys.argv[2]))' \
                "$json" "/$(basename "$run")/model.onnx" ||
                { echo "fold-inference: $json scored another model than $run/model.onnx: use another OUT_DIR or remove it" >&2; exit 1; }
            continue
        fi
        echo "fold-inference: fold $fold (${fold_scenes[*]}), $s: $(basename "$run")" >&2
        # shellcheck disable=SC2046 # the setting's flags are words
        "$eval_exe" --scene "$run/model.onnx" "${paths[@]}" $(flags_of "$s") --tile "$tile" \
            --threads "$threads" --quiet --json-file "$json.tmp" >/dev/null
        mv "$json.tmp" "$json"
    done
done
[ "$models" -gt 0 ] || { echo "fold-inference: no RUN/model.onnx with a fold in $search_dir (unet-train --keep-run-models)" >&2; exit 1; }

python3 - "$out_dir" "$settings" <<'EOF' | tee "$out_dir/table.md"
import json, os, statistics, sys
out, settings = sys.argv[1], sys.argv[2].split(",")
runs = {}
for name in os.listdir(out):
    if name.startswith("fold") and name.endswith(".json"):
        fold, setting = name[4:-5].split(".", 1)
        runs[(int(fold), setting)] = json.load(open(os.path.join(out, name)))
folds = sorted({f for f, _ in runs})
classes = None
print("| setting | " + " | ".join(f"fold {f}" for f in folds) + " | mean | seconds |")
print("|---|" + "---|" * (len(folds) + 2))
per_class = {}
for s in settings:
    got = [runs.get((f, s)) for f in folds]
    if any(g is None for g in got):
        continue
    classes = [c["name"] for c in got[0]["classes"]]
    miou = [g["mean_iou"] for g in got]
    secs = sum(g["timing"].get("seconds", float("nan")) for g in got)
    # A class without pixels in a fold has no IoU there (null).
    per_class[s] = [[g["classes"][k]["iou"] for g in got if g["classes"][k]["iou"] is not None]
                    for k in range(len(classes))]
    print(f"| {s} | " + " | ".join(f"{m:.4f}" for m in miou) +
          f" | **{statistics.mean(miou):.4f}** | {secs:.0f} |")
if classes:
    print()
    print("| setting | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for s, v in per_class.items():
        print(f"| {s} | " + " | ".join(f"{statistics.mean(x):.3f}" if x else "-" for x in v) + " |")
EOF
