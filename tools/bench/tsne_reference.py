"""tools/bench/bench-tsne.sh's side by side: visrec's t-SNE (tsne_bench) and scikit-learn's on the same vectors."""
import csv
import subprocess
import sys
import time

import numpy as np
from sklearn.manifold import TSNE


def agreement(y, labels, k=10):
    """Mean share of each point's k nearest 2-D neighbours with the same label."""
    labels = np.asarray(labels)
    d = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1) if len(y) <= 3000 else None
    total = 0.0
    for i in range(len(y)):
        di = d[i] if d is not None else ((y - y[i]) ** 2).sum(1)
        di = di.copy()
        di[i] = np.inf
        nn = np.argpartition(di, k)[:k]
        total += (labels[nn] == labels[i]).mean()
    return total / len(y)


def pca_plane(x):
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return xc @ vt[:2].T


def side_by_side(name, x, labels, bench, work):
    np.save(f"{work}/x.npy", x.astype(np.float32))
    out = subprocess.run([bench, f"{work}/x.npy", f"{work}/y.npy", "2"], check=True, capture_output=True, text=True)
    ours_s = float(out.stdout.split()[0])
    ours = np.load(f"{work}/y.npy")
    t0 = time.perf_counter()
    theirs = TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", method="barnes_hut",
                  angle=0.5, random_state=0, n_jobs=2).fit_transform(x.astype(np.float32))
    theirs_s = time.perf_counter() - t0
    a_ours, a_theirs, a_pca = agreement(ours, labels), agreement(theirs, labels), agreement(pca_plane(x), labels)
    print(f"{name}: {len(x)} items x {x.shape[1]} dims, 10-NN same-label agreement in 2-D: "
          f"visrec t-SNE {a_ours:.3f}, scikit-learn t-SNE {a_theirs:.3f} (difference {a_ours - a_theirs:+.3f}), "
          f"PCA plane {a_pca:.3f}; time: visrec {ours_s:.2f} s, scikit-learn {theirs_s:.2f} s "
          f"({theirs_s / ours_s:.1f}x)")


def main():
    bench, red, catalog, n, work = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    x = np.load(f"{red}/reduced_l2.npy")
    ids = open(f"{red}/ids.txt").read().split("\n")[: len(x)]
    category = {}
    with open(catalog, newline="") as f:
        for row in csv.DictReader(f):
            category.setdefault(row["item_id"], row["category"])
    side_by_side("sample catalog", x, [category[i] for i in ids], bench, work)
    rng = np.random.default_rng(0)
    classes = 20
    centres = rng.normal(size=(classes, 64))
    labels = rng.integers(0, classes, size=n)
    x = centres[labels] + 1.5 * rng.normal(size=(n, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    side_by_side("synthetic", x, labels, bench, work)


main()
