"""The engine behind every permutation explanation: a model's outputs when one group of input
values of each receiving video is swapped for a donor video's, for many groups and donors at
once, reusing the first layer.

A model is ``rest(first(z))`` with ``first`` affine in the standardised inputs ``z``
(``emojax.models.common.Staged``). Swapping group ``g`` of video ``i`` for video ``j``'s changes
the first layer's pre-activation from ``P[i]`` to ``P[i] - C_g[i] + C_g[j]``, where ``C_g`` is
``g``'s own contribution (the first layer without bias applied to ``z`` restricted to ``g``).
So ``C_g`` is computed once per group, and every permutation only gathers rows of it: no
permutation pays the first layer again. A missing value (a frame without a face) travels with
its video: it is the standardised 0 wherever it goes.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..models import EarlyFusion
from .groups import Group

MB = 1 << 20
#: activations per call of the layers after the first: batches of about this size stay in cache
#: and ran fastest on 2 cores (bigger ones were up to 1.5x slower)
CALL_BYTES = 16 * MB


@partial(jax.jit, static_argnums=0)
def _stage_one(graphdef, state, rppg, face, mask):
    model = nnx.merge(graphdef, state)
    z = model.standardise(rppg, face, mask, mask)
    return z, model.first(*z)


@partial(jax.jit, static_argnums=0)
def _first(graphdef, state, z):
    return nnx.merge(graphdef, state).first(*z)


@partial(jax.jit, static_argnums=0)
def _masked_contributions(graphdef, state, z, bias, masks_r, masks_f):
    """``C_g`` for a chunk of groups by masking ``z`` (any affine first layer)."""
    model = nnx.merge(graphdef, state)

    def one(mr, mf):
        zr = None if z[0] is None else z[0] * mr
        zf = None if z[1] is None else z[1] * mf
        return jax.tree.map(jnp.subtract, model.first(zr, zf), bias)

    return jax.vmap(one)(masks_r, masks_f)


@jax.jit
def _gathered_contribution(z_flat, kernel, idx):
    """``C_g`` of a flatten-then-dense first layer: only the group's own columns."""
    return jnp.take(z_flat, idx, axis=1) @ jnp.take(kernel, idx, axis=0)


@partial(jax.jit, static_argnums=0)
def _rest_proba(graphdef, state, base, mask):
    return jax.nn.softmax(nnx.merge(graphdef, state).rest(base, mask), axis=-1)


@jax.jit
def _offsets(base, contrib, recv):
    """``P[recv] - C_g[recv]`` of every group: the receivers' pre-activations without the group."""
    return jax.tree.map(lambda b, c: b[recv][None] - c[:, recv], base, contrib)


@partial(jax.jit, static_argnums=0)
def _swapped(graphdef, state, offsets, contrib, g_idx, donors, mask):
    """Class probabilities ``(P, n_recv, K)`` of the receivers with group ``g_idx[p]`` taken
    from videos ``donors[p]``."""
    model = nnx.merge(graphdef, state)
    p, n = donors.shape
    # every (pair, receiver) is one row of a single batch: the layers after the first run as
    # large matmuls rather than a vmap of small ones (rest treats rows independently)
    pre = jax.tree.map(lambda o, c: (o[g_idx] + c[g_idx[:, None], donors]).reshape(p * n, *o.shape[2:]),
                       offsets, contrib)
    proba = jax.nn.softmax(model.rest(pre, jnp.tile(mask, (p, 1))), axis=-1)
    return proba.reshape(p, n, -1)


class Staged:
    """One model on one set of videos: standardised inputs and first-layer outputs, computed once."""

    def __init__(self, model: nnx.Module, arrays: dict):
        model.eval()
        self.model = model
        self.graphdef, self.state = nnx.split(model)
        mask = jnp.asarray(arrays["mask"])
        self.mask = mask
        self.z, self.base = _stage_one(self.graphdef, self.state, jnp.asarray(arrays["rppg"]),
                                       jnp.asarray(arrays["face"]), mask)
        zeros = tuple(None if a is None else jnp.zeros_like(a[:1]) for a in self.z)
        self.bias = jax.tree.map(lambda b: b[0], _first(self.graphdef, self.state, zeros))
        self.row_bytes = sum(int(np.prod(b.shape[1:])) * 4 for b in jax.tree.leaves(self.base))
        self.n = int(mask.shape[0])
        self._flat = None

    def proba(self) -> np.ndarray:
        """Class probabilities of every video, nothing swapped."""
        return np.asarray(_rest_proba(self.graphdef, self.state, self.base, self.mask), np.float64)

    def _gathered(self, g: Group):
        """``C_g`` of the flatten-then-dense first layer from ``g``'s own columns, or, for a
        group of more than half the columns, as everything minus its complement's."""
        if self._flat is None:
            self._flat = (jnp.concatenate(self.z, axis=-1).reshape(self.n, -1), self.model.fc1.kernel[...])
        z_flat, kernel = self._flat
        member = np.concatenate([g.rppg, g.face], axis=1).reshape(-1)
        if member.sum() * 2 <= member.size:
            return _gathered_contribution(z_flat, kernel, jnp.asarray(np.flatnonzero(member)))
        rest = _gathered_contribution(z_flat, kernel, jnp.asarray(np.flatnonzero(~member)))
        return self.base[0] - self.bias[0] - rest

    def contributions(self, groups: Sequence[Group], pad_to: int) -> object:
        """``C_g`` of ``groups`` stacked ``(pad_to, n, ...)`` (zeros beyond ``len(groups)``)."""
        if isinstance(self.model, EarlyFusion):
            out = [self._gathered(g) for g in groups]
            out += [jnp.zeros_like(out[0])] * (pad_to - len(groups))
            return (jnp.stack(out),)
        masks_r = np.zeros((pad_to, *groups[0].rppg.shape), np.float32)
        masks_f = np.zeros((pad_to, *groups[0].face.shape), np.float32)
        for k, g in enumerate(groups):
            masks_r[k], masks_f[k] = g.rppg, g.face
        return _masked_contributions(self.graphdef, self.state, self.z, self.bias, masks_r, masks_f)

    def swapped(self, offsets, contrib, g_idx: np.ndarray, donors: np.ndarray, recv_mask) -> np.ndarray:
        return np.asarray(_swapped(self.graphdef, self.state, offsets, contrib, jnp.asarray(g_idx),
                                   jnp.asarray(donors), recv_mask))


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for s in range(0, n, size):
        yield np.arange(s, min(s + size, n))


class Engine:
    """Models (a run's folds, their probabilities averaged) staged on a set of videos."""

    def __init__(self, models: Sequence[nnx.Module], arrays: dict, *, max_memory_mb: float = 512):
        self.staged = [Staged(m, arrays) for m in models]
        self.max_memory_mb = max_memory_mb

    def baseline(self) -> np.ndarray:
        """Class probabilities ``(n, K)`` of the videos as they are."""
        return np.mean([s.proba() for s in self.staged], axis=0)

    def swap(self, groups: Sequence[Group], donors: np.ndarray, recv: np.ndarray, *,
             consume: Callable[[np.ndarray, np.ndarray], None],
             progress: Callable[[int, int], None] | None = None) -> None:
        """For every group ``g`` and donor row ``r`` of ``donors (R, n_recv)``: the class
        probabilities of videos ``recv`` with ``g`` swapped for ``donors[r]``'s values. Results
        go to ``consume(group_indices, proba (len(group_indices), R, n_recv, K))`` one chunk of
        groups at a time, so memory stays within about ``max_memory_mb`` whatever the number
        of groups."""
        staged = self.staged
        n_recv, reps = len(recv), len(donors)
        row = max(s.row_bytes for s in staged)
        budget = self.max_memory_mb * MB
        per_group = min(len(groups), max(1, int(budget // (2 * staged[0].n * row))))
        pairs_per_call = min(per_group * reps, max(1, int(min(CALL_BYTES, budget / 8) // (n_recv * row))))
        per_group = min(per_group, max(1, int(budget // (2 * n_recv * row))))  # the offsets fit too
        recv_j = jnp.asarray(recv)
        recv_masks = [s.mask[recv_j] for s in staged]
        done = 0
        for gi in _chunks(len(groups), per_group):
            pairs = np.array([(g, r) for g in range(len(gi)) for r in range(reps)])
            total = 0.0
            for s, recv_mask in zip(staged, recv_masks):
                contrib = s.contributions([groups[k] for k in gi], per_group)
                offsets = _offsets(s.base, contrib, recv_j)
                parts = []
                for pc in _chunks(len(pairs), pairs_per_call):
                    sel = np.pad(pc, (0, pairs_per_call - len(pc)), mode="edge")
                    p = s.swapped(offsets, contrib, pairs[sel, 0], donors[pairs[sel, 1]], recv_mask)
                    parts.append(np.asarray(p[:len(pc)], np.float64))
                total = total + np.concatenate(parts)
            consume(gi, (total / len(staged)).reshape(len(gi), reps, n_recv, -1))
            done += len(gi)
            if progress is not None:
                progress(done, len(groups))
