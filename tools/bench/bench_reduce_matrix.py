# Helper of tools/bench/bench-reduce.sh: a CNN-feature-like N x D float32 matrix.
# argv: OUT_NPY N D
import sys, numpy as np
path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
# CNN-feature-like: a decaying spectrum over a random basis, plus isotropic noise, non-negative shift.
r = 256
basis, _ = np.linalg.qr(rng.standard_normal((d, r)).astype(np.float32))
z = rng.standard_normal((n, r)).astype(np.float32) * (1.0 / (1 + np.arange(r, dtype=np.float32)) ** 0.7)
x = z @ basis.T + 0.02 * rng.standard_normal((n, d)).astype(np.float32) + 0.5
np.save(path, x.astype(np.float32))
