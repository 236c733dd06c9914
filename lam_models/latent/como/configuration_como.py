# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CoMo's hyperparameters: the one place their defaults are set.

hydra's ``model=como`` starts from these; config/latent/como.yaml holds only what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.latent.base import LatentConfig


@dataclass
class CoMoConfig(LatentConfig):
    """CoMo (arXiv 2505.17006): difference-fed query IDM + FDM + time-reversal contrast."""

    num_queries: int = 4        # learned queries of the IDM
    query_dim: int = 64
    num_heads: int = 4
    contrastive_weight: float = 0.0   # > 0 adds the time-reversed negative loss
    contrastive_margin: float = 0.0   # push cos(z_fwd, z_rev) below -margin
