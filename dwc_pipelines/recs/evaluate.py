"""Offline evaluation of recommenders (plain Python).

Protocol (fixed by seed): a per-user stratified random split, as Microsoft Recommenders'
`python_stratified_split` does it: each user's interacted items are shuffled with the seed and
75% go to training, 25% to test (users with a single item keep it in training). Models train on
the training part; for every user with test items, the top k of the items they did not interact
with in training are compared with their test items (binary relevance).

Metrics at k: precision (hits / k), recall (hits / test items), nDCG (DCG / ideal DCG), MAP
(mean of precision at each hit, over min(k, test items)), and catalogue coverage (distinct items
recommended to anyone / catalogue size); the first four are means over the evaluated users.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .models import Dataset, Model, top_n


def stratified_split(data: Dataset, ratio: float = 0.75, seed: int = 42) -> tuple[Dataset, sp.csr_matrix]:
    """(training dataset on the same users and items, test matrix of held-out user-item pairs)."""
    rng = np.random.default_rng(seed)
    W = data.weights.tocsr()
    train_r, train_c, train_v, test_r, test_c = [], [], [], [], []
    for u in range(W.shape[0]):
        start, end = W.indptr[u], W.indptr[u + 1]
        idx, vals = W.indices[start:end], W.data[start:end]
        order = rng.permutation(len(idx))
        n_train = len(idx) if len(idx) < 2 else max(1, int(round(len(idx) * ratio)))
        for pos, o in enumerate(order):
            if pos < n_train:
                train_r.append(u)
                train_c.append(idx[o])
                train_v.append(vals[o])
            else:
                test_r.append(u)
                test_c.append(idx[o])
    train_w = sp.csr_matrix((train_v, (train_r, train_c)), shape=W.shape)
    test = sp.csr_matrix((np.ones(len(test_r)), (test_r, test_c)), shape=W.shape)
    ratings = None
    if data.ratings is not None:
        ratings = data.ratings.multiply(train_w > 0).tocsr()
    train = Dataset(data.users, data.items, train_w, ratings, data.last_seen, data.item_text)
    return train, test


def ranking_metrics(recommended: np.ndarray, test: sp.csr_matrix, users: np.ndarray, n_items: int, k: int = 10) -> dict:
    precision, recall, ndcg, ap = [], [], [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for row, u in zip(recommended, users):
        relevant = set(test.indices[test.indptr[u] : test.indptr[u + 1]])
        hits = np.array([item in relevant for item in row[:k]], dtype=float)
        n_rel = len(relevant)
        precision.append(hits.sum() / k)
        recall.append(hits.sum() / n_rel)
        ideal = discounts[: min(n_rel, k)].sum()
        ndcg.append((hits * discounts[: len(hits)]).sum() / ideal)
        cum = np.cumsum(hits)
        ap.append((hits * cum / np.arange(1, len(hits) + 1)).sum() / min(n_rel, k))
    return {
        f"precision_at_{k}": float(np.mean(precision)),
        f"recall_at_{k}": float(np.mean(recall)),
        f"ndcg_at_{k}": float(np.mean(ndcg)),
        f"map_at_{k}": float(np.mean(ap)),
        "coverage": float(len(np.unique(recommended[:, :k])) / n_items),
        "users": int(len(users)),
    }


def evaluate(model: Model, train: Dataset, test: sp.csr_matrix, k: int = 10, batch: int = 512) -> dict:
    """Fit on train, recommend k unseen items to every user with test items, score them."""
    t0 = time.perf_counter()
    if not hasattr(model, "fit_seconds"):
        model.fit(train)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    W = train.weights.tocsr()
    recs = []
    t1 = time.perf_counter()
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        rows = W[chunk]
        idx, _ = top_n(model.score(rows), rows, k)
        recs.append(idx)
    recommended = np.vstack(recs) if recs else np.zeros((0, k), dtype=int)
    out = ranking_metrics(recommended, test, users, len(train.items), k)
    out.update(
        {
            "fit_s": getattr(model, "fit_seconds", time.perf_counter() - t0),
            "ms_per_user": (time.perf_counter() - t1) / max(len(users), 1) * 1000,
        }
    )
    return out
