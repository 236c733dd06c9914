# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The VQ baseline's hyperparameters: the one place their defaults are set.

hydra's ``model=vq`` starts from these; config/latent/vq.yaml holds only what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.latent.base import LatentConfig


@dataclass
class VQConfig(LatentConfig):
    """Discrete latent actions (LAPA / Genie style): IDM -> tokens, each a nearest code -> FDM."""

    z_dim: int = 32              # num_tokens codes of z_dim / num_tokens numbers each
    num_tokens: int = 4          # LAPA: 4 tokens from 8 codes (8^4 latent actions)
    codebook_size: int = 8
    commitment_weight: float = 0.25
    kmeans_iterations: int = 10  # k-means on the first batch's encoder outputs seeds the codebook
    dead_code_steps: int = 20    # a code unused this many steps restarts at an encoder output

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.z_dim % self.num_tokens:
            raise ValueError(f'VQConfig.z_dim={self.z_dim} must be divisible by '
                             f'num_tokens={self.num_tokens}')
        for name in ('num_tokens', 'codebook_size'):
            if getattr(self, name) < 1:
                raise ValueError(f'VQConfig.{name} must be >= 1, got {getattr(self, name)}')
