#!/usr/bin/env bash
# The scene-fold search of the default model, run over several sessions and
# machines from what git holds (see models/search/README.md).
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: tools/search/scene-search.sh start|stop|save|status STAGE
       tools/search/scene-search.sh --help

The scene-fold search (unet-train --cv --grid --budget) in stages. A stage is
defined by models/search/STAGE.args (unet-train's options, one per line; '#'
starts a comment line) and its state in git is models/search/STAGE/: each
finished run's result.json and log.csv (a few kB), under the run folder's name
(a hash of configuration, shared settings and split sizes, no paths). A run
whose result.json is there is skipped when the search starts again; a rung
that would continue a run's checkpoint that is not on this machine trains
afresh for its whole time limit.

  start STAGE   tile the data into $SEARCH_TILES if it is not there (and check
                its folds.tsv against models/search/tiles.sha256), copy the
                committed results into $SEARCH_WORK/STAGE.search, then start
                unet-train in the background (nohup, nice -n 10, --threads
                $SEARCH_THREADS),
                logging to $SEARCH_WORK/STAGE.log. Refuses when a search of
                this stage is already running.
  stop STAGE    SIGINT to the running search: it stops between steps, keeps
                finished runs and the checkpoint of the run under way (exit 3);
                waits up to 10 minutes for it to end
  save STAGE    copy every finished run's result.json and log.csv, and the
                search's grid.csv and summary.json when they exist, into
                models/search/STAGE/ (small text files, for git add), and
                write the tables of tools/search/search-table.sh into
                models/search/README.md (between its "<!-- table of stage
                STAGE:" and "<!-- end of table -->" lines)
  status STAGE  whether it runs, finished runs here and in git, the log's end

Environment (defaults in brackets):
  SEARCH_DATA   the scenes [REPO/../shared/data/dubai-aerial-semantic-segmentation]
  SEARCH_TILES  the tiles, never in git [/tmp/search-tiles]
  SEARCH_WORK   run folders, checkpoints, log [/tmp/search-work]
  UNET_BUILD    the meson build folder [REPO/build]
  SEARCH_THREADS  oneDNN threads of the search [1]; run times are wall-clock
                limits, so a stage should keep one value throughout
Exit status: 0 done, 1 failure, 2 bad usage.
EOF
}

die() { echo "scene-search: $*" >&2; exit 1; }

case "${1:-}" in
-h | --help) usage; exit 0 ;;
start | stop | save | status) ;;
"") usage >&2; exit 2 ;;
*) echo "scene-search: unknown command '$1' (start, stop, save, status; --help)" >&2; exit 2 ;;
esac
cmd=$1
[ $# -eq 2 ] || { echo "scene-search: $cmd needs one STAGE (e.g. A)" >&2; exit 2; }
stage=$2
case "$stage" in
*[!A-Za-z0-9_-]*) echo "scene-search: STAGE '$stage': letters, digits, - and _ only" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/../.." && pwd)
state=$repo/models/search
args_file=$state/$stage.args
data=${SEARCH_DATA:-$repo/../shared/data/dubai-aerial-semantic-segmentation}
tiles=${SEARCH_TILES:-/tmp/search-tiles}
work=${SEARCH_WORK:-/tmp/search-work}
threads=${SEARCH_THREADS:-1}
case "$threads" in "" | *[!0-9]* | 0) die "SEARCH_THREADS='$threads': a whole number >= 1" ;; esac
build=${UNET_BUILD:-$repo/build}
search_dir=$work/$stage.search
pid_file=$work/$stage.pid
log=$work/$stage.log

[ -f "$args_file" ] || die "no stage '$stage': $args_file does not exist (see models/search/README.md)"

running_pid() {
    [ -f "$pid_file" ] || return 1
    local p
    p=$(cat "$pid_file")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
    # The pid file could outlive the process and its number be reused.
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "unet-train .*$stage.onnx" || return 1
    echo "$p"
}

# Copies each run's result.json and log.csv from $1 to $2 (folders of run
# folders), never replacing a file already there; prints how many results.
copy_runs() {
    local from=$1 to=$2 n=0 run name f
    for run in "$from"/*/; do
        [ -f "$run/result.json" ] || continue
        name=$(basename "$run")
        mkdir -p "$to/$name"
        for f in result.json log.csv; do
            [ -f "$run/$f" ] && [ ! -e "$to/$name/$f" ] && cp "$run/$f" "$to/$name/$f"
        done
        n=$((n + 1))
    done
    echo "$n"
}

check_tiles() {
    local sums=$state/tiles.sha256
    if [ ! -f "$tiles/folds.tsv" ]; then
        [ -d "$data" ] || die "the scenes are not at $data (set SEARCH_DATA)"
        [ -x "$build/tools/unet-tile" ] || die "$build/tools/unet-tile is missing: build first (meson setup build --buildtype=release && ninja -C build)"
        echo "scene-search: tiling $data into $tiles" >&2
        nice -n 10 "$build/tools/unet-tile" "$data" -o "$tiles" --align-edges --folds 3 --quiet ||
            die "unet-tile failed"
    fi
    local got
    got=$(cd "$tiles" && sha256sum folds.tsv stats.tsv)
    if [ -f "$sums" ]; then
        [ "$got" = "$(cat "$sums")" ] ||
            die "$tiles/folds.tsv or stats.tsv differ from $sums: other tiles than the committed runs' (different data or unet-tile); remove $tiles to tile again, or start a new stage"
    else
        echo "$got" >"$sums"
        echo "scene-search: wrote $sums (commit it)" >&2
    fi
    cp "$tiles/stats.tsv" "$state/stats.tsv"
}

case "$cmd" in
start)
    if p=$(running_pid); then die "stage $stage is already running (pid $p; log $log)"; fi
    train=$build/trainer/unet-train
    [ -x "$train" ] || die "$train is missing: build first (meson setup build --buildtype=release && ninja -C build)"
    check_tiles
    mkdir -p "$search_dir"
    n=0
    [ -d "$state/$stage" ] && n=$(copy_runs "$state/$stage" "$search_dir")
    echo "scene-search: $n committed result(s) of stage $stage copied into $search_dir" >&2
    args=()
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in '' | '#'*) continue ;; esac
        args+=("$line")
    done <"$args_file"
    {
        echo "# $(date -u +%FT%TZ) $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'): $train $tiles -o $work/$stage.onnx ${args[*]} --threads $threads"
    } >>"$log"
    nohup nice -n 10 "$train" "$tiles" -o "$work/$stage.onnx" "${args[@]}" --threads "$threads" \
        >>"$log" 2>&1 </dev/null &
    echo $! >"$pid_file"
    sleep 2
    p=$(running_pid) || die "unet-train ended at once; see $log: $(tail -3 "$log")"
    echo "scene-search: stage $stage runs as pid $p; log $log" >&2
    ;;
stop)
    p=$(running_pid) || die "stage $stage is not running"
    kill -INT "$p"
    for _ in $(seq 600); do
        kill -0 "$p" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$p" 2>/dev/null; then die "pid $p still runs after 10 minutes"; fi
    rm -f "$pid_file"
    echo "scene-search: stopped; $(tail -1 "$log")" >&2
    ;;
save)
    [ -d "$search_dir" ] || die "$search_dir does not exist: nothing to save"
    mkdir -p "$state/$stage"
    n=$(copy_runs "$search_dir" "$state/$stage")
    for f in "$work/$stage.grid.csv" "$search_dir/summary.json"; do
        [ -f "$f" ] && cp "$f" "$state/$stage/"
    done
    # The tables in README.md between "<!-- table of stage STAGE..." and
    # "<!-- end of table -->", made again from the saved results.
    readme=$state/README.md
    mark="<!-- table of stage $stage:"
    if [ "$n" -gt 0 ] && [ -f "$readme" ] && grep -qF "$mark" "$readme"; then
        k=$(awk 'prev == "--cv" { print; exit } { prev = $0 }' "$args_file")
        table=$(mktemp)
        "$repo/tools/search/search-table.sh" ${k:+--folds "$k"} "$state/$stage" >"$table"
        awk -v mark="$mark" -v table="$table" '
            skip && index($0, "<!-- end of table -->") == 1 { skip = 0 }
            skip { next }
            { print }
            index($0, mark) == 1 { while ((getline l < table) > 0) print l; skip = 1 }
        ' "$readme" >"$readme.new"
        mv "$readme.new" "$readme"
        rm -f "$table"
        echo "scene-search: tables of stage $stage written into $readme" >&2
    fi
    echo "scene-search: $n finished run(s) of stage $stage in $state/$stage ($(du -sh "$state/$stage" | cut -f1)); git add models/search" >&2
    ;;
status)
    if p=$(running_pid); then echo "stage $stage: running (pid $p)"; else echo "stage $stage: not running"; fi
    here=0 saved=0
    [ -d "$search_dir" ] && here=$(find "$search_dir" -mindepth 2 -maxdepth 2 -name result.json | wc -l)
    [ -d "$state/$stage" ] && saved=$(find "$state/$stage" -mindepth 2 -maxdepth 2 -name result.json | wc -l)
    echo "finished runs: $here in $search_dir, $saved in $state/$stage"
    [ -f "$log" ] && tail -3 "$log"
    ;;
esac
