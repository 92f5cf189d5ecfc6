#!/usr/bin/env bash
# Benchmark (not a test): the whole `visrec recommend` stage on a large sample catalog, with its
# time by phase (the stage's -v log) and max RSS. Builds the workdir first: `visrec sample` with small
# photos and a tiny TorchScript model (needs Debian python3-torch), so extraction takes seconds.
# BASELINE=/path/to/another/visrec runs that binary alternately on the same inputs (side by side)
# and checks both write the same recommendations.csv and similar_items.csv. AUTO=1 also runs
# `--blend auto` after each default run and prints its time as a multiple of the default's.
# Usage: [BASELINE=...] tools/bench/bench-recommend-stage.sh [ITEMS=20000] [USERS=100000] [RUNS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
items=${1:-20000}; users=${2:-100000}; runs=${3:-2}
visrec="$root/build/visrec"
work=$(mktemp -d /tmp/visrec-bench-recstage.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/tools/bench/tiny_model.py" "$work/tiny.pt"
"$visrec" sample --out "$work/b" --items "$items" --users "$users" --min-side 32 --max-side 48 --threads 2 -q >/dev/null
"$visrec" run --catalog "$work/b/catalog.csv" --interactions "$work/b/interactions.csv" --workdir "$work/w" \
  --resize 32 --crop 32 --model-file "$work/tiny.pt" --batch-size 64 --dims 64 --threads 2 -q >/dev/null 2>&1
reduce=$(echo "$work"/w/reduce/"$(cat "$work/w/reduce/latest")")
echo "catalog: $items items, $(( $(wc -l < "$work/b/interactions.csv") - 1 )) interactions; recommend with default options, 2 threads"
one() {  # NAME BINARY WORKDIR [EXTRA FLAGS...]
  local name=$1 bin=$2 wd=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" recommend -w "$wd" --reduce "$reduce" --interactions "$work/b/interactions.csv" \
    --catalog "$work/b/catalog.csv" --force --threads 2 -v "$@" > /dev/null 2> "$work/log"
  read -r secs rss < "$work/time"
  last_secs=$secs
  printf '%-9s %7.2f s  %5d MB  %s\n' "$name" "$secs" $(( rss / 1024 )) "$(grep -o 'time by phase: .*' "$work/log" || echo '(no phase log)')"
}
for r in $(seq "$runs"); do
  one visrec "$visrec" "$work/w"
  if [ -n "${AUTO:-}" ]; then
    fixed=$last_secs
    one auto "$visrec" "$work/wauto" --blend auto
    grep -o 'blend auto chose.*' "$work/log" || true
    echo "auto / default: $(python3 -c "print(f'{$last_secs / $fixed:.2f}')")x"
  fi
  [ -n "${BASELINE:-}" ] && one baseline "$BASELINE" "$work/wbase"
done
if [ -n "${BASELINE:-}" ]; then
  a=$(echo "$work"/w/recommend/"$(cat "$work/w/recommend/latest")"); b=$(echo "$work"/wbase/recommend/"$(cat "$work/wbase/recommend/latest")")
  for f in recommendations.csv similar_items.csv; do
    cmp -s "$a/$f" "$b/$f" && echo "$f: identical to the baseline's" || echo "$f: DIFFERS from the baseline's"
  done
fi
