"""A bring-your-own Flotilla trainer: logistic regression on one hospital's UCI Heart Disease file.

Flotilla runs this once per task with its inputs in FLOTILLA_* environment variables (see README.md).
It is the built-in trainer's recipe written in numpy: the FLamby Fed-Heart-Disease features and
split, each site z-scoring its numeric features with its own training statistics, mini-batch SGD
on the binary cross-entropy, FedProx's proximal term when proximal_mu > 0. Deterministic: the same
seeds and settings give the same model, byte for byte.
"""

import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

NUMERIC = [0, 1, 3, 4, 5, 7, 8, 9]  # age, sex, trestbps, chol, fbs, thalach, exang, oldpeak
ONE_HOT = [(2, [2, 3, 4]), (6, [1, 2])]  # cp, restecg: the first level of each dropped
LABEL = 13
USED = sorted(NUMERIC + [c for c, _ in ONE_HOT] + [LABEL])
FEATURES = len(NUMERIC) + sum(len(levels) for _, levels in ONE_HOT)
TEST_FRACTION = 0.34


def load_records(path):
    """Rows with no missing value in a column in use; label 1 when num > 0."""
    rows = []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().split(",")]
            if len(cells) <= LABEL or any(cells[c] in ("?", "") for c in USED):
                continue
            rows.append([float(c) if c not in ("?", "") else math.nan for c in cells])
    table = np.array(rows, dtype=np.float64)
    x = [table[:, NUMERIC]] + [(table[:, [c]] == np.array(levels)).astype(np.float64) for c, levels in ONE_HOT]
    return np.hstack(x), (table[:, LABEL] > 0).astype(np.float64)


def split(x, y, seed):
    """ceil(34%) held out for testing, stratified on the label when each class has more than 2 rows."""
    rng = np.random.default_rng(seed)
    n = len(y)
    n_test = math.ceil(TEST_FRACTION * n)
    classes = [np.flatnonzero(y == label) for label in (0, 1)]
    if all(len(c) > 2 for c in classes):
        shares = [n_test * len(c) / n for c in classes]
        counts = [math.floor(s) for s in shares]
        by_remainder = sorted((0, 1), key=lambda k: (-(shares[k] - counts[k]), -len(classes[k])))
        for k in range(n_test - sum(counts)):
            counts[by_remainder[k % 2]] += 1
        test = np.concatenate([rng.permutation(c)[:k] for c, k in zip(classes, counts)])
    else:
        test = rng.permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    return (x[~is_test], y[~is_test]), (x[is_test], y[is_test])


def standardize(train_x, test_x):
    """Local standardisation of the numeric features with the training split's mean and std.

    A feature constant in the training records is left unscaled (std 1), not divided by 1e-9.
    """
    k = len(NUMERIC)
    mean = train_x[:, :k].mean(axis=0)
    sd = train_x[:, :k].std(axis=0)
    std = np.where(sd < 1e-6 * np.maximum(1, np.abs(mean)), 1.0, sd + 1e-9)
    out = []
    for x in (train_x, test_x):
        x = x.copy()
        x[:, :k] = (x[:, :k] - mean) / std
        out.append(x)
    return out


def bce_with_logits(z, y):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def score(w, b, x, y):
    z = x @ w + b
    return float(bce_with_logits(z, y).mean()), float(((z > 0) == (y == 1)).mean())


def train(w, b, x, y, config):
    global_w, global_b = w.copy(), b
    rng = np.random.default_rng(config["seed"])
    batch, lr, mu = config["batch_size"], config["learning_rate"], config["proximal_mu"]
    per_epoch = math.ceil(len(y) / batch)
    steps = config["local_epochs"] * per_epoch if config["local_epochs"] > 0 else config["local_steps"]
    order, cursor = None, len(y)
    for _ in range(steps):
        if cursor >= len(y):
            order, cursor = rng.permutation(len(y)), 0
        rows = order[cursor : cursor + batch]
        cursor += len(rows)
        z = x[rows] @ w + b
        d = 1 / (1 + np.exp(-z)) - y[rows]
        grad_w = x[rows].T @ d / len(rows)
        grad_b = d.mean()
        if mu > 0:
            grad_w += mu * (w - global_w)
            grad_b += mu * (b - global_b)
        w -= lr * grad_w
        b -= lr * grad_b
    return w, b


def save_model(path, w, b):
    save_file({"weight": w.reshape(1, FEATURES).astype(np.float32), "bias": np.array([b], dtype=np.float32)}, path)


def write_metrics(num_samples, loss, accuracy):
    with open(os.environ["FLOTILLA_METRICS_OUT"], "w") as f:
        json.dump({"num_samples": int(num_samples), "loss": loss, "accuracy": accuracy}, f)


def main():
    task = os.environ["FLOTILLA_TASK"]
    if task == "initialize":
        save_model(os.environ["FLOTILLA_MODEL_OUT"], np.zeros(FEATURES), 0.0)
        return
    x, y = load_records(os.environ["FLOTILLA_DATA"])
    (train_x, train_y), (test_x, test_y) = split(x, y, int(os.environ["FLOTILLA_SEED"]))
    train_x, test_x = standardize(train_x, test_x)
    model = load_file(os.environ["FLOTILLA_MODEL_IN"])
    w = model["weight"].astype(np.float64).reshape(FEATURES)
    b = float(model["bias"][0])
    if task == "evaluate":
        write_metrics(len(test_y), *score(w, b, test_x, test_y))
    elif task == "train":
        w, b = train(w, b, train_x, train_y, json.loads(os.environ["FLOTILLA_CONFIG"]))
        save_model(os.environ["FLOTILLA_MODEL_OUT"], w, b)
        write_metrics(len(train_y), *score(w, b, train_x, train_y))
    else:
        sys.exit(f"unknown FLOTILLA_TASK {task!r}")


if __name__ == "__main__":
    main()
