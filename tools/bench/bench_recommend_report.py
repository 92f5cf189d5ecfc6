# Helper of tools/bench/bench-recommend.sh: the table, with identical-top-K shares and HNSW recall.
# argv: WORK N_VISUAL N_LARGE, then seconds and max RSS MB of: visrec CF, scipy CF, visrec/numpy/Faiss
# visual at N_VISUAL, the same at N_LARGE, visrec exact and hnsw on clustered vectors; last REPEAT
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
