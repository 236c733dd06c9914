# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StaMo's hyperparameters: the one place their defaults are set.

hydra's ``model=stamo`` starts from these; config/latent/stamo.yaml holds only what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.latent.base import LatentConfig


@dataclass
class StaMoConfig(LatentConfig):
    """StaMo (arXiv 2510.05057): two-token state + flow-matching DiT decoder; z = s' - s."""

    num_state_tokens: int = 2   # the paper's two tokens
    token_dim: int = 32         # wide enough to carry a state; z_dim = num_state_tokens * token_dim
    z_dim: int = 64
    patch_size: int = 8
    dit_dim: int = 128
    dit_depth: int = 3
    dit_heads: int = 4
    sample_steps: int = 12      # Euler steps when decoding an image

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.z_dim != self.num_state_tokens * self.token_dim:
            raise ValueError(f'StaMoConfig.z_dim={self.z_dim} must equal num_state_tokens * '
                             f'token_dim = {self.num_state_tokens} * {self.token_dim}: set '
                             'token_dim (and z_dim to match) to change the state width')
        if self.image_size % self.patch_size:
            raise ValueError(f'StaMoConfig.image_size={self.image_size} must be divisible by '
                             f'patch_size={self.patch_size}')
