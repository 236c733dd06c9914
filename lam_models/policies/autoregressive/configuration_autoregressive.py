# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The autoregressive policy's hyperparameters: the one place their defaults are set.

hydra's ``policy=autoregressive`` starts from these; config/policy/autoregressive.yaml
holds only what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.policies.base import PolicyConfig


@dataclass
class AutoregressiveConfig(PolicyConfig):
    """A causal transformer over observation and action tokens, continuous actions."""

    dim: int = 128                  # token width
    depth: int = 4                  # transformer blocks
    num_heads: int = 4
    mlp_ratio: int = 4
    input_noise: float = 0.1        # training: Gaussian noise (normalized units) on the fed-back
    #   actions/latents, so rollouts that drift from the demos are inputs it has seen

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        for key in ('dim', 'depth', 'num_heads', 'mlp_ratio'):
            if getattr(self, key) < 1:
                raise ValueError(f'{name}.{key} must be >= 1, got {getattr(self, key)}')
        if self.dim % self.num_heads:
            raise ValueError(f'{name}.dim ({self.dim}) must be divisible by num_heads '
                             f'({self.num_heads})')
        if self.input_noise < 0:
            raise ValueError(f'{name}.input_noise must be >= 0, got {self.input_noise}')
