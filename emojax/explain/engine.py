"""The engine behind every permutation explanation: a model's outputs when one group of input
values of each receiving video is swapped for a donor video's, for many groups and donors at
once, reusing the first layer (one idea; over 300 lines because the plan, the contributions and
their gathering belong together).

A model is ``rest(first(z))`` with ``first`` affine in the standardised inputs ``z``
(``emojax.models.common.Staged``). Swapping group ``g`` of video ``i`` for video ``j``'s changes
the first layer's pre-activation from ``P[i]`` to ``P[i] - C_g[i] + C_g[j]``, where ``C_g`` is
``g``'s own contribution (the first layer without bias applied to ``z`` restricted to ``g``).
So ``C_g`` is computed once per group, and every permutation only gathers rows of it: no
permutation pays the first layer again. A missing value (a frame without a face) travels with
its video: it is the standardised 0 wherever it goes.

Validity travels with a group as far as the group holds it (``Group.cover``): where a group
holds every channel of a modality at a frame, the donor's validity there comes with its values
(a donor without a pulse gives none, and the layers after the first pool over the frames the
pair's mask says); where it holds only some channels, the receiver's validity stays and a
donor's values land only in frames the receiver has (its missing frames stay the standardised
0). The donor's contribution is then ``C_g[j] - C_g(z_j * L_i)``, ``L_i`` the cells of ``g`` it
does not cover in frames receiver ``i`` lacks; when there are none it is ``C_g[j]``. Otherwise:

- a first layer of finite ``reach`` r (a convolution; r = 0 for a per-frame layer) reads each
  input frame from at most 2r + 1 output frames, so ``g``'s uncovered cells of each modality
  some receiver lacks frames of are computed on K = 2r + 1 combs of frames (every K-th frame,
  from each offset); for each output frame each comb holds exactly one of the input frames it
  reads, and the correction is the combs' outputs weighted by whether the receiver lacks that
  frame of that modality;
- a flatten layer (reach None) gets the donor's values in those cells subtracted, from the
  group's own columns in those cells only.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..features.modalities import MODALITIES
from ..models import EarlyFusion
from ..models.common import valid
from ..training.devices import data_parallel
from ..training.loop import Split
from .groups import Group

MB = 1 << 20
#: activations per call of the layers after the first: batches of about this size stay in cache
#: and ran fastest on 2 cores (bigger ones were up to 1.5x slower)
CALL_BYTES = 16 * MB


@partial(jax.jit, static_argnums=0)
def _stage_one(graphdef, state, inputs, mask):
    model = nnx.merge(graphdef, state)
    z = model.standardise(inputs, valid(mask))
    return z, model.first(z)


@partial(jax.jit, static_argnums=0)
def _first(graphdef, state, z):
    return nnx.merge(graphdef, state).first(z)


@partial(jax.jit, static_argnums=0)
def _masked_contributions(graphdef, state, z, bias, masks):
    """``C_g`` for a chunk of groups by masking ``z`` (any affine first layer); ``masks``: one
    ``(G, T, C_m)`` per modality."""
    model = nnx.merge(graphdef, state)

    def one(*ms):
        return jax.tree.map(jnp.subtract, model.first(tuple(None if v is None else v * m for v, m in zip(z, ms))),
                            bias)

    return jax.vmap(one)(*masks)


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


@jax.jit
def _pair_masks(cover, g_idx, donors, mask_all, recv_mask):
    """``(P * n_recv, T, M)``: each receiver's mask with group ``g_idx[p]`` taken from video
    ``donors[p]``: the donor's validity where the group covers the modality, the receiver's
    elsewhere."""
    p, n = donors.shape
    m = jnp.where(cover[g_idx][:, None], mask_all[donors], recv_mask[None])
    return m.reshape(p * n, *m.shape[2:])


def _proba(model, pre, masks, p, n):
    pre = jax.tree.map(lambda x: x.reshape(p * n, *x.shape[2:]), pre)
    return jax.nn.softmax(model.rest(pre, masks), axis=-1).reshape(p, n, -1)


@partial(jax.jit, static_argnums=0)
def _swapped_flat(graphdef, state, offsets, contrib, corr, g_idx, r_idx, donors, masks):
    """``_swapped`` for a flatten first layer with the donor's values in the receivers'
    missing uncovered cells taken out."""
    p, n = donors.shape
    pre = jax.tree.map(lambda o, c: o[g_idx] + c[g_idx[:, None], donors] - corr[g_idx, r_idx],
                       offsets, contrib)
    return _proba(nnx.merge(graphdef, state), pre, masks, p, n)


@partial(jax.jit, static_argnums=0)
def _swapped_local(graphdef, state, offsets, contrib, combs, lacks, g_idx, donors, masks):
    """``_swapped`` for a first layer of finite reach: from the donor's whole contribution, its
    comb outputs of the group's uncovered cells of each modality (``combs``: one tree per
    modality, leaves ``(G, K, N, T, H)``) weighted by whether the receiver lacks each comb's
    frame of that modality (``lacks``: one ``(n_recv, K, T)`` per modality) are taken out."""
    p, n = donors.shape

    def one(o, c, *cs):
        out = o[g_idx] + c[g_idx[:, None], donors]
        for cm, w in zip(cs, lacks):
            out = out - sum(cm[g_idx[:, None], q, donors] * w[None, :, q, :, None] for q in range(w.shape[1]))
        return out

    pre = jax.tree.map(one, offsets, contrib, *combs)
    return _proba(nnx.merge(graphdef, state), pre, masks, p, n)


def comb_weights(recv_mask: np.ndarray, reach: int) -> np.ndarray:
    """``(n_recv, K, T)``: for receiver i, comb q and output frame t, ``recv_mask`` (e.g. "the
    receiver lacks it") at the one input frame of comb q that frame t reads (K = 2 reach + 1)."""
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
def _swapped(graphdef, state, offsets, contrib, g_idx, donors, masks):
    """Class probabilities ``(P, n_recv, K)`` of the receivers with group ``g_idx[p]`` taken
    from videos ``donors[p]`` (``masks``: :func:`_pair_masks`)."""
    p, n = donors.shape
    # every (pair, receiver) is one row of a single batch: the layers after the first run as
    # large matmuls rather than a vmap of small ones (rest treats rows independently)
    pre = jax.tree.map(lambda o, c: o[g_idx] + c[g_idx[:, None], donors], offsets, contrib)
    return _proba(nnx.merge(graphdef, state), pre, masks, p, n)


class FirstLayerCache:
    """One model on one set of videos: standardised inputs and first-layer outputs, computed once."""

    def __init__(self, model: nnx.Module, arrays: dict):
        model.eval()
        dp = data_parallel()
        dp.replicate(model)              # on every device: all that is derived from it is too
        self.model = model
        self.graphdef, self.state = nnx.split(model)
        split = Split.of(arrays)
        inputs = tuple(jax.device_put(jnp.asarray(x), dp.everywhere) for x in split.inputs)
        mask = jax.device_put(jnp.asarray(split.mask), dp.everywhere)
        self.mask = mask                 # (N, T, M)
        self.z, self.base = _stage_one(self.graphdef, self.state, inputs, mask)
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
            self._flat = (jnp.concatenate([v for v in self.z if v is not None], axis=-1).reshape(self.n, -1),
                          self.model.fc1.kernel[...])
        z_flat, kernel = self._flat
        member = np.concatenate(g.parts, axis=1).reshape(-1)
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
        masks = tuple(np.zeros((pad_to, *p.shape), np.float32) for p in groups[0].parts)
        for k, g in enumerate(groups):
            for m, p in zip(masks, g.parts):
                m[k] = p
        return _masked_contributions(self.graphdef, self.state, self.z, self.bias, masks)

    def combs(self, groups: Sequence[Group], pad_to: int, modality: int) -> object:
        """The contribution of each group's cells of ``modality`` that it does not cover, on
        each of the K = 2 reach + 1 combs of frames: ``(pad_to, K, n, T, ...)``."""
        k = 2 * self.model.reach + 1
        t = groups[0].rppg.shape[0]
        comb = (np.arange(t)[None, :] % k) == np.arange(k)[:, None]             # (K, T)
        masks = tuple(np.zeros((pad_to, k, *p.shape), np.float32) for p in groups[0].parts)
        for i, g in enumerate(groups):
            unc = ~g.cover[:, modality]
            masks[modality][i] = (g.parts[modality] & unc[:, None])[None] * comb[..., None]
        out = _masked_contributions(self.graphdef, self.state, self.z, self.bias,
                                    tuple(m.reshape(pad_to * k, *m.shape[2:]) for m in masks))
        return jax.tree.map(lambda c: c.reshape(pad_to, k, *c.shape[1:]), out)

    def flat_corrections(self, groups: Sequence[Group], pad_to: int, donors: np.ndarray, missing: np.ndarray,
                         pairs_per_call: int) -> jax.Array:
        """``(pad_to, R, n_recv, H)``: for each group, repeat and receiver, what the donor's
        values in the group's uncovered cells of the receiver's missing frames (``missing
        (n_recv, T, M)``) add to the flatten layer."""
        if self._flat is None:
            self._flat = (jnp.concatenate([v for v in self.z if v is not None], axis=-1).reshape(self.n, -1),
                          self.model.fc1.kernel[...])
        z_flat, kernel = self._flat
        reps, n_recv = donors.shape
        of_column = np.concatenate([np.full(p.shape[1], i) for i, p in enumerate(groups[0].parts)])  # each column's
        width = len(of_column)                                                                        # modality
        lacked = missing.any(axis=0)[:, of_column]                              # (T, width)
        pair_donor = donors.reshape(-1)
        pair_recv = np.tile(np.arange(n_recv), reps)
        out = np.zeros((pad_to, reps * n_recv, kernel.shape[1]), np.float32)
        for i, g in enumerate(groups):
            member = np.concatenate(g.parts, axis=1) & ~g.cover[:, of_column] & lacked
            cells = np.flatnonzero(member.reshape(-1))
            if not len(cells):
                continue
            size = max(64, 1 << (len(cells) - 1).bit_length())     # few shapes, few compilations
            u = np.zeros((n_recv, size), np.float32)
            u[:, :len(cells)] = missing[:, cells // width, of_column[cells % width]]
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
        recv_mask = staged[0].mask[recv_j]                    # (n_recv, T, M): the same videos for every model
        missing = ~np.asarray(recv_mask)                      # frames and modalities each receiver lacks
        lacked = missing.any(axis=0)                          # (T, M)
        cover = np.stack([g.cover for g in groups])           # (G, T, M)
        groups_lacking = [[bool((g.parts[mod].any(axis=1) & ~g.cover[:, mod]
                                 & lacked[:, mod]).any()) for mod in range(len(MODALITIES))] for g in groups]
        row = max(s.row_bytes for s in staged)
        widen = 1
        if lacked.any():
            reaches = [s.model.reach for s in staged]
            widen = max([1 + int(lacked.any(axis=0).sum()) * (2 * r + 1) for r in reaches if r is not None]
                        + [1 + reps if None in reaches else 1])
        budget = self.max_memory_mb * MB
        per_group = min(len(groups), max(1, int(budget // (2 * staged[0].n * row * widen))))
        pairs_per_call = min(per_group * reps, max(1, int(min(CALL_BYTES, budget / 8) // (n_recv * row * widen))))
        per_group = min(per_group, max(1, int(budget // (2 * n_recv * row))))  # the offsets fit too
        pairs_per_call = dp.padded(pairs_per_call)
        lacks = {(r, mod): jnp.asarray(comb_weights(missing[..., mod], r))
                 for r in {s.model.reach for s in staged if s.model.reach is not None}
                 for mod in range(len(MODALITIES)) if lacked[:, mod].any()}
        done = 0
        for gi in _chunks(len(groups), per_group):
            pairs = np.array([(g, r) for g in range(len(gi)) for r in range(reps)])
            chunk = [groups[k] for k in gi]
            chunk_cover = jnp.asarray(np.pad(cover[gi], ((0, per_group - len(gi)), (0, 0), (0, 0))))
            need = [mod for mod in range(len(MODALITIES)) if any(groups_lacking[k][mod] for k in gi)]
            total = 0.0
            for s in staged:
                contrib = s.contributions(chunk, per_group)
                local = bool(need) and s.model.reach is not None
                combs = tuple(s.combs(chunk, per_group, mod) for mod in need) if local else ()
                weights = tuple(lacks[s.model.reach, mod] for mod in need) if local else ()
                corr = (s.flat_corrections(chunk, per_group, donors, missing, pairs_per_call)
                        if need and not local else None)
                offsets = _offsets(s.base, contrib, recv_j)
                parts = []
                for pc in _chunks(len(pairs), pairs_per_call):
                    sel = np.pad(pc, (0, pairs_per_call - len(pc)), mode="edge")
                    g_idx, r_idx, d_idx = dp.put(pairs[sel, 0], pairs[sel, 1], donors[pairs[sel, 1]])
                    masks = _pair_masks(chunk_cover, g_idx, d_idx, s.mask, recv_mask)
                    if not need:
                        p = _swapped(s.graphdef, s.state, offsets, contrib, g_idx, d_idx, masks)
                    elif local:
                        p = _swapped_local(s.graphdef, s.state, offsets, contrib, combs, weights, g_idx, d_idx, masks)
                    else:
                        p = _swapped_flat(s.graphdef, s.state, offsets, contrib, corr, g_idx, r_idx, d_idx, masks)
                    parts.append(np.asarray(p[:len(pc)], np.float64))
                total = total + np.concatenate(parts)
            consume(gi, (total / len(staged)).reshape(len(gi), reps, n_recv, -1))
            done += len(gi)
            if progress is not None:
                progress(done, len(groups))
