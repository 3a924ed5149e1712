"""Explanations of the models' decisions: permutation importance by modality, channel, face
region, time window, class and video (vectorised, see ``engine``), and integrated gradients."""

from .groups import GROUPINGS, REGIONS, Group, Layout, ready_groups, resolve
from .pfi import (BlockView, FlatView, block_view, class_importance, flat_view, permutation_importance,
                  permutation_plan, permuted_predictions)

__all__ = ["permutation_importance", "permuted_predictions", "class_importance", "permutation_plan",
           "flat_view", "FlatView", "block_view", "BlockView", "Group", "Layout", "GROUPINGS", "REGIONS",
           "ready_groups", "resolve"]
