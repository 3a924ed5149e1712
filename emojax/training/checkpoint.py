"""Weights on disk: msgpack via ``flax.serialization`` (runs no code on load), written
atomically, every array's shape and dtype checked against the model it is loaded into."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

from ..fileio import atomic_write_bytes
from ..errors import CheckpointError

FORMAT = "emojax-checkpoint-1"


def _to_host(tree: Any) -> Any:
    """Arrays to numpy; PRNG keys to their raw data (msgpack cannot hold typed keys)."""
    def leaf(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return {"__prng_key__": np.asarray(jax.random.key_data(x))}
        return np.asarray(x)
    return jax.tree.map(leaf, tree)


def _is_key(x) -> bool:
    return isinstance(x, dict) and set(x) == {"__prng_key__"}


def pure_state(node: Any) -> dict:
    """The full state of a module or optimizer as a nested dict of numpy arrays."""
    return _to_host(nnx.to_pure_dict(nnx.state(node)))


def _check(template: Any, loaded: Any, path: str, where: str) -> None:
    if isinstance(template, dict):
        if not isinstance(loaded, dict) or set(map(str, template)) != set(map(str, loaded)):
            raise CheckpointError(f"{where}: the checkpoint's entries at '{path or '/'}' do not match the model "
                                  "(a different architecture or preset?)")
        for k in template:
            _check(template[k], loaded[k if k in loaded else str(k)], f"{path}/{k}", where)
        return
    t = template if isinstance(template, jax.ShapeDtypeStruct) else np.asarray(template)
    x = np.asarray(loaded) if not isinstance(loaded, dict) else None
    if x is None or tuple(t.shape) != x.shape or np.dtype(t.dtype) != x.dtype:
        got = "a group of entries" if x is None else f"{x.dtype}{list(x.shape)}"
        raise CheckpointError(f"{where}: '{path}' is {got} in the checkpoint but the model expects "
                              f"{np.dtype(t.dtype)}{list(t.shape)} (a different architecture, preset or input size?)")


def _restore_keys(tree: Any) -> Any:
    if _is_key(tree):
        return jax.random.wrap_key_data(tree["__prng_key__"])
    if isinstance(tree, dict):
        return {k: _restore_keys(v) for k, v in tree.items()}
    return tree


def _intkeys(tree: Any) -> Any:
    """msgpack turns integer dict keys (layer lists) into strings; map them back."""
    if isinstance(tree, dict) and not _is_key(tree):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): _intkeys(v) for k, v in tree.items()}
    return tree


def save(path: str | os.PathLike, nodes: dict[str, Any], meta: dict | None = None) -> None:
    """Write the states of ``nodes`` (name -> module / optimizer / nested dict of arrays) and
    JSON-able ``meta`` to ``path`` atomically."""
    payload = {"format": FORMAT, "meta": meta or {},
               "nodes": {k: (_to_host(v) if isinstance(v, dict) else pure_state(v)) for k, v in nodes.items()}}
    atomic_write_bytes(Path(path), serialization.msgpack_serialize(payload))


def read(path: str | os.PathLike) -> dict:
    """The raw checkpoint (``format``, ``meta``, ``nodes``); ``CheckpointError`` if unreadable."""
    p = Path(path)
    try:
        payload = serialization.msgpack_restore(p.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{p}: no such checkpoint") from None
    except Exception as e:  # truncated or not msgpack at all
        raise CheckpointError(f"{p}: not a readable emojax checkpoint (truncated or corrupt: {e}); "
                              "delete it and train again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not an emojax checkpoint (format {payload.get('format') if isinstance(payload, dict) else None!r})")
    payload["nodes"] = _intkeys(payload["nodes"])
    return payload


def assign(node: Any, pure: dict) -> None:
    """Set a module's state from a nested dict of arrays (as :func:`pure_state` gives)."""
    state = nnx.state(node)
    nnx.replace_by_pure_dict(state, _restore_keys(pure))
    nnx.update(node, state)


def _abstract_template(tree: Any) -> Any:
    """What :func:`pure_state` would write for a state of abstract arrays (shapes, no values)."""
    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return {"__prng_key__": jax.ShapeDtypeStruct(tuple(x.shape) + (2,), np.uint32)}
        return x
    return jax.tree.map(leaf, tree)


def _on_device(tree: Any) -> Any:
    if _is_key(tree):
        return jax.random.wrap_key_data(jax.numpy.asarray(tree["__prng_key__"]))
    if isinstance(tree, dict):
        return {k: _on_device(v) for k, v in tree.items()}
    return jax.numpy.asarray(tree)


def _read_nodes(path: str | os.PathLike, names) -> tuple[dict, dict]:
    """The checkpoint and its stored states, refused unless it holds every one of ``names``."""
    payload = read(path)
    missing = set(names) - set(payload["nodes"])
    if missing:
        raise CheckpointError(f"{path}: the checkpoint has no {sorted(missing)}")
    return payload, payload["nodes"]


def restore(path: str | os.PathLike, abstract: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """Modules made from the states in ``path``: ``abstract`` maps each saved name to a module of
    the same structure with no values (``nnx.eval_shape(lambda: Model(...))``: nothing is
    initialised only to be overwritten). Every shape and dtype is checked first. Returns the
    modules and the whole checkpoint (``meta``)."""
    payload, stored = _read_nodes(path, abstract)
    out = {}
    for name, node in abstract.items():
        graphdef, state = nnx.split(node)
        _check(_abstract_template(nnx.to_pure_dict(state)), stored[name], "", f"{path} [{name}]")
        nnx.replace_by_pure_dict(state, _on_device(stored[name]))
        out[name] = nnx.merge(graphdef, state)
    return out, payload


def load_into(path: str | os.PathLike, nodes: dict[str, Any]) -> dict:
    """Load the states in ``path`` into ``nodes`` (the same names as when saved), checking every
    shape and dtype first; nothing is changed unless all match. Returns the whole checkpoint
    (``meta``, and ``nodes`` for any extra entries)."""
    payload, stored = _read_nodes(path, nodes)
    states = {}
    for name, node in nodes.items():
        state = nnx.state(node)
        template = _to_host(nnx.to_pure_dict(state))
        _check(template, stored[name], "", f"{path} [{name}]")
        nnx.replace_by_pure_dict(state, _restore_keys(stored[name]))
        states[name] = state
    for name, node in nodes.items():
        nnx.update(node, states[name])
    return payload
