#!/usr/bin/env bash
# The "Measured on the sample catalog" tables of docs/stages.md in one command: the demo options
# (data/demo.toml: bundled SqueezeNet, leave-last-out) with each source alone and blended, --trim
# off (default) against auto, and the untrained ResNet-18 of earlier releases for comparison.
# Usage: tools/bench/measure-sample.sh [VISREC_BINARY=build/visrec] [SCRATCH_DIR=/tmp/visrec-measure]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
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
  python3 "$root/tools/bench/measure_sample_row.py" "$label" "$scratch/$work/evaluate/$(cat "$scratch/$work/evaluate/latest")/report.json"
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
python3 "$root/tools/bench/measure_sample_baselines.py" "$scratch/squeeze/evaluate/$(cat "$scratch/squeeze/evaluate/latest")/report.json"
