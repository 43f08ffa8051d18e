"""Recommendation models (plain NumPy/SciPy/scikit-learn, no Dagster).

Every model learns from a user x item matrix of interaction weights and scores *rows*: the
interaction vectors of the users to recommend for. Scoring a row that the model never saw is
fold-in (ALS solves that user's factors against the fixed item factors; the neighbourhood and
EASE models multiply the row by their item matrix), so new interactions update a user's
recommendations without retraining anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

# scikit-learn (a second to import) loads inside the models that use it, not with the code location.

# How much each kind of interaction says about a user's interest (ratings: stars / 2).
WEIGHTS = {"view": 1.0, "click": 1.0, "download": 2.0, "share": 3.0, "like": 3.0, "purchase": 5.0}


def interaction_weight(kind: str, value: float | None) -> float:
    if kind == "rating":
        return float(value or 0) / 2.0
    return WEIGHTS.get(kind, 1.0) * (1.0 if value is None else max(float(value), 0.0) or 1.0)


@dataclass
class Dataset:
    """Users and items with their indices, the weight matrix, and what the content model reads."""

    users: list[str]
    items: list[str]
    weights: sp.csr_matrix  # users x items, summed interaction weights
    ratings: sp.csr_matrix | None = None  # users x items, explicit ratings (the latest per pair)
    last_seen: np.ndarray | None = None  # per item, seconds since the newest interaction in the data
    item_text: list[str] = field(default_factory=list)
    item_vectors: np.ndarray | None = None  # items x d embeddings (zeros where an item has none)

    def __post_init__(self):
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.item_index = {it: i for i, it in enumerate(self.items)}


def build_dataset(
    rows,
    item_text: dict[str, str] | None = None,
    extra_items: list[str] = (),
    item_vectors: dict[str, list[float]] | None = None,
) -> Dataset:
    """From (user, item, type, value, timestamp-seconds) rows; items with text but no interaction
    are part of the catalogue (content reaches them)."""
    rows = list(rows)
    users = sorted({r[0] for r in rows})
    items = sorted({r[1] for r in rows} | set(extra_items) | set(item_text or {}) | set(item_vectors or {}))
    ui, ii = {u: i for i, u in enumerate(users)}, {it: i for i, it in enumerate(items)}
    r_idx = np.array([ui[r[0]] for r in rows], dtype=np.int64)
    c_idx = np.array([ii[r[1]] for r in rows], dtype=np.int64)
    w = np.array([interaction_weight(r[2], r[3]) for r in rows], dtype=np.float64)
    shape = (len(users), len(items))
    weights = sp.csr_matrix((w, (r_idx, c_idx)), shape=shape)
    weights.sum_duplicates()
    weights.eliminate_zeros()
    rated = [(ui[r[0]], ii[r[1]], float(r[3]), r[4]) for r in rows if r[2] == "rating" and r[3] is not None]
    ratings = None
    if rated:
        latest: dict[tuple[int, int], tuple[float, float]] = {}
        for u, i, v, t in rated:
            if (u, i) not in latest or t >= latest[(u, i)][1]:
                latest[(u, i)] = (v, t)
        keys = list(latest)
        ratings = sp.csr_matrix(
            ([latest[k][0] for k in keys], ([k[0] for k in keys], [k[1] for k in keys])), shape=shape
        )
    ts = np.array([r[4] for r in rows], dtype=np.float64) if rows else np.zeros(0)
    newest = ts.max() if len(ts) else 0.0
    last = np.full(len(items), np.inf)
    if len(ts):
        np.minimum.at(last, c_idx, newest - ts)
    text = [(item_text or {}).get(it, "") for it in items]
    vectors = None
    if item_vectors:
        dim = len(next(iter(item_vectors.values())))
        vectors = np.zeros((len(items), dim), dtype=np.float32)
        for it, vec in item_vectors.items():
            if len(vec) == dim:
                vectors[ii[it]] = vec
    return Dataset(users, items, weights, ratings, last, text, vectors)


def rows_for(data: Dataset, interactions: dict[str, dict[str, float]]) -> sp.csr_matrix:
    """Interaction rows in the model's item space; items it does not know are dropped."""
    r, c, v = [], [], []
    for n, user_items in enumerate(interactions.values()):
        for item, w in user_items.items():
            j = data.item_index.get(item)
            if j is not None:
                r.append(n)
                c.append(j)
                v.append(w)
    return sp.csr_matrix((v, (r, c)), shape=(len(interactions), len(data.items)))


class Model:
    name = "model"

    def fit(self, data: Dataset) -> Model:
        t0 = time.perf_counter()
        self._fit(data)
        self.fit_seconds = time.perf_counter() - t0
        self.n_items = len(data.items)
        return self

    def _fit(self, data: Dataset) -> None:
        raise NotImplementedError

    def score(self, rows: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError


def _nonempty_rows(C: sp.csr_matrix):
    """(row, column indices, values) of each row that has entries: what the ALS solves iterate over."""
    for u in range(C.shape[0]):
        start, end = C.indptr[u], C.indptr[u + 1]
        if start < end:
            yield u, C.indices[start:end], C.data[start:end]


class Popularity(Model):
    """Distinct users per item; with a half-life, interactions count less as they age (`recent`)."""

    def __init__(self, half_life_days: float | None = None):
        self.half_life_days = half_life_days
        self.name = "popularity_recent" if half_life_days else "popularity"

    def _fit(self, data):
        counts = np.asarray((data.weights > 0).sum(axis=0)).ravel().astype(np.float64)
        if self.half_life_days and data.last_seen is not None:
            decay = np.where(np.isfinite(data.last_seen), 0.5 ** (data.last_seen / 86400 / self.half_life_days), 0.0)
            counts = counts * decay
        self.popularity = counts / (counts.max() or 1.0)

    def score(self, rows):
        return np.tile(self.popularity, (rows.shape[0], 1))


def _top_k_columns(sim: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep each row's k largest entries (a neighbourhood), as a sparse matrix."""
    if k >= sim.shape[1]:
        return sp.csr_matrix(sim)
    idx = np.argpartition(-sim, k, axis=1)[:, :k]
    rows = np.repeat(np.arange(sim.shape[0]), k)
    return sp.csr_matrix((sim[rows, idx.ravel()], (rows, idx.ravel())), shape=sim.shape)


class ItemKNN(Model):
    """Item-based CF: cosine similarity between item columns, k nearest per item."""

    name = "item_knn"

    def __init__(self, k: int = 100, shrink: float = 10.0):
        self.k, self.shrink = k, shrink

    def _fit(self, data):
        X = data.weights.tocsc().astype(np.float64)
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
        co = (X.T @ X).toarray()
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        self.similarity = _top_k_columns(sim, self.k).T.tocsr()  # column j: the neighbours of item j

    def score(self, rows):
        return np.asarray((rows @ self.similarity).todense())

    def similar(self, top: int = 10) -> list[tuple[int, int, float]]:
        sim = self.similarity.T.tocsr()
        out = []
        for i in range(sim.shape[0]):
            start, end = sim.indptr[i], sim.indptr[i + 1]
            order = np.argsort(-sim.data[start:end])[:top]
            out += [
                (i, int(sim.indices[start + o]), float(sim.data[start + o])) for o in order if sim.data[start + o] > 0
            ]
        return out


class UserKNN(Model):
    """User-based CF: the k most similar training users (cosine) vote with their interactions."""

    name = "user_knn"

    def __init__(self, k: int = 50):
        self.k = k

    def _fit(self, data):
        from sklearn.preprocessing import normalize

        self.train = data.weights.astype(np.float64).tocsr()
        self.train_normed = normalize(self.train)

    def score(self, rows):
        from sklearn.preprocessing import normalize

        sim = (normalize(rows.astype(np.float64)) @ self.train_normed.T).toarray()
        # A user who is in the training data is not their own neighbour.
        sim[sim > 1 - 1e-9] = 0.0
        return np.asarray((_top_k_columns(sim, self.k) @ self.train).todense())


class ALS(Model):
    """Matrix factorisation for implicit feedback (Hu, Koren, Volinsky 2008): confidence
    1 + alpha * weight, alternating exact least squares."""

    name = "als"

    def __init__(
        self, factors: int = 64, regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15, seed: int = 0
    ):
        self.factors, self.reg, self.alpha, self.iterations, self.seed = (
            factors,
            regularization,
            alpha,
            iterations,
            seed,
        )

    def _solve(self, C: sp.csr_matrix, Y: np.ndarray) -> np.ndarray:
        """Each row's factors given the other side's: (YtY + Yt(C-1)Y + reg I) x = Yt C p."""
        YtY = Y.T @ Y + self.reg * np.eye(Y.shape[1])
        X = np.zeros((C.shape[0], Y.shape[1]))
        for u, idx, conf in _nonempty_rows(C):
            Yi = Y[idx]
            A = YtY + (Yi.T * (conf - 1.0)) @ Yi
            X[u] = np.linalg.solve(A, Yi.T @ conf)
        return X

    def _fit(self, data):
        rng = np.random.default_rng(self.seed)
        C = data.weights.tocsr().astype(np.float64)
        C.data = 1.0 + self.alpha * C.data
        Ct = C.T.tocsr()
        self.user_factors = rng.normal(0, 0.01, (C.shape[0], self.factors))
        self.item_factors = rng.normal(0, 0.01, (C.shape[1], self.factors))
        for _ in range(self.iterations):
            self.user_factors = self._solve(C, self.item_factors)
            self.item_factors = self._solve(Ct, self.user_factors)

    def score(self, rows):
        C = rows.tocsr().astype(np.float64)
        C.data = 1.0 + self.alpha * C.data
        return self._solve(C, self.item_factors) @ self.item_factors.T


class ExplicitMF(Model):
    """Matrix factorisation of explicit ratings with user and item biases (ALS on the residuals);
    scores are predicted ratings."""

    name = "explicit_mf"

    def __init__(self, factors: int = 32, regularization: float = 5.0, iterations: int = 10, seed: int = 0):
        self.factors, self.reg, self.iterations, self.seed = factors, regularization, iterations, seed

    def _fit(self, data):
        R = data.ratings if data.ratings is not None and data.ratings.nnz else None
        if R is None:  # no ratings: implicit weights stand in, so the model still ranks
            R = data.weights.tocsr().astype(np.float64)
        R = R.tocsr()
        self.mu = float(R.data.mean()) if R.nnz else 0.0
        rng = np.random.default_rng(self.seed)
        n_u, n_i = R.shape
        self.bu, self.bi = np.zeros(n_u), np.zeros(n_i)
        self.P = rng.normal(0, 0.1, (n_u, self.factors))
        self.Q = rng.normal(0, 0.1, (n_i, self.factors))
        Rt = R.T.tocsr()
        for _ in range(self.iterations):
            self.P, self.bu = self._side(R, self.Q, self.bi, self.mu)
            self.Q, self.bi = self._side(Rt, self.P, self.bu, self.mu)

    def _side(self, R, Y, other_bias, mu):
        k = Y.shape[1]
        X, b = np.zeros((R.shape[0], k)), np.zeros(R.shape[0])
        Y1 = np.hstack([Y, np.ones((Y.shape[0], 1))])  # the bias as one more factor
        reg = self.reg * np.eye(k + 1)
        for u, idx, r in _nonempty_rows(R):
            Yi = Y1[idx]
            sol = np.linalg.solve(Yi.T @ Yi + reg, Yi.T @ (r - mu - other_bias[idx]))
            X[u], b[u] = sol[:k], sol[k]
        return X, b

    def score(self, rows):
        P, bu = self._side(rows.tocsr().astype(np.float64), self.Q, self.bi, self.mu)
        return self.mu + bu[:, None] + self.bi[None, :] + P @ self.Q.T


class EASE(Model):
    """Embarrassingly shallow autoencoder (Steck 2019): a closed-form item-item model, B = I - P/diag(P)
    with P = (XtX + lambda I)^-1, over the items with at least `min_users` users."""

    name = "ease"

    def __init__(self, regularization: float = 250.0, min_users: int = 2):
        self.reg, self.min_users = regularization, min_users

    def _fit(self, data):
        X = (data.weights > 0).astype(np.float64).tocsc()
        counts = np.asarray(X.sum(axis=0)).ravel()
        self.kept = np.flatnonzero(counts >= self.min_users)
        Xk = X[:, self.kept]
        G = (Xk.T @ Xk).toarray()
        G[np.diag_indices_from(G)] += self.reg
        P = np.linalg.inv(G)
        self.B = -P / np.diag(P)
        np.fill_diagonal(self.B, 0.0)
        self.n_items = X.shape[1]

    def score(self, rows):
        out = np.zeros((rows.shape[0], self.n_items))
        binary = (rows > 0).astype(np.float64).tocsc()[:, self.kept]
        out[:, self.kept] = binary @ self.B
        return out


class ContentBased(Model):
    """A user's profile is the weighted mean of the vectors of what they interacted with; items
    score by cosine similarity to it. An item's vector is its TF-IDF, joined (half and half) with
    its enrichment embedding where it has one. Items nobody touched yet are reachable."""

    name = "content"

    def __init__(self, max_features: int = 20000):
        self.max_features = max_features

    def _fit(self, data):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        texts = [t or "" for t in data.item_text]
        self.has_text = np.array([bool(t.strip()) for t in texts])
        if self.has_text.any():
            vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=self.max_features, min_df=1)
            self.vectors = normalize(vec.fit_transform(texts))
        else:
            self.vectors = sp.csr_matrix((len(texts), 1))
        if data.item_vectors is not None and np.any(data.item_vectors):
            self.vectors = normalize(sp.hstack([self.vectors, sp.csr_matrix(normalize(data.item_vectors))]).tocsr())
            self.has_text |= np.any(data.item_vectors, axis=1)

    def score(self, rows):
        from sklearn.preprocessing import normalize

        profiles = normalize(rows.astype(np.float64) @ self.vectors)
        return np.asarray((profiles @ self.vectors.T).todense())

    def similar(self, top: int = 10) -> list[tuple[int, int, float]]:
        sim = (self.vectors @ self.vectors.T).toarray()
        np.fill_diagonal(sim, 0.0)
        out = []
        for i in np.flatnonzero(self.has_text):
            order = np.argsort(-sim[i])[:top]
            out += [(int(i), int(j), float(sim[i, j])) for j in order if sim[i, j] > 0]
        return out


def _rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Per user, scores mapped to [0, 1] by min-max: models on different scales can be blended."""
    lo = scores.min(axis=1, keepdims=True)
    hi = scores.max(axis=1, keepdims=True)
    return (scores - lo) / np.where(hi - lo > 0, hi - lo, 1.0)


# The hybrid's blend: model -> weight (normalised per user before blending).
HYBRID_WEIGHTS = {"ease": 0.5, "item_knn": 0.2, "als": 0.15, "content": 0.1, "popularity": 0.05}


class Hybrid(Model):
    """A weighted blend of collaborative, content and popularity scores. Cold start: a user with
    fewer than `min_interactions` gets popularity and content only; items without interactions
    reach users through content."""

    name = "hybrid"

    def __init__(self, parts: dict[str, tuple[Model, float]] | None = None, min_interactions: int = 3):
        if parts is None:
            models = all_models()
            parts = {name: (models[name], w) for name, w in HYBRID_WEIGHTS.items()}
        self.parts = parts
        self.min_interactions = min_interactions

    def _fit(self, data):
        for model, _ in self.parts.values():
            if not hasattr(model, "fit_seconds"):
                model.fit(data)

    def fit(self, data):
        super().fit(data)
        self.fit_seconds += sum(model.fit_seconds for model, _ in self.parts.values())  # what it took, parts included
        return self

    def score(self, rows):
        n = np.diff(rows.tocsr().indptr)
        cold = n < self.min_interactions
        total = np.zeros((rows.shape[0], self.n_items))
        weight = np.zeros((rows.shape[0], 1))
        for name, (model, w) in self.parts.items():
            s = _rank_normalise(model.score(rows))
            if name in ("popularity", "content"):
                # Cold users lean on what needs no history.
                ws = np.where(cold, 0.5, w)[:, None]
            else:
                ws = np.where(cold, 0.0, w)[:, None]
            total += ws * s
            weight += ws
        return total / np.where(weight > 0, weight, 1.0)


def top_n(scores: np.ndarray, seen: sp.csr_matrix | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n best items per row (indices, scores), leaving out what the row's user already has."""
    scores = scores.astype(np.float64, copy=True)
    if seen is not None and seen.nnz:
        coo = seen.tocoo()
        scores[coo.row, coo.col] = -np.inf
    n = min(n, scores.shape[1])
    idx = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part = np.take_along_axis(scores, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(part, order, axis=1)


def all_models() -> dict[str, Model]:
    """Every model the platform trains, the hybrid built on the others' instances."""
    base = {
        "popularity": Popularity(),
        "popularity_recent": Popularity(half_life_days=30),
        "user_knn": UserKNN(),
        "item_knn": ItemKNN(),
        "als": ALS(),
        "explicit_mf": ExplicitMF(),
        "content": ContentBased(),
        "ease": EASE(),
    }
    base["hybrid"] = Hybrid({name: (base[name], w) for name, w in HYBRID_WEIGHTS.items()})
    return base
