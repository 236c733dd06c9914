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
    """Discrete latent actions (LAPA / Genie style): IDM -> nearest of a few codes -> FDM."""

    codebook_size: int = 8
    commitment_weight: float = 0.25
