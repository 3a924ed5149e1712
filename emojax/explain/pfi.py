"""Permutation feature importance with scikit-learn's signature, result and permutations,
computed for every group and repeat at once (see ``engine``).

``permutation_importance(clf, X, y, random_state=0)`` equals
``sklearn.inspection.permutation_importance(flat, X_flat, y, random_state=0)`` on the flat
view ``flat, X_flat = flat_view(clf, X)``, column for column; with ``groups`` it equals
scikit-learn permuting whole blocks of columns with the same shuffles.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.random import sample_without_replacement

from ..estimator import EmotionClassifier
from ..features.modalities import MODALITIES
from .engine import Engine
from .groups import Group, Layout, resolve



@dataclass
class Plan:
    """Which rows are scored and how they are shuffled: exactly scikit-learn's draws."""

    rows: np.ndarray    # (n,) rows of X scored after permutation (all, unless max_samples < 1)
    perms: np.ndarray   # (n_repeats, n): repeat r gives receiver k the values of rows[perms[r, k]]


def permutation_plan(n_samples: int, n_repeats: int, random_state, max_samples) -> Plan:
    """scikit-learn's row sample and shuffles for ``random_state``. scikit-learn draws one seed,
    then for every column a fresh ``RandomState(seed)``: every column sees the same shuffles,
    and each repeat shuffles the previous repeat's column again (the permutations compose)."""
    if not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an integer >= 1, got {n_repeats!r}")
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    if isinstance(max_samples, numbers.Integral) and not isinstance(max_samples, bool):
        if not 1 <= max_samples <= n_samples:
            raise ValueError(f"max_samples must be in [1, {n_samples}] as an integer, got {max_samples}")
    elif isinstance(max_samples, numbers.Real) and 0 < max_samples <= 1:
        max_samples = int(max_samples * n_samples)
    else:
        raise ValueError(f"max_samples must be an integer >= 1 or a fraction in (0, 1], got {max_samples!r}")
    rs = check_random_state(seed)
    rows = (sample_without_replacement(n_samples, max_samples, random_state=rs) if max_samples < n_samples
            else np.arange(n_samples))
    shuffling = np.arange(len(rows))
    current = np.arange(len(rows))
    perms = []
    for _ in range(n_repeats):
        rs.shuffle(shuffling)
        current = current[shuffling]
        perms.append(current)
    return Plan(np.asarray(rows), np.stack(perms))


class _Prefitted(ClassifierMixin, BaseEstimator):
    """A classifier made from one already fitted: never trained, ``predict`` from
    ``predict_proba`` and ``classes_``."""

    def fit(self, X, y=None):
        raise TypeError(f"{type(self).__name__} wraps a fitted classifier; it is not trained")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class _Frozen(_Prefitted):
    """Predictions already made, served to a scikit-learn scorer (probabilities renormalised
    in float64: a float32 softmax sums to 1 only within 1e-7)."""

    def __init__(self, classes, proba):
        self.classes_, self.proba = classes, proba / proba.sum(axis=-1, keepdims=True)

    def predict_proba(self, X):
        return self.proba


def fitted_classifier(estimator) -> EmotionClassifier:
    """``estimator`` itself, checked to be a fitted EmotionClassifier (what the explanations work on)."""
    if not isinstance(estimator, EmotionClassifier):
        raise TypeError("emojax.explain works on a fitted EmotionClassifier (it reuses the model's first layer); "
                        f"for a {type(estimator).__name__} use sklearn.inspection.permutation_importance")
    if not hasattr(estimator, "models_"):
        raise ValueError("this EmotionClassifier is not fitted; call fit() or use EmotionClassifier.from_run()")
    return estimator


def layout_of(clf: EmotionClassifier, arrays: dict) -> Layout:
    width = {m: arrays[m].shape[2] if m in arrays else 0 for m in MODALITIES}
    return Layout(arrays["mask"].shape[1], width["rppg"], width["face"], clf.spec_.preset, width["voice"])


def _accuracy_path(scoring) -> bool:
    return scoring is None or scoring == "accuracy"


def permuted_predictions(estimator, X, y, *, groups=None, n_repeats: int = 5, random_state=None,
                         max_samples=1.0, scoring=None, disjoint: bool = False, max_memory_mb: float = 512,
                         progress: Callable[[int, int], None] | None = None) -> Bunch:
    """Everything the permutation explanations need, from one pass: the groups, the baseline
    score, the score of every (group, repeat) and the predicted class index of every
    (group, repeat, scored row)."""
    clf = fitted_classifier(estimator)
    arrays = clf.inputs_for(X)
    y = np.asarray(y)
    if len(y) != len(arrays["mask"]):
        raise ValueError(f"X has {len(arrays['mask'])} videos but y has {len(y)} labels")
    layout = layout_of(clf, arrays)
    groups = resolve(groups, layout, disjoint=disjoint)
    plan = permutation_plan(len(y), n_repeats, random_state, max_samples)
    scorer = check_scoring(clf, scoring=scoring)
    engine = Engine(clf.models_, arrays, max_memory_mb=max_memory_mb)
    base_proba = engine.baseline()
    baseline = scorer(_Frozen(clf.classes_, base_proba), arrays, y)
    sub = {k: v[plan.rows] for k, v in arrays.items()}
    y_sub = y[plan.rows]
    multi = isinstance(baseline, dict)
    scores = ({k: np.zeros((len(groups), n_repeats)) for k in baseline} if multi
              else np.zeros((len(groups), n_repeats)))
    preds = np.zeros((len(groups), n_repeats, len(plan.rows)), np.int32)

    def consume(gi, proba):
        preds[gi] = proba.argmax(axis=-1)
        if _accuracy_path(scoring):
            scores[gi] = (clf.classes_[preds[gi]] == y_sub).mean(axis=-1)
            return
        for a, g in enumerate(gi):
            for r in range(n_repeats):
                s = scorer(_Frozen(clf.classes_, proba[a, r]), sub, y_sub)
                for k, v in (s.items() if multi else [(None, s)]):
                    (scores[k] if multi else scores)[g, r] = v

    engine.swap(groups, plan.rows[plan.perms], plan.rows, consume=consume, progress=progress)
    return Bunch(groups=groups, names=[g.name for g in groups], baseline=baseline, scores=scores, preds=preds,
                 baseline_preds=base_proba[plan.rows].argmax(axis=1), y=y_sub, classes=clf.classes_)


def _bunch(importances: np.ndarray, names: list[str]) -> Bunch:
    return Bunch(importances_mean=importances.mean(axis=-1), importances_std=importances.std(axis=-1),
                 importances=importances, names=names)


def permutation_importance(estimator, X, y, *, scoring=None, n_repeats: int = 5, random_state=None,
                           max_samples=1.0, groups=None, max_memory_mb: float = 512,
                           progress: Callable[[int, int], None] | None = None) -> Bunch:
    """Permutation importance of ``groups`` of a fitted :class:`EmotionClassifier`'s inputs:
    the drop in ``scoring`` (default: the estimator's accuracy) when a group's values are
    shuffled across the videos of ``X``.

    Same signature, result (``importances (n_groups, n_repeats)``, ``importances_mean``,
    ``importances_std``; here also ``names``; a dict of them for several scorers) and
    permutations as
    ``sklearn.inspection.permutation_importance``. ``groups``: ``None`` (every single input
    value, in the order of ``flat_view``'s columns), a ready-made grouping (``"modality"``,
    ``"channel"``, ``"region"``, ``"time"``, ``"time:N"``), a list of them or of ``Group``,
    or a mapping ``name -> {"rppg": selection, "face": selection}`` (see ``groups.resolve``).
    """
    r = permuted_predictions(estimator, X, y, groups=groups, n_repeats=n_repeats, random_state=random_state,
                             max_samples=max_samples, scoring=scoring, max_memory_mb=max_memory_mb, progress=progress)
    if isinstance(r.baseline, dict):
        return {k: _bunch(r.baseline[k] - r.scores[k], r.names) for k in r.baseline}
    return _bunch(r.baseline - r.scores, r.names)


def class_importance(result: Bunch) -> Bunch:
    """Per class: the drop in its recall when each group is permuted, from
    ``permuted_predictions``: ``importances (n_groups, n_classes, n_repeats)``; NaN for a class
    absent from the scored videos."""
    index = {c: k for k, c in enumerate(result.classes.tolist())}
    y_idx = np.array([index.get(v, -1) for v in result.y.tolist()])
    onehot = (y_idx[:, None] == np.arange(len(result.classes))).astype(float)   # (n, K)
    count = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = ((result.preds == y_idx).astype(float) @ onehot) / count        # (G, R, K)
        base = ((result.baseline_preds == y_idx).astype(float) @ onehot) / count
    out = _bunch((base - recall).transpose(0, 2, 1), result.names)
    out.classes = result.classes
    return out


# -- a flat, scikit-learn-shaped view of a classifier ---------------------------------------
@partial(jax.jit, static_argnums=0)
def _flat_proba(graphdef, state, inputs, mask):
    model = nnx.merge(graphdef, state)
    # the row's own frames of each modality: a value in a frame the row lacks counts as missing
    z = model.standardise(tuple(jnp.nan_to_num(x) for x in inputs),
                          tuple(jnp.isfinite(x) & mask[..., i, None] for i, x in enumerate(inputs)))
    return jax.nn.softmax(model.rest(model.first(z), mask), axis=-1)


class FlatView(_Prefitted):
    """A fitted :class:`EmotionClassifier` over flat rows ``[rppg (T*Cr) | face (T*Cf) |
    voice (T*Cv) | mask (T*M)]`` (the mask per frame and modality), a missing value written NaN: what
    scikit-learn's inspection tools expect. A permuted column carries its missing values with
    it, and a value that lands in a frame the row lacks (its mask for that modality) is missing
    too; a group's block holds the mask columns of the frames and modalities it covers
    (``Group.cover``), so their validity moves with it, as in ``emojax.explain``'s own
    permutations."""

    def __init__(self, classifier: EmotionClassifier, layout: Layout):
        self.classifier = classifier
        self.layout = layout

    @property
    def classes_(self):
        return self.classifier.classes_

    def unflatten(self, X) -> dict:
        lo = self.layout
        X = np.asarray(X, np.float32)
        edges = np.cumsum([0] + [lo.length * lo.width(m) for m in MODALITIES])
        width = edges[-1] + lo.length * len(MODALITIES)
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(f"flat rows must have {width} columns, not {X.shape[1:]}")
        out = {m: X[:, edges[i]:edges[i + 1]].reshape(len(X), lo.length, lo.width(m)) for i, m in enumerate(MODALITIES)}
        return {**out, "mask": X[:, edges[-1]:].reshape(len(X), lo.length, len(MODALITIES)) > 0.5}

    def _split(self) -> list:
        if getattr(self, "split_", None) is None:
            for m in self.classifier.models_:
                m.eval()
            self.split_ = [nnx.split(m) for m in self.classifier.models_]
        return self.split_

    def predict_proba(self, X) -> np.ndarray:
        x = self.unflatten(X)
        inputs = tuple(x[m] for m in MODALITIES)
        out = [np.asarray(_flat_proba(gd, st, inputs, x["mask"]), np.float64) for gd, st in self._split()]
        p = np.mean(out, axis=0)
        return p / p.sum(axis=1, keepdims=True)


def flat_view(estimator, X) -> tuple[FlatView, np.ndarray]:
    """``(view, X_flat)``: the classifier and its inputs as one 2-D matrix (see ``FlatView``)."""
    clf = fitted_classifier(estimator)
    a = clf.inputs_for(X)
    m = a["mask"]
    n = len(m)
    values = [np.where(m[..., i, None], a[k], np.nan).reshape(n, -1) for i, k in enumerate(MODALITIES)]
    flat = np.concatenate([*values, m.reshape(n, -1).astype(np.float32)], axis=1)
    return FlatView(clf, layout_of(clf, a)), flat.astype(np.float32)


def block_columns(group: Group) -> np.ndarray:
    """The flat-view columns of ``group`` (for permuting the same block on scikit-learn's side):
    its values and the mask of every frame and modality it covers."""
    return np.flatnonzero(np.concatenate([*(p.reshape(-1) for p in group.parts), group.cover.reshape(-1)]))


class BlockView(_Prefitted):
    """The reference for grouped importance: scikit-learn permutes column ``g`` of the token
    matrix ``(n, n_groups + 1)`` (every entry a row index of ``X_flat``), and this view reads
    group ``g``'s block from the row that column names - scikit-learn itself permutes whole
    blocks. The last column is the row's own index."""

    def __init__(self, view: FlatView, X_flat: np.ndarray, groups: list[Group]):
        self.view, self.X_flat, self.groups = view, X_flat, groups

    @property
    def classes_(self):
        return self.view.classes_

    def assemble(self, tokens) -> np.ndarray:
        tokens = np.asarray(tokens).astype(int)
        out = self.X_flat[tokens[:, -1]].copy()
        for g, group in enumerate(self.groups):
            moved = tokens[:, g] != tokens[:, -1]
            if moved.any():
                cols = block_columns(group)
                out[np.ix_(moved, cols)] = self.X_flat[np.ix_(tokens[moved, g], cols)]
        return out

    def predict_proba(self, tokens) -> np.ndarray:
        return self.view.predict_proba(self.assemble(tokens))


def block_view(estimator, X, groups) -> tuple[BlockView, np.ndarray]:
    """``(view, tokens)`` for ``sklearn.inspection.permutation_importance(view, tokens, y, ...)``:
    its first ``len(groups)`` rows of importances are the grouped importances of ``groups``."""
    view, flat = flat_view(estimator, X)
    groups = resolve(groups, view.layout)
    tokens = np.repeat(np.arange(len(flat))[:, None], len(groups) + 1, axis=1)
    return BlockView(view, flat, groups), tokens
