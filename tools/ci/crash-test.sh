#!/usr/bin/env bash
# Crash safety (issue: reliability). For each stage, SIGKILL that stage's command (with --force, so
# the kill lands inside a write) KILLS times at random moments of its run. After every kill:
#  - every artifact directory in the workdir passes `visrec verify` (full digests, lineage),
#  - the stage's previous good artifact is still there and still verifies.
# After all kills, `visrec run` (no --force) completes and its recommendations and evaluation report
# are byte-identical to an uninterrupted run in a separate workdir.
# Usage: tools/ci/crash-test.sh [KILLS=20] [VISREC=build/visrec]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kills=${1:-20}; visrec=$(realpath "${2:-$root/build/visrec}")
work=$(mktemp -d /tmp/visrec-crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$visrec" sample --out "$work/cat" --items 40 --users 60 --min-side 200 --max-side 400 -q >/dev/null
cat_csv="$work/cat/catalog.csv"
common=(--model resnet18 --threads 2 -q)
run_args=(run --catalog "$cat_csv" --interactions "$work/cat/interactions.csv" --split leave-last-out
          --label-column category --dims 16 "${common[@]}")

"$visrec" "${run_args[@]}" --workdir "$work/ref" >/dev/null
"$visrec" "${run_args[@]}" --workdir "$work/w" >/dev/null
latest_of() { echo "$work/w/$1/$(cat "$work/w/$1/latest")"; }
train=$(latest_of split)/train.csv
test_csv=$(latest_of split)/test.csv

# The stage commands `run` issues, one by one, with the same parameters (so the same artifact keys).
stage_cmd() {
  case $1 in
    preprocess) echo preprocess --catalog "$cat_csv" ;;
    extract) echo extract --model resnet18 ;;
    reduce) echo reduce --dims 16 ;;
    recommend) echo recommend --interactions "$train" --catalog "$cat_csv" ;;
    evaluate) echo evaluate --test "$test_csv" --train "$train" --label-column category --catalog "$cat_csv" ;;
  esac
}

verify_all() {  # every finished artifact in the workdir must verify (one process); prints problems
  local n=0 dirs=()
  for d in "$work"/w/*/*/; do
    d=${d%/}
    [ -f "$d/manifest.json" ] || { echo "  $d: a visible directory without manifest"; n=$((n + 1)); continue; }
    dirs+=("$d")
  done
  "$visrec" verify "${dirs[@]}" -q 2>&1 | grep PROBLEM && n=$((n + 1))
  return "$n"
}

RANDOM=7
bad=0
for stage in preprocess extract reduce recommend evaluate; do
  read -r -a cmd <<<"$(stage_cmd "$stage")"
  good=$(latest_of "$stage")
  start=$(date +%s.%N)
  "$visrec" "${cmd[@]}" --workdir "$work/w" --force "${common[@]:2}" >/dev/null
  total=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  [ "$(latest_of "$stage")" = "$good" ] || { echo "$stage: the stage command made a different key than run"; exit 1; }
  for ((i = 1; i <= kills; i++)); do
    delay=$(awk -v t="$total" -v r="$RANDOM" 'BEGIN { printf "%.3f", t * r / 32767 }')
    "$visrec" "${cmd[@]}" --workdir "$work/w" --force "${common[@]:2}" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ! out=$(verify_all); then echo "$stage kill $i (after ${delay}s):"; echo "$out"; bad=$((bad + 1)); fi
    if [ ! -f "$good/manifest.json" ]; then
      # The swap may be mid-way only on filesystems without an atomic exchange; the next writer restores it.
      echo "$stage kill $i (after ${delay}s): previous good artifact $good is not in place"; bad=$((bad + 1))
    fi
  done
  echo "$stage: ${kills} kills at random moments of a ${total}s run"
done

"$visrec" "${run_args[@]}" --workdir "$work/w" >/dev/null
for f in recommend/recommendations.csv evaluate/report.json; do
  stage=${f%%/*}; file=${f#*/}
  a=$(sha256sum <"$work/ref/$stage/$(cat "$work/ref/$stage/latest")/$file")
  b=$(sha256sum <"$(latest_of "$stage")/$file")
  [ "$a" = "$b" ] || { echo "rerun after kills: $file differs from the uninterrupted run"; bad=$((bad + 1)); }
done
leftovers=$(find "$work/w" -maxdepth 2 -name '.tmp-*' -o -maxdepth 2 -name '.old-*' | wc -l)
echo "stages: 5, kills per stage: $kills, problems: $bad, hidden staging leftovers of killed writers: $leftovers (removed by the next writer)"
[ "$bad" -eq 0 ]
