# Helper of tools/bench/bench-recommend.sh: the inputs (pairs.npy, x.npy, y.npy, z.npy in WORK).
# argv: WORK USERS ITEMS NNZ N_VISUAL N_LARGE
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
