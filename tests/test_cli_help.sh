#!/usr/bin/env bash
# --help tells the truth: for every installed program (unet-infer, unet-eval,
# unet-tile, unet-synth, unet-conformance, unet-train, and unet-quantize when
# it is built), both directions between what --help names and what the
# program accepts:
#   1. every long option --help names (each --xxx token of its text) is in the
#      program's option table, exactly (getopt_long also takes unambiguous
#      prefixes, so a help naming "--thread" for "--threads" would run; this
#      static check catches it), and the program, run with it, does not reject
#      it ("unrecognized option", "unknown option", "invalid option", "is
#      ambiguous", "requires an argument", ...);
#   2. every long option in the table is named by --help, and is accepted when
#      run (which also proves the table was read right);
#   3. the same for the short options of getopt_long's option string (-o, -b,
#      -h, -q): each is named in --help as "-x" and accepted.
#
# What a program accepts is read from its source, not from free text: the one
# `static const struct option NAME[] = { { "name", has_arg, ... }, ... };`
# table and the option string of the one getopt_long() call in
# tools/PROGRAM.c (trainer/train_options.c for unet-train). Those tables are literal C
# initialisers, one per program, so a line-oriented scan of { "name", has_arg
# pairs between the table's opening line and its "};" is exact; the test
# fails, rather than guess, when a file holds no table or several, when
# getopt_long's option string is not a literal, or when a preprocessor
# conditional sits inside a table. (A single header per program holding the
# table for both getopt_long and the test was the alternative; it would move
# every table out of the programs while others edit them, and buys nothing the
# scan does not check.) The run in (1)-(3) guards the scan: an entry it
# misread is reported as rejected.
#
# Builds with and without MPI or GDAL: no option is compiled conditionally
# (checked by the preprocessor guard above). The GIS options (--bands,
# --stretch, --cog, --vector, --min-area, --simplify, --labels,
# --label-field) exist in every build and without GDAL are refused with how
# to enable it, which is not a rejection of the option; MPI changes how
# unet-train and unet-infer run under mpirun, not their options. The launcher
# variables are cleared here so every run is a single process.
#
# Each run is made to fail fast or do nothing lasting: outputs point into a
# temporary folder (the working folder of the runs too), inputs do not exist
# (a usage or input error right after option parsing), unet-synth gets an
# extra argument it refuses before writing anything, and every run has a
# timeout. Options that take an argument get the dummy "1".
#
# Needs UNET_SOURCE_ROOT and UNET_INFER, UNET_EVAL, UNET_TILE, UNET_SYNTH,
# UNET_CONFORMANCE, UNET_TRAIN (paths to the built programs; meson passes
# them), UNET_QUANTIZE when unet-quantize is built. Prints "ok"/"FAIL" per
# check and "N passed, N failed"; exit status 1 on any failure.
set -uo pipefail
[ -d "${UNET_SOURCE_ROOT:-}" ] || { echo "test_cli_help: UNET_SOURCE_ROOT is not set to a folder" >&2; exit 2; }
for v in UNET_INFER UNET_EVAL UNET_TILE UNET_SYNTH UNET_CONFORMANCE UNET_TRAIN; do
  [ -x "${!v:-}" ] || { echo "test_cli_help: $v is not set to a program" >&2; exit 2; }
done
# The runs start in a folder of their own: make the paths absolute.
for v in UNET_SOURCE_ROOT UNET_INFER UNET_EVAL UNET_TILE UNET_SYNTH UNET_CONFORMANCE UNET_TRAIN UNET_QUANTIZE; do
  [ -z "${!v:-}" ] || printf -v "$v" '%s' "$(realpath "${!v}")"
done
unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_LOCAL_SIZE PMI_SIZE PMI_RANK \
  PMIX_RANK SLURM_STEP_NUM_TASKS SLURM_PROCID MPI_LOCALNRANKS
work=$(mktemp -d /tmp/unet-cli-help.XXXXXX)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
# What getopt_long and the programs print when they refuse an option.
rejected='unrecogni[sz]ed option|unknown option|invalid option|illegal option|is ambiguous|doesn.t allow an argument|requires an argument'
TIMEOUT=${UNET_CLI_TIMEOUT:-30}

# table_of SOURCE: "name has_arg" per entry of the struct option table, then
# "TABLES n" and "PREPROC n" (conditionals inside the table).
table_of() {
  awk '
    /struct[ \t]+option[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\[[ \t]*\][ \t]*=/ { tables++; inside = 1 }
    inside && /^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)/ { preproc++ }
    inside {
      line = $0
      while (match(line, /\{[ \t]*"[^"]+"[ \t]*,[ \t]*[A-Za-z_0-9]+/)) {
        e = substr(line, RSTART, RLENGTH)
        line = substr(line, RSTART + RLENGTH)
        name = e; sub(/^\{[ \t]*"/, "", name); sub(/".*$/, "", name)
        arg = e; sub(/^.*,[ \t]*/, "", arg)
        print name, arg
      }
      if ($0 ~ /\}[ \t]*;/) inside = 0
    }
    END { print "TABLES", tables + 0; print "PREPROC", preproc + 0 }' "$1"
}

# optstring_of SOURCE: the literal option string of its getopt_long() calls,
# one per line (the call may span lines: the file is read whole).
optstring_of() {
  tr '\n' ' ' < "$1" | grep -oE 'getopt_long[ \t]*\([^,]*,[^,]*,[ \t]*"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

# check_program NAME EXE SOURCE BASE-ARGS...: BASE-ARGS follow the option
# under test in each run (outputs in $work, inputs that do not exist).
check_program() {
  local name=$1 exe=$2 src=$3
  shift 3
  local base=("$@")
  local dir=$work/$name
  mkdir -p "$dir"
  if [ ! -f "$src" ]; then
    fail "$name: source $src not found (where is its option table?)"
    return
  fi
  # --help itself.
  local help=$dir/help.txt
  (cd "$dir" && timeout -k 5 "$TIMEOUT" "$exe" --help > "$help" 2> "$dir/help.err")
  local st=$?
  if [ "$st" -ne 0 ] || [ ! -s "$help" ]; then
    fail "$name --help: exit status $st, $(wc -c < "$help") bytes on stdout: $(head -c 300 "$dir/help.err")"
    return
  fi
  ok "$name --help exits 0 and prints $(wc -l < "$help") lines"

  # The option table and option string from the source.
  local table
  table=$(table_of "$src")
  local n_tables n_preproc
  n_tables=$(sed -n 's/^TABLES //p' <<< "$table")
  n_preproc=$(sed -n 's/^PREPROC //p' <<< "$table")
  table=$(grep -vE '^(TABLES|PREPROC) ' <<< "$table")
  if [ "$n_tables" != 1 ]; then
    fail "$name: $src holds $n_tables struct option tables, expected 1 (extend this test)"
    return
  fi
  if [ "$n_preproc" != 0 ]; then
    fail "$name: $src has preprocessor conditionals inside its option table (extend this test for option sets per build)"
  fi
  local n_entries
  n_entries=$(grep -c . <<< "$table")
  if [ "$n_entries" -lt 2 ] || ! grep -qx 'help no_argument' <<< "$table"; then
    fail "$name: read $n_entries entries from the option table of $src, without --help: the scan is wrong"
    return
  fi
  local optstrings
  optstrings=$(optstring_of "$src")
  if [ "$(grep -c '' <<< "$optstrings")" != 1 ] || [ -z "$optstrings" ]; then
    fail "$name: expected one getopt_long() call with a literal option string in $src, found: $optstrings"
    return
  fi
  ok "$name: $n_entries long options in the table of $(basename "$src"), short options \"$optstrings\""

  declare -A has_arg=()
  local o a
  while read -r o a; do has_arg[$o]=$a; done <<< "$table"
  local help_opts
  help_opts=$(grep -oE -- '--[A-Za-z][A-Za-z0-9_-]*' "$help" | sed 's/^--//' | sort -u)

  # 1. Named by --help -> in the table.
  local missing=()
  for o in $help_opts; do
    [ -n "${has_arg[$o]:-}" ] || missing+=("--$o")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    ok "$name: every long option --help names is in the option table"
  else
    fail "$name: --help names ${missing[*]}, which the option table does not have"
  fi
  # 2. In the table -> named by --help.
  local unnamed=()
  for o in "${!has_arg[@]}"; do
    grep -qx -- "$o" <<< "$help_opts" || unnamed+=("--$o")
  done
  if [ ${#unnamed[@]} -eq 0 ]; then
    ok "$name: every long option of the table is named by --help"
  else
    fail "$name: accepts $(tr ' ' '\n' <<< "${unnamed[*]}" | sort | tr '\n' ' ')but --help does not name them"
  fi

  # Runs: the option alone (a dummy argument when it takes one) before BASE-ARGS.
  local runs=0 bad=()
  run_opt() { # run_opt LABEL ARGS...: 0 accepted, 1 rejected (reason in $why)
    local label=$1
    shift
    runs=$((runs + 1))
    local out=$dir/run-$runs.txt
    (cd "$dir" && timeout -k 5 "$TIMEOUT" "$exe" "$@" "${base[@]}" > "$out" 2>&1 < /dev/null)
    local s=$?
    why=""
    if [ "$s" -eq 124 ] || [ "$s" -eq 137 ]; then
      why="$label: still running after ${TIMEOUT}s"
    elif [ "$s" -gt 128 ]; then
      why="$label: killed by signal $((s - 128))"
    elif grep -qiE "$rejected" "$out"; then
      why="$label: $(grep -iE -m1 "$rejected" "$out")"
    fi
    [ -z "$why" ]
  }
  local why
  # The detector itself: a name no program has must be refused.
  if run_opt "--no-such-option-for-the-test" --no-such-option-for-the-test; then
    fail "$name: --no-such-option-for-the-test was not refused (or not with a message this test knows): $(head -c 300 "$dir/run-$runs.txt")"
  else
    ok "$name refuses an unknown option (${why#*: })"
  fi
  local all
  all=$( (printf '%s\n' $help_opts; printf '%s\n' "${!has_arg[@]}") | sort -u)
  for o in $all; do
    local args=("--$o")
    [ "${has_arg[$o]:-}" = required_argument ] && args+=(1)
    run_opt "${args[*]}" "${args[@]}" || bad+=("$why")
  done
  # 3. Short options: named in --help and accepted.
  local s=${optstrings#[+-]} c
  s=${s#:}
  local short_unnamed=()
  while [ -n "$s" ]; do
    c=${s:0:1}
    s=${s:1}
    local sargs=("-$c")
    if [ "${s:0:1}" = ":" ]; then
      sargs+=(1)
      s=${s#:}
      s=${s#:}
    fi
    grep -qE -- "(^|[^-A-Za-z0-9])-$c([^A-Za-z0-9-]|\$)" "$help" || short_unnamed+=("-$c")
    run_opt "${sargs[*]}" "${sargs[@]}" || bad+=("$why")
  done
  if [ ${#short_unnamed[@]} -eq 0 ]; then
    ok "$name: every short option (\"$optstrings\") is named by --help"
  else
    fail "$name: accepts ${short_unnamed[*]} but --help does not name them"
  fi
  if [ ${#bad[@]} -eq 0 ]; then
    ok "$name accepts each of the $((runs - 1)) options (help's and the table's) when run"
  else
    local b
    for b in "${bad[@]}"; do fail "$name refuses or mishandles $b"; done
  fi
}

src=$UNET_SOURCE_ROOT
missing=$work/does-not-exist
check_program unet-infer "$UNET_INFER" "$src/tools/unet-infer.c" -o "$work/out" "$missing.onnx" "$missing"
check_program unet-eval "$UNET_EVAL" "$src/tools/unet-eval.c" "$missing.onnx" "$missing"
check_program unet-tile "$UNET_TILE" "$src/tools/unet-tile.c" -o "$work/tiles" "$missing"
# Any argument left after the options ends unet-synth before it writes.
check_program unet-synth "$UNET_SYNTH" "$src/tools/unet-synth.c" "$missing"
check_program unet-conformance "$UNET_CONFORMANCE" "$src/tools/unet-conformance.c" "$missing"
check_program unet-train "$UNET_TRAIN" "$src/trainer/train_options.c" "$missing" -o "$work/model.onnx"
if [ -n "${UNET_QUANTIZE:-}" ]; then
  check_program unet-quantize "$UNET_QUANTIZE" "$src/tools/unet-quantize.c" "$missing.onnx" -o "$work/q.onnx"
elif [ -f "$src/tools/unet-quantize.c" ]; then
  fail "unet-quantize: tools/unet-quantize.c exists but UNET_QUANTIZE is not set (tests/meson.build)"
else
  echo "skip - unet-quantize: not in this tree"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
