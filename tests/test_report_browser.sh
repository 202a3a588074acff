#!/usr/bin/env bash
# The HTML reports of unet-eval --report and unet-train --report, rendered by
# a real browser (headless Chromium): the DOM it builds must hold the numbers
# the programs' --json gives (per-class precision, recall, F1, IoU, support,
# the summary figures, the confusion matrix cells and their row shares),
# gallery images that decode as PNGs of the tiles' size, the footer's stated
# size equal to the file's, no <script> element although a class is named
# <script>alert(1)</script> (it must show as text), and curves as SVG whose
# epoch table says what STEM.log.csv says and whose metrics are the best
# epoch's line of STEM.log.jsonl; after a --grid search, the ranked table of
# configurations with per-fold figures says what STEM.grid.csv says. A
# screenshot of each report must come out as a 1200x2000 PNG, and printing
# it must give a PDF.
#
# Data: a copy of the shipped sample tiles (models/samples) whose
# classes.tsv renames class 3, a tiny model trained on them for 2 epochs
# (so its metadata carries the name), then unet-eval on the tiles and on
# the same folder as a scene. Comparison in Python, from the parsed DOM.
#
# Needs UNET_SOURCE_ROOT, UNET_EVAL, UNET_TRAIN. Exits 77 (skipped) when
# chromium or python3 is missing.
set -uo pipefail
for v in UNET_SOURCE_ROOT UNET_EVAL UNET_TRAIN; do
  [ -n "${!v:-}" ] || { echo "test_report_browser: $v is not set" >&2; exit 2; }
done
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed (apt-get install chromium; tools/install-deps.sh does)"
  exit 77
fi
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
work=$(mktemp -d /tmp/unet-report-browser.XXXXXX)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
set -e

cp -r "$UNET_SOURCE_ROOT/models/samples" "$work/tiles"
rm -f "$work/tiles/README.md"
awk -F'\t' 'BEGIN { OFS = "\t" } $1 == 3 { $2 = "<script>alert(1)</script>" } { print }' \
  "$UNET_SOURCE_ROOT/models/samples/classes.tsv" > "$work/tiles/classes.tsv"

"$UNET_TRAIN" "$work/tiles" -o "$work/m.onnx" --filters 4 --depth 2 --epochs 2 --batch 4 --val 0.3 \
  --threads 2 --quiet --json --report "$work/train.html" > "$work/train.json"
# A grid search over 2 scene folds (folds.tsv: the tiles' scenes, alternating).
mkdir -p "$work/search"
cp -r "$work/tiles" "$work/search/tiles"
i=0
for f in "$work"/search/tiles/images/*.png; do
  n=$(basename "$f" .png)
  printf '%s\t%s\t%d\n' "$n" "${n%%__*}" $((i % 2)) >> "$work/search/tiles/folds.tsv"
  i=$((i + 1))
done
"$UNET_TRAIN" "$work/search/tiles" -o "$work/search/m.onnx" --filters 4 --depth 2 --epochs 1 --batch 4 \
  --grid "lr=1e-3,3e-3" --threads 2 --quiet --report "$work/search.html" > /dev/null
"$UNET_EVAL" "$work/m.onnx" "$work/tiles" --report "$work/eval.html" --report-tiles 3 --json --quiet \
  > "$work/eval.json"
"$UNET_EVAL" --scene "$work/m.onnx" "$work/tiles" --tile 128 --overlap 32 --report "$work/scene.html" \
  --report-tiles 2 --json --quiet > "$work/scene.json"

render() { # NAME: DOM and screenshot of NAME.html
  # A profile of its own: nothing of the user's is read or written.
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$work/profile" --dump-dom "file://$work/$1.html" > "$work/$1.dom" 2> "$work/$1.log"
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$work/profile" --screenshot="$work/$1.png" --window-size=1200,2000 \
    "file://$work/$1.html" >> "$work/$1.log" 2>&1
  # Printing goes through the print stylesheet.
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --user-data-dir="$work/profile" --no-pdf-header-footer --print-to-pdf="$work/$1.pdf" \
    "file://$work/$1.html" >> "$work/$1.log" 2>&1
}
for r in eval scene train search; do render "$r"; done
echo "rendered with $("$CHROMIUM" --version 2>/dev/null | head -1)"

python3 - "$work" <<'PY'
import base64, json, math, os, struct, sys
from html.parser import HTMLParser

work = sys.argv[1]
failed = 0
def check(ok, what):
    global failed
    print(("ok   - " if ok else "FAIL - ") + what)
    failed += not ok

class Dom(HTMLParser):
    """Elements with their attributes, parent chain and text."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elems, self.stack = [], []
    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": [p["tag"] for p in self.stack],
             "ids": [p["attrs"].get("id") for p in self.stack]}
        self.elems.append(e)
        if tag not in ("img", "meta", "br", "hr", "input", "link", "rect", "line", "circle", "path"):
            self.stack.append(e)
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

def parse(name):
    d = Dom()
    d.feed(open(os.path.join(work, name + ".dom"), encoding="utf-8").read())
    return d.elems

def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])

def same(dom_value, json_value):
    if json_value is None:
        return dom_value == "null"
    return float(dom_value) == float(json_value)

def check_metrics(name, j):
    el = parse(name)
    cells = [e for e in el if e["tag"] == "td" and "data-key" in e["attrs"]]
    rows = [e for e in el if e["tag"] == "tr" and "data-class" in e["attrs"] and "metrics" in e["ids"]]
    check(len(rows) == j["n_classes"], f"{name}: {len(rows)} class rows, JSON has {j['n_classes']}")
    bad = []
    # Cells in document order: 6 keyed cells per class row.
    per_class = [e for e in cells if "metrics" in e["ids"]]
    keys = ["support", "predicted", "precision", "recall", "f1", "iou"]
    for i, c in enumerate(j["classes"]):
        for k, key in enumerate(keys):
            e = per_class[i * 6 + k]
            v = c[key]
            text = e["text"].strip()
            want = "n/a" if v is None else (str(v) if key in ("support", "predicted") else f"{v:.4f}")
            if e["attrs"]["data-key"] != key or not same(e["attrs"]["data-value"], v) or text != want:
                bad.append(f"class {i} {key}: DOM {e['attrs']['data-value']!r} '{text}', JSON {v!r}")
    check(not bad, f"{name}: per-class precision, recall, F1, IoU, support equal --json" + ("; " + "; ".join(bad[:4]) if bad else ""))
    summary = {e["attrs"]["data-key"]: e for e in cells if "summary" in e["ids"]}
    bad = [k for k in ("mean_iou", "macro_f1", "pixel_accuracy", "weighted_f1")
           if k not in summary or not same(summary[k]["attrs"]["data-value"], j[k])
           or summary[k]["text"].strip() != f"{j[k]:.4f}"]
    check(not bad, f"{name}: mIoU, macro F1, pixel accuracy, weighted F1 equal --json (mIoU {j['mean_iou']})" + (f"; differ: {bad}" if bad else ""))
    cm = [e for e in el if e["tag"] == "td" and "data-count" in e["attrs"]]
    k = j["n_classes"]
    bad = []
    for e in cm:
        t, p = int(e["attrs"]["data-t"]), int(e["attrs"]["data-p"])
        row = j["confusion_matrix"][t]
        count = row[p]
        share = f"{100 * count / sum(row):.1f}%" if sum(row) else "-"
        if int(e["attrs"]["data-count"]) != count or e["text"].strip() != f"{count}{share}":
            bad.append(f"({t},{p}) DOM '{e['text'].strip()}' JSON {count} {share}")
    check(len(cm) == k * k and not bad, f"{name}: {len(cm)} confusion cells = --json's {k}x{k} counts and row shares" + ("; " + "; ".join(bad[:3]) if bad else ""))
    return el

def check_common(name, el):
    check(not any(e["tag"] == "script" for e in el), f"{name}: no <script> element in the DOM")
    # In the metrics table's name cells and the class legends.
    named = [e for e in el if ((e["tag"] == "td" and e["attrs"].get("class") == "name") or
                               (e["tag"] == "li" and "data-class" in e["attrs"]))
             and "<script>alert(1)</script>" in e["text"]]
    check(len(named) >= 1, f"{name}: the class named <script>alert(1)</script> shows as text ({len(named)} cells and legend entries)")
    size = os.path.getsize(os.path.join(work, name + ".html"))
    foot = [e for e in el if e["attrs"].get("id") == "file-size"]
    check(len(foot) == 1 and int(foot[0]["attrs"]["data-bytes"]) == size and foot[0]["text"].strip() == f"This file is {size} bytes.",
          f"{name}: footer states the file's size, {size} bytes")
    with open(os.path.join(work, name + ".png"), "rb") as f:
        check(png_size(f.read(64)) == (1200, 2000), f"{name}: screenshot is a 1200x2000 PNG")
    with open(os.path.join(work, name + ".pdf"), "rb") as f:
        pdf = f.read()
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    check(pdf.startswith(b"%PDF-") and pages >= 1, f"{name}: prints to a PDF of {pages} page(s)")
    raw = open(os.path.join(work, name + ".html"), encoding="utf-8").read()
    check("http://" not in raw.replace("http://www.w3.org/2000/svg", "") and "https://" not in raw,
          f"{name}: no network address in the file")

def check_gallery(name, el, n, tile, candidates):
    rows = [e for e in el if e["tag"] == "div" and e["attrs"].get("data-kind")]
    worst = [r for r in rows if r["attrs"]["data-kind"] == "worst"]
    best = [r for r in rows if r["attrs"]["data-kind"] == "best"]
    check(len(worst) == min(n, candidates) and len(best) == min(n, candidates - len(worst)),
          f"{name}: gallery holds {len(worst)} worst and {len(best)} best of {candidates}")
    s = [float(r["attrs"]["data-miou"]) for r in worst]
    b = [float(r["attrs"]["data-miou"]) for r in best]
    check(s == sorted(s) and b == sorted(b, reverse=True) and (not s or not b or max(s) <= min(b)),
          f"{name}: worst ascending, best descending, every worst <= every best")
    imgs = [e for e in el if e["tag"] == "img" and "gallery" in e["ids"]]
    bad = []
    for e in imgs:
        src = e["attrs"]["src"]
        if not src.startswith("data:image/png;base64,"):
            bad.append("not a PNG data URI")
            continue
        size = png_size(base64.b64decode(src.split(",", 1)[1], validate=True))
        if size != (tile, tile) or (int(e["attrs"]["width"]), int(e["attrs"]["height"])) != size:
            bad.append(f"{size}")
    check(len(imgs) == 4 * len(rows) and not bad,
          f"{name}: {len(imgs)} gallery images (image, truth, prediction, errors) decode as {tile}x{tile} PNGs" + (f"; bad: {bad[:3]}" if bad else ""))

ej = json.load(open(os.path.join(work, "eval.json")))
el = check_metrics("eval", ej)
check_common("eval", el)
check_gallery("eval", el, 3, 256, ej["tiles_evaluated"])
sha = [e for e in el if e["attrs"].get("id") == "model-sha256"]
import hashlib
want = hashlib.sha256(open(os.path.join(work, "m.onnx"), "rb").read()).hexdigest()
check(len(sha) == 1 and sha[0]["text"].strip() == want, "eval: model SHA-256 is the file's")
try:  # the parameter count is the file's (not the folded copies libunet makes at load)
    import onnx
    import numpy
    mp = onnx.load(os.path.join(work, "m.onnx"))
    want_p = sum(int(numpy.prod(t.dims)) for t in mp.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    got_p = [e["text"].strip() for e in el if e["attrs"].get("id") == "model-parameters"]
    check(got_p == [str(want_p)], f"eval: parameters {got_p} = the file's float initializer values ({want_p})")
except ImportError:
    print("skip - parameter count: this python3 has no onnx module")

sj = json.load(open(os.path.join(work, "scene.json")))
el = check_metrics("scene", sj)
check_common("scene", el)
check_gallery("scene", el, 2, 128, 4 * sj["tiles_evaluated"])

tj = json.load(open(os.path.join(work, "train.json")))
el = parse("train")
check_common("train", el)
import csv
log = [json.loads(l) for l in open(os.path.join(work, "m.log.jsonl"))]
# The epoch table is drawn from STEM.log.csv (what the curves read; 6 digits).
rows = list(csv.DictReader(open(os.path.join(work, "m.log.csv"))))
cells = [e for e in el if e["tag"] == "td" and "epochs" in e["ids"] and "data-key" in e["attrs"]]
bad = []
for i, row in enumerate(rows):
    for e in cells[i * 6:(i + 1) * 6]:
        key = e["attrs"]["data-key"]
        if not same(e["attrs"]["data-value"], row[key] if row[key] != "" else None):
            bad.append(f"epoch {i + 1} {key}: {e['attrs']['data-value']} vs {row[key]}")
check(len(rows) == len(log) and len(cells) == 6 * len(rows) and not bad,
      f"train: epoch table = STEM.log.csv for {len(rows)} epochs" + (f"; {bad[:3]}" if bad else ""))
best = [e for e in el if e["attrs"].get("id") == "best-epoch"]
check(len(best) == 1 and str(tj["best_epoch"]) == best[0]["attrs"]["data-epoch"], f"train: best epoch {tj['best_epoch']} as --json says")
last = tj["last_epoch"]
summary = {e["attrs"]["data-key"]: e for e in el if e["tag"] == "td" and "summary" in e["ids"]}
ep = [e for e in el if e["attrs"].get("id") == "metrics-epoch"]
shown = next(r for r in log if r["epoch"] == int(ep[0]["attrs"]["data-epoch"]))
check(same(summary["mean_iou"]["attrs"]["data-value"], shown["val_miou"]),
      f"train: validation mIoU of epoch {shown['epoch']} = its log line ({shown['val_miou']})")
paths = {s["attrs"].get("id"): [e for e in el if e["tag"] == "path" and s["attrs"].get("id") in e["ids"]]
         for s in el if s["tag"] == "svg"}
check(len(paths.get("curve-loss", [])) == 2 and len(paths.get("curve-miou", [])) == 3
      and all(p["attrs"]["d"].count("L") == len(log) - 1 for p in paths["curve-loss"] + paths["curve-miou"]),
      f"train: loss (2 lines) and mIoU (3 lines) curves as inline SVG through {len(log)} epochs")

el = parse("search")
check_common("search", el)
grid = list(csv.DictReader(open(os.path.join(work, "search", "m.grid.csv"))))
trs = [e for e in el if e["tag"] == "tr" and e["attrs"].get("class") == "config"]
tds = [e for e in el if e["tag"] == "td" and "ranked" in e["ids"]]
per = len(tds) // max(len(trs), 1)
cols = ["rank", "configuration", "rung", "folds", "miou_mean", "miou_std", "macro_f1_mean", "macro_f1_std",
        "best_epoch_mean", "parameters", "train_seconds", "miou_fold0", "miou_fold1", "macro_f1_fold0", "macro_f1_fold1"]
bad = []
for i, row in enumerate(grid):
    cells = tds[i * per:(i + 1) * per]
    for c, e in zip(cols, cells):
        v = e["attrs"].get("data-value", e["text"].strip())
        if (c in ("rank", "configuration", "rung", "folds", "parameters") and v != row[c]) or \
           (c not in ("rank", "configuration", "rung", "folds", "parameters") and not same(v, row[c] or None)):
            bad.append(f"rank {i + 1} {c}: {v!r} vs {row[c]!r}")
check(len(trs) == len(grid) == 2 and per == len(cols) and not bad,
      f"search: ranked table of {len(trs)} configurations with per-fold mIoU and F1 = STEM.grid.csv" + (f"; {bad[:3]}" if bad else ""))

print(f"{'FAILED' if failed else 'passed'}: {failed} check(s) failed")
sys.exit(1 if failed else 0)
PY
