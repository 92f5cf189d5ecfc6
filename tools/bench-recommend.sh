#!/usr/bin/env bash
# Benchmark (not a test): visrec's exact similarity kernels beside the usual Python approaches, on
# the same data in one run, with identical top-K checked and peak memory (max RSS) reported.
#  CF:     item-item cosine top-20, USERS x ITEMS, NNZ implicit interactions; reference: scipy sparse
#          X^T X + per-row top-K (the sklearn/scipy approach), OpenBLAS, 2 cores.
#  Visual: exact cosine top-20 over N x 64 unit vectors; reference: numpy blocked X @ X^T + argpartition.
# Needs python3-scipy/numpy and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: tools/bench-recommend.sh [USERS=100000] [ITEMS=20000] [NNZ=1000000] [N_VISUAL=20000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
users=${1:-100000}; items=${2:-20000}; nnz=${3:-1000000}; nvis=${4:-20000}
bench="$root/build/knn_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B build -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build" >&2; exit 2; }
work=$(mktemp -d /tmp/visrec-bench-rec.XXXXXX)
trap 'rm -rf "$work"' EXIT
py=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3)
"${py[@]}" - "$work" "$users" "$items" "$nnz" "$nvis" <<'PY'
import sys, numpy as np
w, U, I, N, V = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(0)
pop = 1.0 / (1 + np.arange(I)) ** 0.8; pop /= pop.sum()          # popularity skew
u = rng.integers(0, U, N); i = rng.choice(I, N, p=pop)
pairs = np.unique(np.stack([u, i], 1).astype(np.int32), axis=0)  # sorted by user, duplicates dropped
np.save(f"{w}/pairs.npy", pairs)
x = rng.standard_normal((V, 64)).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(f"{w}/x.npy", x)
print(f"CF: {U} users x {I} items, {len(pairs)} distinct interactions; visual: {V} x 64")
PY
measure() { /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2>/dev/null; echo "$(cat "$work/out") $(( $(cat "$work/rss") / 1024 ))"; }
# Both sides with the same BLAS environment: this machine pins OPENBLAS_CORETYPE/L2_SIZE; unset for both.
read -r cf_s cf_mb <<<"$(measure env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bench" cf "$work/pairs.npy" "$items" 20 0 "$work/cf.npy")"
read -r vis_s vis_mb <<<"$(measure env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bench" dense "$work/x.npy" 20 0 "$work/vis.npy")"
cat > "$work/ref.py" <<'PY'
import sys, time, numpy as np, scipy.sparse as sp
w, mode, I = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
if mode == "cf":
    p = np.load(f"{w}/pairs.npy")
    X = sp.csr_matrix((np.ones(len(p), np.float32), (p[:, 0], p[:, 1])), shape=(p[:, 0].max() + 1, I))
    norm = np.sqrt(np.asarray(X.multiply(X).sum(0))).ravel(); norm[norm == 0] = 1
    Xn = X.multiply(1 / norm).tocsc()
    S = (Xn.T @ Xn).tocsr(); S.setdiag(0); S.eliminate_zeros()
    top = np.full((I, 20), -1, np.int32)
    for r in range(I):
        a, b = S.indptr[r], S.indptr[r + 1]
        if a == b: continue
        v, c = S.data[a:b], S.indices[a:b]
        o = np.lexsort((c, -v))[:20]                    # score desc, index asc
        top[r, :len(o)] = c[o]
else:
    x = np.load(f"{w}/x.npy"); n = len(x); top = np.empty((n, 20), np.int32)
    for s in range(0, n, 2048):
        S = x[s:s + 2048] @ x.T
        S[np.arange(S.shape[0]), np.arange(s, s + S.shape[0])] = -np.inf
        part = np.argpartition(-S, 20, axis=1)[:, :20]
        vals = np.take_along_axis(S, part, 1)
        top[s:s + 2048] = np.take_along_axis(part, np.argsort(-vals, axis=1, kind="stable"), 1)
print(time.perf_counter() - t0)
np.save(f"{w}/ref-{mode}.npy", top)
PY
read -r rcf_s rcf_mb <<<"$(measure "${py[@]}" "$work/ref.py" "$work" cf "$items")"
read -r rvis_s rvis_mb <<<"$(measure "${py[@]}" "$work/ref.py" "$work" dense "$items")"
"${py[@]}" - "$work" "$cf_s" "$cf_mb" "$rcf_s" "$rcf_mb" "$vis_s" "$vis_mb" "$rvis_s" "$rvis_mb" <<'PY'
import sys, numpy as np
w = sys.argv[1]; cf_s, cf_mb, rcf_s, rcf_mb, vis_s, vis_mb, rvis_s, rvis_mb = map(float, sys.argv[2:])
def same(a, b):  # identical top-K sets per row (order may differ only inside exact ties)
    A, B = np.load(a), np.load(b)
    return np.mean([set(A[i][A[i] >= 0]) == set(B[i][B[i] >= 0]) for i in range(len(A))])
print(f"{'':38s} {'seconds':>8s} {'max RSS MB':>11s}")
print(f"{'CF top-20, scipy sparse (reference)':38s} {rcf_s:8.2f} {rcf_mb:11.0f}")
print(f"{'CF top-20, visrec':38s} {cf_s:8.2f} {cf_mb:11.0f}   {rcf_s / cf_s:.1f}x faster; rows with identical top-20: {same(f'{w}/cf.npy', f'{w}/ref-cf.npy'):.4f}")
print(f"{'visual top-20, numpy (reference)':38s} {rvis_s:8.2f} {rvis_mb:11.0f}")
print(f"{'visual top-20, visrec':38s} {vis_s:8.2f} {vis_mb:11.0f}   {rvis_s / vis_s:.1f}x faster; rows with identical top-20: {same(f'{w}/vis.npy', f'{w}/ref-dense.npy'):.4f}")
PY
