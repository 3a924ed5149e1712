"""Explanations of one video: which of its blocks its prediction leans on (values swapped in
from a background set of videos), and integrated gradients per landmark and frame."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from sklearn.utils import Bunch, check_random_state

from ..features.modalities import MODALITIES
from ..models.common import valid
from ..training.loop import Split
from .engine import Engine
from .groups import MODALITY_GROUP, REGIONS, resolve
from .pfi import fitted_classifier, layout_of



def _one_video(clf, x) -> dict:
    arrays = clf.inputs_for(x if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x]))
    if len(arrays["mask"]) != 1:
        raise ValueError(f"explain one video at a time: got {len(arrays['mask'])}")
    return arrays


def _target(clf, proba: np.ndarray, target) -> int:
    if target is None:
        return int(proba.argmax())
    hits = np.flatnonzero(clf.classes_ == target)
    if not len(hits):
        raise ValueError(f"unknown class {target!r}; the classifier knows {clf.classes_.tolist()}")
    return int(hits[0])


def video_importance(estimator, x, background, *, groups="modality", n_repeats: int | None = None,
                     random_state=None, target=None, max_memory_mb: float = 512) -> Bunch:
    """For one video ``x``: the drop in its ``target``-class probability (default: the
    predicted class) when a group's values are replaced by those of a background video, one
    background video per repeat (all of ``background`` when ``n_repeats`` is None, else
    ``n_repeats`` drawn with ``random_state``). ``importances (n_groups, n_repeats)``."""
    clf = fitted_classifier(estimator)
    one = _one_video(clf, x)
    bg = clf.inputs_for(background)
    for k in ("rppg", "face"):
        if bg[k].shape[1:] != one[k].shape[1:]:
            raise ValueError(f"background {k} inputs {bg[k].shape[1:]} differ from the video's {one[k].shape[1:]}")
    arrays = {k: np.concatenate([one[k], bg[k]]) for k in one}
    groups = resolve(groups, layout_of(clf, one))
    b = len(bg["mask"])
    pick = (np.arange(b) if n_repeats is None else
            check_random_state(random_state).choice(b, size=n_repeats, replace=n_repeats > b))
    engine = Engine(clf.models_, arrays, max_memory_mb=max_memory_mb)
    proba = engine.baseline()[0]
    k = _target(clf, proba, target)
    drops = np.zeros((len(groups), len(pick)))

    def consume(gi, p):
        drops[gi] = proba[k] - p[:, :, 0, k]

    engine.swap(groups, (1 + pick)[:, None], np.zeros(1, int), consume=consume)
    return Bunch(importances=drops, importances_mean=drops.mean(axis=1), importances_std=drops.std(axis=1),
                 names=[g.name for g in groups], target=clf.classes_[k], proba=proba)


@partial(jax.jit, static_argnums=0)
def _integrated(graphdef, state, z, mask, target, alphas, weights):
    model = nnx.merge(graphdef, state)

    def prob(zz):
        return jax.nn.softmax(model.rest(model.first(zz), mask), axis=-1)[0, target]

    def grad_at(a):
        return jax.grad(prob)(tuple(None if v is None else a * v for v in z))

    grads = jax.vmap(grad_at)(alphas)
    attr = tuple(None if v is None else v * jnp.tensordot(weights, g, axes=1) for v, g in zip(z, grads))
    zeros = tuple(None if v is None else jnp.zeros_like(v) for v in z)
    return attr, prob(z), prob(zeros)


def _ig_once(clf, arrays: dict, k: int, steps: int):
    alphas = jnp.linspace(0.0, 1.0, steps + 1)
    weights = jnp.full(steps + 1, 1.0 / steps).at[0].set(0.5 / steps).at[-1].set(0.5 / steps)
    attrs, fx, f0 = [], 0.0, 0.0
    for m in clf.models_:
        m.eval()
        gd, st = nnx.split(m)
        split = Split.of(arrays)
        mask = jnp.asarray(split.mask)
        z = m.standardise(tuple(jnp.asarray(x) for x in split.inputs), valid(mask))
        a, px, p0 = _integrated(gd, st, z, mask, k, alphas, weights)
        attrs.append(tuple(np.zeros(x.shape[1:]) if v is None else np.asarray(v[0], np.float64)
                           for v, x in zip(a, split.inputs)))
        fx, f0 = fx + float(px), f0 + float(p0)
    n = len(clf.models_)
    return tuple(sum(a[i] for a in attrs) / n for i in range(len(MODALITIES))), fx / n, f0 / n


def integrated_gradients(estimator, x, *, target=None, steps: int = 32, tolerance: float = 0.01,
                         max_steps: int = 1024) -> Bunch:
    """Integrated gradients of one video's ``target``-class probability (default: predicted)
    with respect to every input value, from the baseline "the training mean everywhere"
    (standardised 0; for a run's several fold models, each model's own), along a straight
    path. The trapezoid rule starts at ``steps`` points and doubles them until completeness
    holds - attributions summing to ``f(x) - f(baseline)`` within ``tolerance`` of that
    difference - or ``max_steps`` is reached (``completeness_error`` says how close it got).

    Returns ``rppg (T, Cr)``, ``face (T, Cf)`` and ``voice (T, Cv)`` attributions, ``landmarks (T, 68)`` (each
    point's channels summed; None when the inputs are not 68 points), ``modality`` sums,
    ``f_x``, ``f_baseline``, ``completeness_error`` (relative) and ``steps``.
    """
    clf = fitted_classifier(estimator)
    arrays = _one_video(clf, x)
    k = _target(clf, clf.predict_proba(arrays)[0], target)
    while True:
        (ar, af, av), fx, f0 = _ig_once(clf, arrays, k, steps)
        err = abs(ar.sum() + af.sum() + av.sum() - (fx - f0)) / max(abs(fx - f0), 1e-6)
        if err <= tolerance or steps >= max_steps:
            break
        steps *= 2
    layout = layout_of(clf, arrays)
    try:
        landmarks = np.stack([af[:, layout.landmark_channels([p])].sum(axis=1) for p in range(68)], axis=1)
    except ValueError:
        landmarks = None
    return Bunch(rppg=ar, face=af, voice=av, landmarks=landmarks,
                 modality={MODALITY_GROUP[m]: float(a.sum()) for m, a in zip(MODALITIES, (ar, af, av))
                           if m != "voice" or a.size},
                 f_x=fx, f_baseline=f0, completeness_error=float(err), steps=steps, target=clf.classes_[k],
                 regions=None if landmarks is None else
                 {r: float(landmarks[:, list(p)].sum()) for r, p in REGIONS.items()})


__all__ = ["video_importance", "integrated_gradients"]
