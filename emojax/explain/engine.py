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

The receiver's mask holds: a donor's values land only in frames the receiver has (its padded
and face-less frames stay the standardised 0), so a permuted block never carries information
through frames the receiving video lacks. The donor's contribution is then ``C_g(z_j * m_i)``,
which depends on the pair. When no receiver lacks a frame it is ``C_g[j]``. Otherwise:

- a first layer of finite ``reach`` r (a convolution; r = 0 for a per-frame layer) reads each
  input frame from at most 2r + 1 output frames, so ``C_g`` is computed on K = 2r + 1 combs of
  frames (every K-th frame, from each offset); for each output frame each comb holds exactly
  one of the input frames it reads, and the pair's contribution is the combs' outputs weighted
  by whether the receiver has that frame;
- a flatten layer (reach None) gets the donor's values in the frames the receiver lacks
  subtracted, from the group's own columns in those frames only.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..models import EarlyFusion
from ..training.devices import data_parallel
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
def _flat_correction(z_flat, kernel, cells, u_cells, donors, recv_pos):
    """Per (donor, receiver) pair: what the donor's values in the receiver's missing frames
    add to a flatten layer, from the cells ``cells`` only (``u_cells``: 1 where the receiver
    lacks the cell's frame, 0 elsewhere and for padding cells)."""
    vals = jnp.take(jnp.take(z_flat, donors, axis=0), cells, axis=1) * jnp.take(u_cells, recv_pos, axis=0)
    return vals @ jnp.take(kernel, cells, axis=0)


@partial(jax.jit, static_argnums=0)
def _swapped_flat(graphdef, state, offsets, contrib, corr, g_idx, r_idx, donors, mask):
    """``_swapped`` for a flatten first layer with the receivers' missing frames taken out."""
    model = nnx.merge(graphdef, state)
    p, n = donors.shape
    pre = jax.tree.map(lambda o, c: o[g_idx] + c[g_idx[:, None], donors] - corr[g_idx, r_idx],
                       offsets, contrib)
    pre = jax.tree.map(lambda x: x.reshape(p * n, *x.shape[2:]), pre)
    proba = jax.nn.softmax(model.rest(pre, jnp.tile(mask, (p, 1))), axis=-1)
    return proba.reshape(p, n, -1)


@partial(jax.jit, static_argnums=0)
def _swapped_local(graphdef, state, offsets, combs, weights, g_idx, donors, mask):
    """``_swapped`` for a first layer of finite reach: the donor's comb outputs (G, K, n, T, H)
    weighted by whether the receiver has each comb's frame (``weights (n_recv, K, T)``)."""
    model = nnx.merge(graphdef, state)
    p, n = donors.shape
    k = weights.shape[1]

    def one(o, c):
        add = sum(c[g_idx[:, None], q, donors] * weights[None, :, q, :, None] for q in range(k))
        return (o[g_idx] + add).reshape(p * n, *o.shape[2:])

    pre = jax.tree.map(one, offsets, combs)
    proba = jax.nn.softmax(model.rest(pre, jnp.tile(mask, (p, 1))), axis=-1)
    return proba.reshape(p, n, -1)


def comb_weights(recv_mask: np.ndarray, reach: int) -> np.ndarray:
    """``(n_recv, K, T)``: for receiver i, comb q and output frame t, whether the receiver has
    the one input frame of comb q that frame t reads (K = 2 reach + 1)."""
    n, t = recv_mask.shape
    k = 2 * reach + 1
    frames = np.arange(t)
    out = np.zeros((n, k, t), np.float32)
    for q in range(k):
        d = (q - frames) % k
        d = np.where(d > reach, d - k, d)
        src = frames + d
        ok = (src >= 0) & (src < t)
        out[:, q, ok] = recv_mask[:, src[ok]]
    return out


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


class FirstLayerCache:
    """One model on one set of videos: standardised inputs and first-layer outputs, computed once."""

    def __init__(self, model: nnx.Module, arrays: dict):
        model.eval()
        dp = data_parallel()
        dp.replicate(model)              # on every device: all that is derived from it is too
        self.model = model
        self.graphdef, self.state = nnx.split(model)
        rppg, face, mask = (jax.device_put(jnp.asarray(arrays[k]), dp.everywhere) for k in ("rppg", "face", "mask"))
        self.mask = mask
        self.z, self.base = _stage_one(self.graphdef, self.state, rppg, face, mask)
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

    def combs(self, groups: Sequence[Group], pad_to: int) -> object:
        """``C_g`` on each of the K = 2 reach + 1 combs of frames: ``(pad_to, K, n, T, ...)``."""
        k = 2 * self.model.reach + 1
        t = groups[0].rppg.shape[0]
        comb = (np.arange(t)[None, :] % k) == np.arange(k)[:, None]             # (K, T)
        masks_r = np.zeros((pad_to, k, *groups[0].rppg.shape), np.float32)
        masks_f = np.zeros((pad_to, k, *groups[0].face.shape), np.float32)
        for i, g in enumerate(groups):
            masks_r[i], masks_f[i] = g.rppg[None] * comb[..., None], g.face[None] * comb[..., None]
        out = _masked_contributions(self.graphdef, self.state, self.z, self.bias,
                                    masks_r.reshape(pad_to * k, *masks_r.shape[2:]),
                                    masks_f.reshape(pad_to * k, *masks_f.shape[2:]))
        return jax.tree.map(lambda c: c.reshape(pad_to, k, *c.shape[1:]), out)

    def flat_corrections(self, groups: Sequence[Group], pad_to: int, donors: np.ndarray, missing: np.ndarray,
                         pairs_per_call: int) -> jax.Array:
        """``(pad_to, R, n_recv, H)``: for each group, repeat and receiver, what the donor's
        values in the receiver's missing frames (``missing (n_recv, T)``) add to the flatten layer."""
        if self._flat is None:
            self._flat = (jnp.concatenate(self.z, axis=-1).reshape(self.n, -1), self.model.fc1.kernel[...])
        z_flat, kernel = self._flat
        reps, n_recv = donors.shape
        width = self.z[0].shape[2] + self.z[1].shape[2]
        frames_missing = missing.any(axis=0)
        pair_donor = donors.reshape(-1)
        pair_recv = np.tile(np.arange(n_recv), reps)
        out = np.zeros((pad_to, reps * n_recv, kernel.shape[1]), np.float32)
        for i, g in enumerate(groups):
            member = np.concatenate([g.rppg, g.face], axis=1) & frames_missing[:, None]
            cells = np.flatnonzero(member.reshape(-1))
            if not len(cells):
                continue
            size = max(64, 1 << (len(cells) - 1).bit_length())     # few shapes, few compilations
            u = np.zeros((n_recv, size), np.float32)
            u[:, :len(cells)] = missing[:, cells // width]
            cells = np.pad(cells, (0, size - len(cells)))
            per_call = max(1, min(pairs_per_call, int(CALL_BYTES // (4 * size))))
            for pc in _chunks(len(pair_donor), per_call):
                sel = np.pad(pc, (0, per_call - len(pc)), mode="edge")
                c = _flat_correction(z_flat, kernel, jnp.asarray(cells), jnp.asarray(u),
                                     jnp.asarray(pair_donor[sel]), jnp.asarray(pair_recv[sel]))
                out[i, pc] = np.asarray(c)[:len(pc)]
        return jnp.asarray(out.reshape(pad_to, reps, n_recv, -1))


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for s in range(0, n, size):
        yield np.arange(s, min(s + size, n))


class Engine:
    """Models (a run's folds, their probabilities averaged) staged on a set of videos."""

    def __init__(self, models: Sequence[nnx.Module], arrays: dict, *, max_memory_mb: float = 512):
        self.staged = [FirstLayerCache(m, arrays) for m in models]
        self.max_memory_mb = max_memory_mb

    def baseline(self) -> np.ndarray:
        """Class probabilities ``(n, K)`` of the videos as they are."""
        return np.mean([s.proba() for s in self.staged], axis=0)

    def swap(self, groups: Sequence[Group], donors: np.ndarray, recv: np.ndarray, *,
             consume: Callable[[np.ndarray, np.ndarray], None],
             progress: Callable[[int, int], None] | None = None) -> None:
        """For every group ``g`` and donor row ``r`` of ``donors (R, n_recv)``: the class
        probabilities of videos ``recv`` with ``g`` swapped for ``donors[r]``'s values, in the
        frames each receiver has. Results go to ``consume(group_indices, proba
        (len(group_indices), R, n_recv, K))`` one chunk of groups at a time, so memory stays
        within about ``max_memory_mb`` whatever the number of groups."""
        staged = self.staged
        dp = data_parallel()             # (permutation, receiver) rows split over the devices
        n_recv, reps = len(recv), len(donors)
        recv_j = jax.device_put(jnp.asarray(recv), dp.everywhere)
        recv_masks = [s.mask[recv_j] for s in staged]
        missing = ~np.asarray(recv_masks[0])                  # (n_recv, T): frames each receiver lacks
        exact = not missing.any()                             # then a donor's contribution is C_g[j]
        row = max(s.row_bytes for s in staged)
        widen = 1
        if not exact:
            reaches = [s.model.reach for s in staged]
            widen = max([2 * r + 1 for r in reaches if r is not None] + [1 + reps if None in reaches else 1])
        budget = self.max_memory_mb * MB
        per_group = min(len(groups), max(1, int(budget // (2 * staged[0].n * row * widen))))
        pairs_per_call = min(per_group * reps, max(1, int(min(CALL_BYTES, budget / 8) // (n_recv * row * widen))))
        per_group = min(per_group, max(1, int(budget // (2 * n_recv * row))))  # the offsets fit too
        pairs_per_call = dp.padded(pairs_per_call)
        weights = [None if exact or s.model.reach is None else
                   jnp.asarray(comb_weights(np.asarray(m), s.model.reach)) for s, m in zip(staged, recv_masks)]
        done = 0
        for gi in _chunks(len(groups), per_group):
            pairs = np.array([(g, r) for g in range(len(gi)) for r in range(reps)])
            chunk = [groups[k] for k in gi]
            total = 0.0
            for s, recv_mask, weight in zip(staged, recv_masks, weights):
                local = weight is not None
                if local:
                    combs = s.combs(chunk, per_group)
                    contrib = jax.tree.map(lambda c: c.sum(axis=1), combs)
                else:
                    contrib = s.contributions(chunk, per_group)
                corr = None if exact or local else s.flat_corrections(chunk, per_group, donors, missing, pairs_per_call)
                offsets = _offsets(s.base, contrib, recv_j)
                parts = []
                for pc in _chunks(len(pairs), pairs_per_call):
                    sel = np.pad(pc, (0, pairs_per_call - len(pc)), mode="edge")
                    g_idx, r_idx, d_idx = dp.put(pairs[sel, 0], pairs[sel, 1], donors[pairs[sel, 1]])
                    if exact:
                        p = s.swapped(offsets, contrib, g_idx, d_idx, recv_mask)
                    elif local:
                        p = np.asarray(_swapped_local(s.graphdef, s.state, offsets, combs, weight, g_idx, d_idx,
                                                      recv_mask))
                    else:
                        p = np.asarray(_swapped_flat(s.graphdef, s.state, offsets, contrib, corr, g_idx, r_idx, d_idx,
                                                     recv_mask))
                    parts.append(np.asarray(p[:len(pc)], np.float64))
                total = total + np.concatenate(parts)
            consume(gi, (total / len(staged)).reshape(len(gi), reps, n_recv, -1))
            done += len(gi)
            if progress is not None:
                progress(done, len(groups))
