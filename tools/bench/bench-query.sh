#!/usr/bin/env bash
# Query latency (issue: query). Two workdirs, both built here:
#  A. the model side: a sample catalog run with ResNet-50 in bf16 (the configuration the goal
#     names); NQ photo queries answered in one process (`visrec query --batch`), p50/p95 and the
#     split into preprocess / model / PCA projection / search.
#  B. the catalog side at scale: 100k items (sample catalog with small photos, a tiny TorchScript
#     model so extraction takes minutes, not hours), then --item, --user and photo queries against
#     100k reduced vectors: lookup and search times at that size.
# A photo query on a 100k catalog with ResNet-50 costs A's preprocess+model+projection plus B's
# search; both are printed. Also the wall time of one-shot `visrec query --item` processes.
# Usage: tools/bench/bench-query.sh [ITEMS=100000] [NQ=50]   (needs Debian python3-torch for the tiny model)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
items=${1:-100000}; nq=${2:-50}
visrec="$root/build/visrec"
work=$(mktemp -d /tmp/visrec-bench-query.XXXXXX)
trap 'rm -rf "$work"' EXIT
summary() { grep -E "^query:" "$1" | sed 's/^/  /'; }

echo "== A: ResNet-50 bf16, sample catalog of 120 items"
"$visrec" sample --out "$work/a" --items 120 --users 200 -q >/dev/null
"$visrec" run --catalog "$work/a/catalog.csv" --interactions "$work/a/interactions.csv" --workdir "$work/wa" \
  --model resnet50 --precision bf16 --batch-size 8 --dims 64 -q >/dev/null 2>&1
ls "$work/a/images" | grep -E '\.(jpg|png)$' | head -n "$nq" | sed "s|^|image $work/a/images/|" > "$work/a.batch"
"$visrec" query --workdir "$work/wa" --batch "$work/a.batch" --json --threads 2 > "$work/a.out" 2> "$work/a.err" || true  # awkward sample files fail, as they should
summary "$work/a.err"
/usr/bin/python3 "$root/tools/bench/bench_query_photo_latency.py" "$work/a.out"

echo "== B: $items items, small photos, tiny TorchScript model (3x3 conv + pooling, 256-d)"
/usr/bin/python3 "$root/tools/bench/tiny_model.py" "$work/tiny.pt"
t0=$(date +%s)
"$visrec" sample --out "$work/b" --items "$items" --users $((items / 5)) --min-side 32 --max-side 48 --threads 2 -q >/dev/null
"$visrec" run --catalog "$work/b/catalog.csv" --interactions "$work/b/interactions.csv" --workdir "$work/wb" \
  --resize 32 --crop 32 --model-file "$work/tiny.pt" --batch-size 64 --dims 64 --threads 2 -q >/dev/null 2>&1
echo "  built the $items-item workdir in $(( $(date +%s) - t0 ))s"
rec=$(echo "$work"/wb/recommend/"$(cat "$work/wb/recommend/latest")")
/usr/bin/python3 "$root/tools/bench/bench_query_batches.py" "$rec" "$work" "$nq" "$work/b/images"
for kind in item user image; do
  "$visrec" query --workdir "$work/wb" --batch "$work/$kind.batch" --json --threads 2 > "$work/$kind.out" 2> "$work/$kind.err" || true
  echo "  --$kind:"; summary "$work/$kind.err"
done
/usr/bin/python3 "$root/tools/bench/bench_query_search_latency.py" "$work/image.out"
first=$(sed -n 2p "$work/item.batch" | cut -d' ' -f2)
start=$(date +%s.%N)
for i in 1 2 3 4 5; do "$visrec" query --workdir "$work/wb" --item "$first" -q >/dev/null; done
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "  one-shot process `visrec query --item` (start-up, open artifacts, answer): %.0f ms each\n", (b - a) * 200 }'
