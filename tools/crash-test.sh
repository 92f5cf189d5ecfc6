#!/usr/bin/env bash
# Crash safety (issue: reliability): SIGKILL `visrec run` at random moments, then check that
#  - every artifact readers can see (each stage's `latest`) passes `visrec verify` (full digests),
#  - after all kills, a rerun completes and its outputs equal those of an uninterrupted run.
# Usage: tools/crash-test.sh [KILLS=20] [VISREC=build/visrec]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kills=${1:-20}; visrec=$(realpath "${2:-$root/build/visrec}")
work=$(mktemp -d /tmp/visrec-crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$visrec" sample --out "$work/cat" --items 40 --users 60 --min-side 200 --max-side 400 -q >/dev/null
args=(run --catalog "$work/cat/catalog.csv" --interactions "$work/cat/interactions.csv" --split leave-last-out
      --label-column category --dims 16 --threads 2 -q)
# Reference: one uninterrupted run, and how long it takes.
start=$(date +%s.%N)
"$visrec" "${args[@]}" --workdir "$work/ref" >/dev/null
total=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "uninterrupted run: ${total}s; killing a run in $work/w $kills times at random moments"
RANDOM=7
bad=0
for ((i = 1; i <= kills; i++)); do
  delay=$(awk -v t="$total" -v r="$RANDOM" 'BEGIN { printf "%.3f", t * r / 32767 }')
  # --force makes every stage write again, so kills land inside writes, not only in reuse checks.
  "$visrec" "${args[@]}" --workdir "$work/w" --force >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for stage_dir in "$work"/w/*/; do
    [ -f "$stage_dir/latest" ] || continue
    if ! "$visrec" verify "$stage_dir" -q >/dev/null 2>&1; then
      echo "kill $i (after ${delay}s): $(basename "$stage_dir") latest does not verify"; bad=$((bad + 1))
    fi
  done
done
"$visrec" "${args[@]}" --workdir "$work/w" >/dev/null
a=$(cat "$work/ref/recommend/$(cat "$work/ref/recommend/latest")/recommendations.csv" | sha256sum)
b=$(cat "$work/w/recommend/$(cat "$work/w/recommend/latest")/recommendations.csv" | sha256sum)
if [ "$a" != "$b" ]; then echo "rerun after kills: recommendations differ from the uninterrupted run"; bad=$((bad + 1)); fi
leftovers=$(find "$work/w" -maxdepth 2 -name '.tmp-*' | wc -l)
echo "kills: $kills, problems: $bad, staging leftovers of killed writers still on disk: $leftovers"
[ "$bad" -eq 0 ]
