#!/usr/bin/env bash
# The CI regression gate: sample catalog -> full pipeline with a leave-last-out split ->
# `evaluate --baseline data/baseline/sample-report.json`. Exit 8 when a metric dropped.
# Usage: tools/ci/regression-gate.sh VISREC_BINARY SCRATCH_DIR
# To move the baseline on purpose: tools/ci/regression-gate.sh --update build/visrec /tmp/gate
set -euo pipefail
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
visrec=$(realpath "$1"); scratch=$(realpath -m "$2")
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$scratch"
cd "$root"  # data/demo.toml names the bundled model relative to the repository root
[ -f "$scratch/catalog/catalog.csv" ] || "$visrec" sample --out "$scratch/catalog" -q
args=(run --config "$root/data/demo.toml" --catalog "$scratch/catalog/catalog.csv"
      --interactions "$scratch/catalog/interactions.csv" --workdir "$scratch/work" -q)
if [ "$update" = 1 ]; then
  "$visrec" "${args[@]}"
  cp "$scratch"/work/evaluate/"$(cat "$scratch/work/evaluate/latest")"/report.json "$root/data/baseline/sample-report.json"
  echo "baseline updated: data/baseline/sample-report.json"
else
  "$visrec" "${args[@]}" --baseline "$root/data/baseline/sample-report.json" --tolerance 0.03
fi
