#!/usr/bin/env bash
# The "Measured on the sample catalog" tables of docs/stages.md in one command: the demo options
# (data/demo.toml: bundled SqueezeNet, leave-last-out) with each source alone and blended, --trim
# off (default) against auto, and the untrained ResNet-18 of earlier releases for comparison.
# Usage: tools/measure-sample.sh [VISREC_BINARY=build/visrec] [SCRATCH_DIR=/tmp/visrec-measure]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$root/build/visrec}")
scratch=$(realpath -m "${2:-/tmp/visrec-measure}")
cd "$root"
mkdir -p "$scratch"
[ -f "$scratch/catalog/catalog.csv" ] || "$bin" sample --out "$scratch/catalog" -q
base=(run --config data/demo.toml --catalog "$scratch/catalog/catalog.csv"
      --interactions "$scratch/catalog/interactions.csv" -q)

# row LABEL WORKDIR [extra flags...]: one run, one table row from its report.json
row() {
  local label=$1 work=$2; shift 2
  "$bin" "${base[@]}" --workdir "$scratch/$work" "$@" > /dev/null
  python3 - "$label" "$scratch/$work/evaluate/$(cat "$scratch/$work/evaluate/latest")/report.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
m, c, s = r["model"], r["cold_start"]["model"], r["same_label_precision"]
print(f"| {label} | {m['hr']:.4f} | {m['ndcg']:.4f} | {m['map']:.4f} | {c['hr']:.4f} | "
      f"{s.get('visual', float('nan')):.3f} | {s.get('hybrid', float('nan')):.3f} |")
PY
}

echo "| features, sources | HR@10 | NDCG@10 | MAP@10 | cold-start HR@10 | same-category P@10 visual | hybrid |"
echo "|---|---|---|---|---|---|---|"
row "SqueezeNet, hybrid (defaults)" squeeze
row "SqueezeNet, collaborative only" squeeze --w-visual 0 --w-text 0
row "SqueezeNet, visual only" squeeze --w-cf 0 --w-text 0
row "SqueezeNet, text only" squeeze --w-cf 0 --w-visual 0
row "SqueezeNet, hybrid, --trim auto" squeeze-trim --trim auto
row "untrained ResNet-18, hybrid" untrained --model-file "" --model resnet18
row "untrained ResNet-18, visual only" untrained --model-file "" --model resnet18 --w-cf 0 --w-text 0
python3 - "$scratch/squeeze/evaluate/$(cat "$scratch/squeeze/evaluate/latest")/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"popularity baseline HR@10 {r['popularity']['hr']:.4f} NDCG@10 {r['popularity']['ndcg']:.4f}; "
      f"random HR@10 {r['random']['hr']:.4f}; same-category P@10 text {r['same_label_precision']['text']:.3f}, "
      f"collaborative {r['same_label_precision']['collaborative']:.3f}")
PY
