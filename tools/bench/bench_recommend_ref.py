# Helper of tools/bench/bench-recommend.sh: the Python references (scipy CF, numpy and Faiss visual top-20).
# argv: WORK MODE ITEMS [ROWS [REPEAT]]
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
