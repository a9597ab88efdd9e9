"""The image task of the weight-scaling study: scikit-learn's digits (1,797 8 x 8 images, read
from the data file of the ``scikit-learn`` wheel, installed --no-deps, not imported) and a
small MLP trained here in numpy (64 -> 64 ReLU -> 10, Adam, a fixed seed: 98.4 % top-1 on
the 497 held-out images)."""

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["digits", "train_mlp", "predict", "top1"]

#: Held-out images (the last ones of a fixed permutation).
TEST = 497


@lru_cache(maxsize=1)
def digits():
    """``(x_train, y_train, x_test, y_test)``: pixels scaled to [0, 1]."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the digits data is not installed: run `make venv` (or `.venv/bin/"
                           "pip install --no-deps scikit-learn`)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    x, y = data[:, :64] / 16.0, data[:, 64].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return x[:-TEST], y[:-TEST], x[-TEST:], y[-TEST:]


def predict(weights, x):
    """Class scores of images ``x`` under ``weights`` (w1, b1, w2, b2)."""
    w1, b1, w2, b2 = weights
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2


def top1(weights, x, y):
    return float(np.mean(np.argmax(predict(weights, x), axis=1) == y))


@lru_cache(maxsize=1)
def train_mlp(hidden=64, epochs=300, seed=0):
    """The trained MLP's weights (w1, b1, w2, b2), float64; full-batch Adam on cross-entropy."""
    x, y, _, _ = digits()
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, np.sqrt(2 / 64), (64, hidden)), np.zeros(hidden),
              rng.normal(0, np.sqrt(2 / hidden), (hidden, 10)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    for step in range(1, epochs + 1):
        h = np.maximum(x @ params[0] + params[1], 0.0)
        z = h @ params[2] + params[3]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / len(y)
        dh = (dz @ params[2].T) * (h > 0)
        grads = [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - 0.01 * (m[i] / (1 - 0.9 ** step)) / (
                np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
    return tuple(params)
