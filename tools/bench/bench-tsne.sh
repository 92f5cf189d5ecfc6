#!/usr/bin/env bash
# Benchmark (not a test): visrec's Barnes-Hut t-SNE (the `report --map tsne` code) beside
# scikit-learn's TSNE (barnes_hut, PCA init, perplexity 30, learning rate auto, 1000 iterations,
# 2 threads) on the same unit-length vectors, plus the PCA plane, each judged by 10-NN same-label
# agreement in the 2-D map. Two inputs: the sample catalog's reduced vectors with its categories (a
# `visrec run --config data/demo.toml` workdir is made when missing) and N synthetic 64-d vectors in
# 20 noisy Gaussian classes.
# Needs python3-sklearn (tools/install-deps.sh --bench) and -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: tools/bench/bench-tsne.sh [N=20000]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20000}
bench="$root/build/tsne_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B build -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build" >&2; exit 2; }
work=$(mktemp -d /tmp/visrec-bench-tsne.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$root"
"$root/build/visrec" sample --out "$work/catalog" -q >/dev/null
"$root/build/visrec" run --config data/demo.toml --catalog "$work/catalog/catalog.csv" \
  --interactions "$work/catalog/interactions.csv" --workdir "$work/w" -q >/dev/null 2>&1
red="$work/w/reduce/$(cat "$work/w/reduce/latest")"
/usr/bin/python3 "$root/tools/bench/tsne_reference.py" "$bench" "$red" "$work/catalog/catalog.csv" "$n" "$work"
