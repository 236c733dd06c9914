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

    context_frames: int = 2            # the paper's context_len: o_{t-n}, o_t
    labelled_batch_size: int = 32      # labelled robot windows per step (paper: 128, CPU: 32)
    action_decoder_weight: float = 0.01  # the paper's (images); toy world, 300 steps: 0.01
    #                                     -> probe 0.38, 0.1 -> 0.43
    action_decoder_hidden: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labelled_batch_size < 1:
            raise ValueError(f'CLAMConfig.labelled_batch_size must be >= 1, '
                             f'got {self.labelled_batch_size}')
