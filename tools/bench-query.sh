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
# Usage: tools/bench-query.sh [ITEMS=100000] [NQ=50]   (needs Debian python3-torch for the tiny model)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
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
/usr/bin/python3 - "$work/a.out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
def p(key, q):
    v = sorted(r["ms"][key] for r in rows); return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]
print("  photo queries: %d; p50 total %.1f ms (preprocess %.1f, model %.1f, projection %.2f, search %.2f), p95 total %.1f ms"
      % (len(rows), p("total", .5), p("preprocess", .5), p("model", .5), p("project", .5), p("search", .5), p("total", .95)))
EOF

echo "== B: $items items, small photos, tiny TorchScript model (3x3 conv + pooling, 256-d)"
/usr/bin/python3 "$root/tools/bench/tiny_model.py" "$work/tiny.pt"
t0=$(date +%s)
"$visrec" sample --out "$work/b" --items "$items" --users $((items / 5)) --min-side 32 --max-side 48 --threads 2 -q >/dev/null
"$visrec" run --catalog "$work/b/catalog.csv" --interactions "$work/b/interactions.csv" --workdir "$work/wb" \
  --resize 32 --crop 32 --model-file "$work/tiny.pt" --batch-size 64 --dims 64 --threads 2 -q >/dev/null 2>&1
echo "  built the $items-item workdir in $(( $(date +%s) - t0 ))s"
rec=$(echo "$work"/wb/recommend/"$(cat "$work/wb/recommend/latest")")
/usr/bin/python3 - "$rec" "$work" "$nq" "$work/b/images" <<'EOF'
import os, random, sys
rec, work, nq, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
random.seed(1)
ids = open(os.path.join(rec, "ids.txt")).read().split()
users = open(os.path.join(rec, "users.txt")).read().split()
with open(os.path.join(work, "item.batch"), "w") as f:
    f.writelines(f"item {i}\n" for i in random.sample(ids, 1000))
with open(os.path.join(work, "user.batch"), "w") as f:
    f.writelines(f"user {u}\n" for u in random.sample(users, min(1000, len(users))))
photos = sorted(os.listdir(images))
with open(os.path.join(work, "image.batch"), "w") as f:
    f.writelines(f"image {os.path.join(images, p)}\n" for p in random.sample(photos, nq))
print(f"  {len(ids)} items, {len(users)} users in {rec}")
EOF
for kind in item user image; do
  "$visrec" query --workdir "$work/wb" --batch "$work/$kind.batch" --json --threads 2 > "$work/$kind.out" 2> "$work/$kind.err" || true
  echo "  --$kind:"; summary "$work/$kind.err"
done
/usr/bin/python3 - "$work/image.out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
v = sorted(r["ms"]["search"] for r in rows)
print("  exact search over the reduced vectors: p50 %.2f ms, p95 %.2f ms" % (v[len(v) // 2], v[min(len(v) - 1, int(.95 * (len(v) - 1) + .5))]))
EOF
first=$(sed -n 2p "$work/item.batch" | cut -d' ' -f2)
start=$(date +%s.%N)
for i in 1 2 3 4 5; do "$visrec" query --workdir "$work/wb" --item "$first" -q >/dev/null; done
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "  one-shot process `visrec query --item` (start-up, open artifacts, answer): %.0f ms each\n", (b - a) * 200 }'
