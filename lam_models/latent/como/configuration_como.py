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
    """CoMo (arXiv 2505.17006): difference-fed query IDM + FDM + temporal contrast (InfoNCE)."""

    z_dim: int = 128                  # the paper's latent width; every layer follows it
    num_queries: int = 4              # learned queries of the IDM
    query_dim: int = 64
    num_heads: int = 4
    contrastive_weight: float = 0.001  # InfoNCE weight, 0: off. Not in the paper; toy-world
    #   sweep (z 128, 300 steps, translation probe): 0.1 -> 0.81, 0.01 -> 0.36, 0.001 -> 0.23,
    #   off -> 0.30: larger weights let in-batch negatives pull the state of o_t into z
    contrastive_jitter: int = 1       # delta: the positive pair is (t, t+n+d), 0 < |d| <= delta
    contrastive_temperature: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.contrastive_jitter < 1:
            raise ValueError(f'CoMoConfig.contrastive_jitter must be >= 1, '
                             f'got {self.contrastive_jitter}')
        if self.contrastive_temperature <= 0:
            raise ValueError(f'CoMoConfig.contrastive_temperature must be > 0, '
                             f'got {self.contrastive_temperature}')
