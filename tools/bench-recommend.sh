#!/usr/bin/env bash
# Benchmark (not a test): visrec's exact similarity kernels beside the usual Python approaches, on
# the same data in one run, with identical top-K checked and peak memory (max RSS) reported.
#  CF:     item-item cosine top-20, USERS x ITEMS, NNZ implicit interactions; reference: scipy sparse
#          X^T X + per-row top-K (the sklearn/scipy approach), OpenBLAS, 2 cores.
#  Visual: exact cosine top-20 over N x 64 unit vectors, N = N_VISUAL and N_LARGE; references: numpy
#          blocked X @ X^T + argpartition, and Faiss IndexFlatIP (exact, BLAS + heaps, 2 OpenMP threads).
#          At N_LARGE numpy is timed on the first N_VISUAL query rows (against all N_LARGE) and scaled by
#          N_LARGE / N_VISUAL (marked "est."): the full run takes many minutes and scales linearly in rows.
#          visrec's approximate --visual-index hnsw runs on N_LARGE clustered vectors (2000 Gaussian
#          clusters, the kind of structure real reduced image features have), timed and recall-checked
#          against visrec exact on the same vectors; uniformly random vectors are graph search's worst case.
# Needs python3-scipy/numpy/faiss and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: [BUILD=build] [REPEAT=5] tools/bench-recommend.sh [USERS=100000] [ITEMS=20000] [NNZ=1000000] [N_VISUAL=20000] [N_LARGE=200000]
# BUILD picks the build directory, e.g. an AVX2 build measured on an AVX-512 machine:
#   cmake -S . -B build-v3 -G Ninja -DVISREC_ISA=x86-64-v3 -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build-v3 knn_bench
#   BUILD=build-v3 tools/bench-recommend.sh
# (VISREC_CPU_LEVEL=avx2 instead plays an AVX2 CPU in a native build: the same kernel choice, but the
# compiler may still use AVX-512 registers and instructions elsewhere, so it is not the AVX2 speed.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
users=${1:-100000}; items=${2:-20000}; nnz=${3:-1000000}; nvis=${4:-20000}; nlarge=${5:-200000}
repeat=${REPEAT:-5}  # CF (a tenth of a second for visrec) is timed as the median of REPEAT whole runs, both sides
build="$root/${BUILD:-build}"
bench="$build/knn_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B ${BUILD:-build} -DVISREC_BUILD_BENCHMARKS=ON && ninja -C ${BUILD:-build} knn_bench" >&2; exit 2; }
info=$("$bench" info)
# The references' BLAS (OpenBLAS, picked at run time) and numpy's own SIMD get the same instruction
# set as visrec's build: against an AVX2 build they run AVX2 code too (OpenBLAS's Haswell kernels,
# numpy without AVX-512), as on an AVX2-only CPU. Otherwise this machine's OPENBLAS_CORETYPE pin is
# unset so that OpenBLAS picks the CPU's own kernels.
if [[ $info == *fused-avx512* ]]; then
  blas_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
else
  blas_env=(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell "NPY_DISABLE_CPU_FEATURES=AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL")
fi
echo "visrec: $info; CPU: $(lscpu | sed -n 's/^Model name: *//p'), AVX-512: $(lscpu | grep -q avx512f && echo yes || echo no)"
echo "references: ${blas_env[*]:1}"
work=$(mktemp -d /tmp/visrec-bench-rec.XXXXXX)
trap 'rm -rf "$work"' EXIT
py=(/usr/bin/python3)
"${py[@]}" - "$work" "$users" "$items" "$nnz" "$nvis" "$nlarge" <<'PY'
import sys, numpy as np
w, U, I, N, V, L = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(0)
pop = 1.0 / (1 + np.arange(I)) ** 0.8; pop /= pop.sum()          # popularity skew
u = rng.integers(0, U, N); i = rng.choice(I, N, p=pop)
pairs = np.unique(np.stack([u, i], 1).astype(np.int32), axis=0)  # sorted by user, duplicates dropped
np.save(f"{w}/pairs.npy", pairs)
x = rng.standard_normal((V, 64)).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(f"{w}/x.npy", x)
y = rng.standard_normal((L, 64)).astype(np.float32); y /= np.linalg.norm(y, axis=1, keepdims=True)
np.save(f"{w}/y.npy", y)
centres = rng.standard_normal((2000, 64)).astype(np.float32)
z = centres[rng.integers(0, 2000, L)] + 0.35 * rng.standard_normal((L, 64)).astype(np.float32)
z /= np.linalg.norm(z, axis=1, keepdims=True)
np.save(f"{w}/z.npy", z.astype(np.float32))
print(f"CF: {U} users x {I} items, {len(pairs)} distinct interactions; visual: {V} x 64 and {L} x 64")
PY
measure() {  # a failing command stops the whole benchmark, with its error (kill: this runs in a subshell)
  if ! /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2> "$work/err"; then
    echo "bench-recommend: failed: $*" >&2; tail -n 5 "$work/err" >&2; kill -TERM $$; return 1
  fi
  echo "$(cat "$work/out") $(( $(tail -n 1 "$work/rss") / 1024 ))"
}
# Both sides with the same BLAS environment.
read -r cf_s cf_mb <<<"$(measure "${blas_env[@]}" "$bench" cf "$work/pairs.npy" "$items" 20 0 "$work/cf.npy" "$repeat")"
vis() { measure "${blas_env[@]}" "$bench" "$1" "$work/$2.npy" 20 0 "$work/$3.npy"; }
read -r vis_s vis_mb <<<"$(vis dense x vis)"
read -r big_s big_mb <<<"$(vis dense y big)"
read -r zex_s zex_mb <<<"$(vis dense z zexact)"
read -r hnsw_s hnsw_mb <<<"$(vis hnsw z hnsw)"
cat > "$work/ref.py" <<'PY'
import sys, time, numpy as np, scipy.sparse as sp
w, mode, I = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = int(sys.argv[4]) if len(sys.argv) > 4 else 0  # numpy: time only the first ROWS query rows
def run():  # returns the top-K table; CF is run REPEAT times (argv[5]) and the median time printed
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
    elif mode.startswith("faiss"):
        import faiss
        faiss.omp_set_num_threads(2)
        x = np.load(f"{w}/{mode.split('-')[1]}.npy"); n = len(x)
        index = faiss.IndexFlatIP(x.shape[1]); index.add(x)
        D, L = index.search(x, 21)
        top = np.empty((n, 20), np.int32)
        for r in range(n):                                   # drop self (usually first; not always on ties)
            keep = L[r][L[r] != r][:20]
            top[r] = keep
    else:
        x = np.load(f"{w}/{mode.split('-')[1]}.npy"); n = len(x); top = np.empty((n, 20), np.int32)
        for s in range(0, rows or n, 2048):
            S = x[s:s + 2048] @ x.T
            S[np.arange(S.shape[0]), np.arange(s, s + S.shape[0])] = -np.inf
            part = np.argpartition(-S, 20, axis=1)[:, :20]
            vals = np.take_along_axis(S, part, 1)
            top[s:s + 2048] = np.take_along_axis(part, np.argsort(-vals, axis=1, kind="stable"), 1)
    return top

times = []
for repeat in range(int(sys.argv[5]) if mode == "cf" and len(sys.argv) > 5 else 1):
    t0 = time.perf_counter()
    top = run()
    times.append(time.perf_counter() - t0)
print(sorted(times)[len(times) // 2])
np.save(f"{w}/ref-{mode}.npy", top)
PY
read -r rcf_s rcf_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$work/ref.py" "$work" cf "$items" 0 "$repeat")"
read -r rvis_s rvis_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$work/ref.py" "$work" numpy-x "$items")"
read -r fvis_s fvis_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$work/ref.py" "$work" faiss-x "$items")"
read -r rbig_s rbig_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$work/ref.py" "$work" numpy-y "$items" "$nvis")"
read -r fbig_s fbig_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$work/ref.py" "$work" faiss-y "$items")"
"${py[@]}" - "$work" "$nvis" "$nlarge" "$cf_s" "$cf_mb" "$rcf_s" "$rcf_mb" "$vis_s" "$vis_mb" "$rvis_s" "$rvis_mb" "$fvis_s" "$fvis_mb" \
  "$big_s" "$big_mb" "$rbig_s" "$rbig_mb" "$fbig_s" "$fbig_mb" "$zex_s" "$zex_mb" "$hnsw_s" "$hnsw_mb" "$repeat" <<'PY'
import sys, numpy as np
w = sys.argv[1]; V, L = int(sys.argv[2]), int(sys.argv[3]); R = int(sys.argv[-1])
(cf_s, cf_mb, rcf_s, rcf_mb, vis_s, vis_mb, rvis_s, rvis_mb, fvis_s, fvis_mb,
 big_s, big_mb, rbig_s, rbig_mb, fbig_s, fbig_mb, zex_s, zex_mb, hnsw_s, hnsw_mb) = map(float, sys.argv[4:-1])
def same(a, b, rows=None):  # share of rows with identical top-K sets (order may differ only inside exact ties)
    A, B = np.load(a)[:rows], np.load(b)[:rows]
    return np.mean([set(A[i][A[i] >= 0]) == set(B[i][B[i] >= 0]) for i in range(len(A))])
def recall(a, b):
    A, B = np.load(a), np.load(b)
    return np.mean([len(set(A[i]) & set(B[i])) / 20 for i in range(len(A))])
row = lambda name, s, mb, tail="": print(f"{name:44s} {s:9.2f} {mb:11.0f}   {tail}")
print(f"{'':44s} {'seconds':>9s} {'max RSS MB':>11s}")
print(f"(CF: median of {R} whole runs on each side; visual: one run)")
row("CF top-20, scipy sparse (reference)", rcf_s, rcf_mb)
row("CF top-20, visrec", cf_s, cf_mb, f"{rcf_s / cf_s:.1f}x faster than scipy; rows with identical top-20: {same(f'{w}/cf.npy', f'{w}/ref-cf.npy'):.4f}")
for n, s, mb, rs, rmb, fs, fmb, mine, est in ((V, vis_s, vis_mb, rvis_s, rvis_mb, fvis_s, fvis_mb, "vis", ""),
                                             (L, big_s, big_mb, rbig_s * L / V, rbig_mb, fbig_s, fbig_mb, "big", " (est.)")):
    x = "x" if mine == "vis" else "y"
    row(f"visual top-20 {n} x 64, numpy{est}", rs, rmb)
    row(f"visual top-20 {n} x 64, Faiss IndexFlatIP", fs, fmb)
    row(f"visual top-20 {n} x 64, visrec exact", s, mb,
        f"{rs / s:.1f}x faster than numpy, {s / fs:.2f}x Faiss's time; identical top-20 rows: "
        f"numpy {same(f'{w}/{mine}.npy', f'{w}/ref-numpy-{x}.npy', None if not est else V):.4f}, "
        f"Faiss {same(f'{w}/{mine}.npy', f'{w}/ref-faiss-{x}.npy'):.4f}")
row(f"visual top-20 {L} x 64 clustered, visrec exact", zex_s, zex_mb)
row(f"visual top-20 {L} x 64 clustered, visrec hnsw", hnsw_s, hnsw_mb,
    f"{zex_s / hnsw_s:.2f}x visrec exact's speed; recall@20 vs exact {recall(f'{w}/hnsw.npy', f'{w}/zexact.npy'):.4f}")
PY
