#!/usr/bin/env bash
# Benchmark (not a test): the cost curve of `visrec recommend` and `visrec evaluate` on synthetic
# catalogs of growing size, with time and peak memory per phase and the size of what is written.
# For each ITEMS in SIZES: ITEMS x USERS_PER_ITEM users and ITEMS x INTERACTIONS_PER_ITEM
# interactions (popularity-skewed, users with a favourite cluster) and clustered 64-d reduced
# vectors from scale_inputs (tools/bench/scale_inputs.cc); a leave-last-out split; `recommend`
# with default options on the train part (exact visual kNN up to EXACT_MAX items, HNSW above, its
# recall checked by the stage); `evaluate` on the test part. Every run is timed with /usr/bin/time;
# the phases come from the recommend manifest (timings_s, extra.peak_rss_mb).
# Results: OUT/scale.jsonl (one line per size), OUT/scale.md (table, fitted exponents) and
# OUT/scale.png (log-log plot; needs python3-matplotlib: tools/install-deps.sh --bench).
# Needs a build with -DVISREC_BUILD_BENCHMARKS=ON (scale_inputs).
# Usage: [BUILD=build] [OUT=build/scale] [EXACT_MAX=500000] [USERS_PER_ITEM=5] [INTERACTIONS_PER_ITEM=50]
#        [THREADS=0] [KEEP=1] tools/bench/scale.sh [SIZES...]     (default sizes: 10000 100000 1000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/${BUILD:-build}"
visrec="$build/visrec"
gen="$build/scale_inputs"
for b in "$visrec" "$gen"; do
  [ -x "$b" ] || { echo "scale: $b is missing; build with: cmake -S . -B ${BUILD:-build} -DVISREC_BUILD_BENCHMARKS=ON && ninja -C ${BUILD:-build}" >&2; exit 2; }
done
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
out=${OUT:-$root/build/scale}
exact_max=${EXACT_MAX:-500000}
upi=${USERS_PER_ITEM:-5}; ipi=${INTERACTIONS_PER_ITEM:-50}
threads=${THREADS:-0}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/visrec-scale.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
: > "$out/scale.jsonl"
echo "visrec $("$visrec" version | head -1 | cut -d' ' -f2-); $("$visrec" version | grep -E '^(build|visual kNN)' | tr '\n' ';')" \
     "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $threads" | tee "$out/machine.txt"
timed() {  # NAME COMMAND...: wall seconds and max RSS into $d/NAME.time; stops the benchmark on failure
  local name=$1; shift
  if ! /usr/bin/time -f "%e %M" -o "$d/$name.time" "$@" > "$d/$name.out" 2> "$d/$name.log"; then
    echo "scale: $name failed at $n items: $*" >&2; tail -n 5 "$d/$name.log" >&2; exit 1
  fi
}
for n in "${sizes[@]}"; do
  d="$work/$n"; mkdir -p "$d"
  echo "== $n items: generating inputs"
  timed inputs "$gen" "$d" "$n" $(( n * upi )) $(( n * ipi ))
  timed split "$visrec" evaluate --split leave-last-out --interactions "$d/interactions.csv" -w "$d/work" --threads "$threads"
  split="$d/work/split/$(cat "$d/work/split/latest")"
  index=exact; [ "$n" -le "$exact_max" ] || index=hnsw
  echo "== $n items: recommend (visual $index)"
  timed recommend "$visrec" recommend -w "$d/work" --interactions "$split/train.csv" --catalog "$d/catalog.csv" \
    --visual-index "$index" --threads "$threads" -v
  echo "== $n items: evaluate"
  timed evaluate "$visrec" evaluate -w "$d/work" --test "$split/test.csv" --catalog "$d/catalog.csv" \
    --label-column category --threads "$threads"
  /usr/bin/python3 "$root/tools/bench/scale_report.py" collect "$d" "$n" "$index" >> "$out/scale.jsonl"
  [ -n "${KEEP:-}" ] || rm -rf "$d"
done
/usr/bin/python3 "$root/tools/bench/scale_report.py" report "$out/scale.jsonl" "$out" "$out/machine.txt"
echo "results: $out/scale.md, $out/scale.png"
