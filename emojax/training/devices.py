"""Data parallelism over every visible JAX device: a one-axis mesh over the batch, parameters
and optimizer state replicated, each batch split by rows. The same code runs on one CPU (a mesh
of one), several GPUs, or a TPU host; XLA inserts the gradient all-reduce.

Batches keep their real rows (the run's batch size) and are padded with masked rows (weight 0,
mask False) up to a multiple of the device count, so training sees exactly the same examples
per step whatever the number of devices. Several hosts: start every host's process with
``jax.distributed.initialize()`` first; each computes the same batches and feeds its own slice
of rows (``jax.make_array_from_process_local_data``). That path is not tested here.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class DataParallel:
    """Rows of a batch over ``devices`` (default: every device JAX sees); state replicated."""

    def __init__(self, devices=None):
        self.devices = list(devices if devices is not None else jax.devices())
        self.mesh = Mesh(np.array(self.devices), ("batch",))
        self.rows = NamedSharding(self.mesh, PartitionSpec("batch"))
        self.everywhere = NamedSharding(self.mesh, PartitionSpec())

    @property
    def n(self) -> int:
        return len(self.devices)

    def padded(self, size: int) -> int:
        """``size`` rounded up to a multiple of the device count."""
        return -(-size // self.n) * self.n

    def pad(self, idx: np.ndarray) -> np.ndarray:
        """A batch of row indices padded with -1 (masked rows) to a multiple of the devices."""
        return np.pad(idx, (0, self.padded(len(idx)) - len(idx)), constant_values=-1)

    def put(self, *arrays: np.ndarray) -> tuple:
        """Arrays whose first axis is the batch, split over the devices."""
        if jax.process_count() == 1:
            return tuple(jax.device_put(a, self.rows) for a in arrays)
        share, at = len(arrays[0]) // jax.process_count(), jax.process_index()
        return tuple(jax.make_array_from_process_local_data(self.rows, a[at * share:(at + 1) * share], a.shape)
                     for a in arrays)

    def replicate(self, *nodes) -> None:
        """Put every array of these modules / optimizers on every device, in place."""
        for node in nodes:
            nnx.update(node, jax.device_put(nnx.state(node), self.everywhere))


@lru_cache(maxsize=1)
def data_parallel() -> DataParallel:
    """Every visible device, made once per process."""
    return DataParallel()
