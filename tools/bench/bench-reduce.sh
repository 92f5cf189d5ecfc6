#!/usr/bin/env bash
# Benchmark (not a test): PCA N x D -> K, visrec (Eigen, randomized) vs scikit-learn PCA(K) on the same
# matrix in one run. Both get the same BLAS: Debian's OpenBLAS (libopenblas0-pthread, as a pip numpy
# would bundle) is the system libblas here, with its own CPU detection: this machine's environment
# pins OPENBLAS_CORETYPE=Haswell (AVX2 kernels) and OPENBLAS_L2_SIZE, so both sides run with those
# unset (AVX-512 kernels); visrec is also shown with the pinned environment.
# Needs python3-sklearn and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: tools/bench/bench-reduce.sh [N=100000] [D=2048] [K=64]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100000}; d=${2:-2048}; k=${3:-64}
bench="$root/build/pca_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B build -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build" >&2; exit 2; }
work=$(mktemp -d /tmp/visrec-bench-pca.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/tools/bench/bench_reduce_matrix.py" "$work/x.npy" "$n" "$d"
echo "matrix: $n x $d float32 -> $k components"
ref=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/tools/bench/bench_reduce_sklearn.py" "$work/x.npy" "$k")
read -r ref_s ref_ev ref_solver <<<"$ref"
printf '%-52s %8s %12s\n' configuration seconds "expl. var."
printf '%-52s %8.2f %12.6f\n' "scikit-learn PCA($k) [$ref_solver, OpenBLAS, 2 cores]" "$ref_s" "$ref_ev"
for it in 2 4; do
  read -r s ev <<<"$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bench" "$work/x.npy" "$k" randomized "$it" 0)"
  printf '%-52s %8.2f %12.6f   %.2fx sklearn time\n' "visrec randomized, $it power iterations, 2 threads" "$s" "$ev" \
    "$(/usr/bin/python3 -c "print($s/$ref_s)")"
done
read -r s ev <<<"$("$bench" "$work/x.npy" "$k" randomized 4 0)"
printf '%-52s %8.2f %12.6f   %.2fx sklearn time\n' "visrec, 4 iterations, machine env (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" \
  "$s" "$ev" "$(/usr/bin/python3 -c "print($s/$ref_s)")"
