#!/usr/bin/env bash
# Benchmark (not a test): what `recommend --shard i/N` + `--merge-shards N` cost beside one
# unsharded `recommend`, on scale_inputs' synthetic catalog (as tools/bench/scale.sh, exact visual
# search). The shards run one after another here (2 cores); on a cluster they run side by side, so
# the wall time there is about the slowest shard plus the merge. Every merged output is compared
# with the unsharded run's (cmp). With PARTS=M the scoring is split by user too: M runs of
# `--merge-shards N --score-part j/M`, then `--merge-shards N --merge-parts M`.
# Usage: [BUILD=build] [THREADS=0] [PARTS=0] tools/bench/shard-recommend.sh [ITEMS=100000] [SHARDS=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/${BUILD:-build}"
visrec="$build/visrec" gen="$build/scale_inputs"
for b in "$visrec" "$gen"; do
  [ -x "$b" ] || { echo "shard-recommend: $b is missing; build with -DVISREC_BUILD_BENCHMARKS=ON" >&2; exit 2; }
done
n=${1:-100000} shards=${2:-3} threads=${THREADS:-0} parts=${PARTS:-0}
d=$(mktemp -d "${TMPDIR:-/tmp}/visrec-shard-bench.XXXXXX")
trap 'rm -rf "$d"' EXIT
"$gen" "$d" "$n" $(( n * 5 )) $(( n * 50 )) > /dev/null
cp -r "$d/work" "$d/sharded"  # the same reduce artifact in both workdirs
args=(--interactions "$d/interactions.csv" --catalog "$d/catalog.csv" --threads "$threads" -q)
timed() {  # LABEL COMMAND...: prints "LABEL seconds max-RSS-MB"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$d/time" "$@" > /dev/null
  read -r s kb < "$d/time"
  printf '%-28s %9.1f %10d\n' "$label" "$s" $(( kb / 1024 ))
}
echo "visrec $("$visrec" version | head -1 | cut -d' ' -f2-); $("$visrec" version | grep -E '^visual kNN'); CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "$n items, $(( n * 5 )) users, $(( n * 50 )) interaction rows; $shards shards, $parts user parts"
printf '%-28s %9s %10s\n' "" "seconds" "max RSS MB"
timed "recommend (unsharded)" "$visrec" recommend -w "$d/work" "${args[@]}"
for ((i = 0; i < shards; i++)); do
  timed "recommend --shard $i/$shards" "$visrec" recommend -w "$d/sharded" "${args[@]}" --shard "$i/$shards"
done
merge=(--merge-shards "$shards")
for ((j = 0; j < parts; j++)); do
  timed "recommend --score-part $j/$parts" "$visrec" recommend -w "$d/sharded" "${args[@]}" "${merge[@]}" --score-part "$j/$parts"
done
if [ "$parts" -gt 0 ]; then merge+=(--merge-parts "$parts"); fi
timed "recommend ${merge[*]}" "$visrec" recommend -w "$d/sharded" "${args[@]}" "${merge[@]}"
one="$d/work/recommend/$(cat "$d/work/recommend/latest")" many="$d/sharded/recommend/$(cat "$d/sharded/recommend/latest")"
differ=0
for f in "$one"/*; do
  [ "$(basename "$f")" = manifest.json ] && continue
  cmp -s "$f" "$many/$(basename "$f")" || { echo "DIFFERS: $(basename "$f")"; differ=1; }
done
[ $differ = 0 ] && echo "merged outputs: byte-identical to the unsharded run ($(ls "$one" | grep -vc manifest.json) files)"
/usr/bin/python3 "$root/tools/bench/shard_recommend_phases.py" "$one/manifest.json" "$many/manifest.json" "$d/sharded/recommend" "$shards" "$parts"
exit $differ
