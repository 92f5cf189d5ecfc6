# Helper of tools/bench/bench-reduce.sh: scikit-learn PCA(K); prints seconds, explained variance, solver.
# argv: X_NPY K
import sys, time, numpy as np
from sklearn.decomposition import PCA
x = np.load(sys.argv[1]); k = int(sys.argv[2])
t0 = time.perf_counter(); p = PCA(n_components=k, random_state=0).fit(x); s = time.perf_counter() - t0
print(f"{s:.3f} {p.explained_variance_ratio_.sum():.6f} {p.svd_solver}/{p._fit_svd_solver}")
