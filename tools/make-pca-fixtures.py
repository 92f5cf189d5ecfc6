#!/usr/bin/python3
"""Writes tests/fixtures/reduce/: a feature matrix and scikit-learn's PCA of it.

Run with Debian's Python (apt-get install python3-sklearn python3-numpy):
    /usr/bin/python3 tools/make-pca-fixtures.py
tests/reduce/sklearn_parity_test.cc checks visrec's PCA against these numbers.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.decomposition import PCA

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "reduce")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    n, d, k = 400, 48, 6
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    z = rng.normal(size=(n, d)) * (8.0 / (1.0 + np.arange(d)) ** 0.8)
    x = (z @ basis.T + np.linspace(-1, 1, d)).astype(np.float32)
    pca = PCA(n_components=k, svd_solver="full").fit(x.astype(np.float64))
    np.save(os.path.join(OUT, "x.npy"), x)
    np.save(os.path.join(OUT, "components.npy"), pca.components_)
    np.save(os.path.join(OUT, "explained_variance_ratio.npy"), pca.explained_variance_ratio_)
    np.save(os.path.join(OUT, "explained_variance.npy"), pca.explained_variance_)
    np.save(os.path.join(OUT, "transformed.npy"), pca.transform(x.astype(np.float64)))
    with open(os.path.join(OUT, "README.json"), "w") as f:
        json.dump({"sklearn": sklearn.__version__, "call": f"PCA(n_components={k}, svd_solver='full')",
                   "shape": [n, d]}, f, indent=1)


if __name__ == "__main__":
    main()
