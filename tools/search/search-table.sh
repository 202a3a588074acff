#!/usr/bin/env bash
# Markdown tables of a scene-fold search's finished runs, from their
# result.json files alone (the committed models/search/STAGE/ or a live
# STEM.search folder), so the model card's figures can be made again.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tools/search/search-table.sh [--folds K] DIR
       tools/search/search-table.sh --help

DIR holds run folders RUN/result.json written by unet-train --cv/--grid/
--budget (models/search/STAGE/ or MODEL.search/). Prints one Markdown table per
rung, latest rung first: each configuration's validation mIoU (best epoch) per
fold, the mean and sample standard deviation over folds when every fold has
finished ("k/K folds" otherwise), the optimiser steps per fold and how the runs
ended. Configurations are sorted by mean (then by fold count). Where the
runs give val_class_iou, a second table per rung gives each class's IoU per
fold. The retrain (fold null) is listed apart. Needs python3.
  --folds K   folds of the search (default: the largest fold id seen + 1)
EOF
}

folds=0
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --folds)
        [ $# -ge 2 ] || { echo "search-table: --folds needs a number" >&2; exit 2; }
        case "$2" in '' | *[!0-9]*) echo "search-table: --folds '$2' is not a number" >&2; exit 2 ;; esac
        folds=$2; shift 2 ;;
    -*) echo "search-table: unknown option '$1' (--help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
dir=$1
[ -d "$dir" ] || { echo "search-table: '$dir' is not a folder" >&2; exit 1; }
command -v python3 >/dev/null || { echo "search-table: python3 is needed" >&2; exit 1; }

python3 - "$dir" "$folds" <<'EOF'
import glob, json, math, os, statistics, sys

root, k = sys.argv[1], int(sys.argv[2])
runs = []
for path in sorted(glob.glob(os.path.join(root, "*", "result.json"))):
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"search-table: {path}: {e}")
    if r.get("id") != os.path.basename(os.path.dirname(path)):
        sys.exit(f"search-table: {path} names run {r.get('id')!r}, not its folder")
    runs.append(r)
if not runs:
    sys.exit(f"search-table: no result.json under {root}")
if k == 0:
    k = 1 + max((r["fold"] for r in runs if r["fold"] is not None), default=0)

def num(v, fmt="{:.4f}"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

cv = [r for r in runs if r["fold"] is not None]
print(f"{len(cv)} finished cross-validation run(s) in {len(set(r['label'] for r in cv))} "
      f"configuration(s), {k} folds; mIoU = validation mIoU of the run's best epoch.\n")
for rung in sorted({r["rung"] for r in cv}, reverse=True):
    these = [r for r in cv if r["rung"] == rung]
    limit = these[0].get("time_limit")
    by = {}
    for r in these:
        by.setdefault(r["label"], {})[r["fold"]] = r
    rows = []
    for label, fr in by.items():
        vals = [fr[f]["val_miou"] for f in range(k) if f in fr]
        done = len(fr) == k and all(v is not None for v in vals)
        mean = statistics.fmean(vals) if done else None
        sd = statistics.stdev(vals) if done and k > 1 else None
        rows.append((0 if done else 1, -(mean or 0), -len(fr), label, fr, mean, sd))
    rows.sort(key=lambda t: t[:4])
    head = f"Rung {rung}"
    if limit is not None:
        head += f" (time limit per run {limit:.1f} s in all: training and epoch-end validations; the validation at the stop comes on top)"
    print(f"{head}:\n")
    print("| configuration | " + " | ".join(f"fold {f}" for f in range(k)) +
          " | mean ± sd | steps per fold | ended by |")
    print("|---|" + "---|" * k + "---|---|---|")
    for _, _, _, label, fr, mean, sd in rows:
        cells = [num(fr[f]["val_miou"]) if f in fr else "" for f in range(k)]
        if mean is not None:
            m = f"**{mean:.4f}** ± {sd:.4f}" if sd is not None else f"**{mean:.4f}**"
        else:
            m = f"{len(fr)}/{k} folds"
        steps = "/".join(str(int(fr[f]["steps"])) if f in fr else "-" for f in range(k))
        ends = ", ".join(sorted({fr[f]["end"] for f in fr}))
        print(f"| {label} | " + " | ".join(cells) + f" | {m} | {steps} | {ends} |")
    print()
    # Per class (runs of unet-train that write val_class_iou): IoU per fold,
    # fold 0 / fold 1 / ..., "-" for a class without validation pixels there.
    per = [(label, fr) for _, _, _, label, fr, _, _ in rows
           if any("val_class_iou" in r for r in fr.values())]
    if per:
        names = []
        for _, fr in per:
            for r in fr.values():
                for c in r.get("val_class_iou", {}):
                    if c not in names:
                        names.append(c)
        print(f"Rung {rung}, IoU per class (fold " + " / ".join(str(f) for f in range(k)) + "):\n")
        print("| configuration | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for label, fr in per:
            cells = ["/".join(num(fr[f].get("val_class_iou", {}).get(c), "{:.2f}") if f in fr else ""
                              for f in range(k)) for c in names]
            print(f"| {label} | " + " | ".join(cells) + " |")
        print()
final = [r for r in runs if r["fold"] is None]
for r in final:
    print(f"Retrain on all {r['train_tiles']} tiles: {r['label']}, {int(r['steps'])} steps, "
          f"{r['epochs_completed']} epochs, ended by {r['end']}.")
EOF
