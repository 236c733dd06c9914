# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CLAM's hyperparameters: the one place their defaults are set.

hydra's ``model=clam`` starts from these; config/latent/clam.yaml holds only what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.latent.base import LatentConfig


@dataclass
class CLAMConfig(LatentConfig):
    """CLAM (arXiv 2505.04999): context IDM + FDM + jointly trained action decoder."""

    context_frames: int = 2
    action_decoder_weight: float = 0.01   # small for image observations
    action_decoder_hidden: int = 128
