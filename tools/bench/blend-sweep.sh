#!/usr/bin/env bash
# The experiment in docs/stages.md ("Experiments"): on the sample catalog with data/demo.toml, the default fixed blend, the
# tuned one (`--blend auto`) and collaborative filtering alone, each in its own workdir, then
# `visrec compare` with paired bootstrap intervals against the default. Run from anywhere.
# Usage: tools/bench/blend-sweep.sh [SCRATCH_DIR=/tmp/visrec-sweep]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
visrec="$root/build/visrec"
scratch=$(realpath -m "${1:-/tmp/visrec-sweep}")
mkdir -p "$scratch"
cd "$root"  # data/demo.toml names the bundled model relative to the repository root
[ -f "$scratch/catalog/catalog.csv" ] || "$visrec" sample --out "$scratch/catalog" -q >/dev/null
common=(run --config data/demo.toml --catalog "$scratch/catalog/catalog.csv"
        --interactions "$scratch/catalog/interactions.csv" -q)
"$visrec" "${common[@]}" --workdir "$scratch/fixed" --tag fixed-1/1/1 >/dev/null
"$visrec" "${common[@]}" --workdir "$scratch/auto" --tag auto --blend auto >/dev/null
"$visrec" "${common[@]}" --workdir "$scratch/cf" --tag cf-only --w-visual 0 --w-text 0 >/dev/null
"$visrec" inspect "$scratch/auto/recommend" | sed -n '/^blend/,/^failures/p' | sed '$d'
echo
"$visrec" compare "$scratch/fixed" "$scratch/auto" "$scratch/cf"
