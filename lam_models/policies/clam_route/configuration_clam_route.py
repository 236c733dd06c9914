# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The CLAM route's hyperparameters: the one place their defaults are set.

hydra's ``policy=clam_route`` starts from these; config/policy/clam_route.yaml holds only
what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.policies.base import PolicyConfig


@dataclass
class ClamRouteConfig(PolicyConfig):
    """Latent policy pi(o) -> z on every row + action decoder z -> a on robot rows."""

    latent_dim: int = 8             # Z: needs pseudo-actions (the trainer sets it from data)
    obs_dim: int = 128              # observation token width (image + state tokens)
    hidden: int = 256               # latent policy head and decoder MLP width

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.latent_dim < 1:
            raise ValueError(f'{name}.latent_dim must be >= 1: the CLAM route acts through '
                             f'pseudo-actions, got {self.latent_dim}')
        for key in ('obs_dim', 'hidden'):
            if getattr(self, key) < 1:
                raise ValueError(f'{name}.{key} must be >= 1, got {getattr(self, key)}')
