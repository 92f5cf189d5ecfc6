#!/usr/bin/env bash
# Benchmark (not a test): PCA N x D -> K, visrec (Eigen, randomized) vs scikit-learn PCA(K) on the same
# matrix in one run. Both get the same BLAS: Debian's OpenBLAS (libopenblas0-pthread, as a pip numpy
# would bundle) is the system libblas here, with its own CPU detection: this machine's environment
# pins OPENBLAS_CORETYPE=Haswell (AVX2 kernels) and OPENBLAS_L2_SIZE, so both sides run with those
# unset (AVX-512 kernels); visrec is also shown with the pinned environment.
# Needs python3-sklearn and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: tools/bench-reduce.sh [N=100000] [D=2048] [K=64]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}; d=${2:-2048}; k=${3:-64}
bench="$root/build/pca_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B build -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build" >&2; exit 2; }
work=$(mktemp -d /tmp/visrec-bench-pca.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/x.npy" "$n" "$d" <<'PY'
import sys, numpy as np
path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
# CNN-feature-like: a decaying spectrum over a random basis, plus isotropic noise, non-negative shift.
r = 256
basis, _ = np.linalg.qr(rng.standard_normal((d, r)).astype(np.float32))
z = rng.standard_normal((n, r)).astype(np.float32) * (1.0 / (1 + np.arange(r, dtype=np.float32)) ** 0.7)
x = z @ basis.T + 0.02 * rng.standard_normal((n, d)).astype(np.float32) + 0.5
np.save(path, x.astype(np.float32))
PY
echo "matrix: $n x $d float32 -> $k components"
ref=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 - "$work/x.npy" "$k" <<'PY'
import sys, time, numpy as np
from sklearn.decomposition import PCA
x = np.load(sys.argv[1]); k = int(sys.argv[2])
t0 = time.perf_counter(); p = PCA(n_components=k, random_state=0).fit(x); s = time.perf_counter() - t0
print(f"{s:.3f} {p.explained_variance_ratio_.sum():.6f} {p.svd_solver}/{p._fit_svd_solver}")
PY
)
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
