# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CLAM: continuous latent actions grounded by a small action-labelled subset.

The action decoder is trained jointly and its gradient flows into the IDM,
anchoring z to the robot's action space without dominating reconstruction.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.clam.configuration_clam import CLAMConfig
from lam_models.latent.layers import ForwardDynamicsDecoder, StackedFrameIDM


@register
class CLAMModel(LatentActionModel):
    """CLAM latent action model (context IDM, FDM, action decoder)."""

    name = 'clam'
    config_class = CLAMConfig

    def __init__(self, config: CLAMConfig) -> None:
        super().__init__(config)
        self.idm = StackedFrameIDM(self.window_size, config.width, config.image_size,
                                   config.z_dim)
        self.fdm = ForwardDynamicsDecoder(config.z_dim, config.width)
        self.action_decoder = nn.Sequential(
            nn.Linear(config.z_dim, config.action_decoder_hidden), nn.SiLU(),
            nn.Linear(config.action_decoder_hidden, config.action_dim))

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self.idm(self.normalize(window))

    def decode_action(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> robot action in the dataset's units."""
        return self.action_decoder(z) * self.action_std + self.action_mean

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        window = batch['window']
        z = self.encode_window(window)
        prediction = self.fdm(self.normalize(window[:, -2]), z)
        reconstruction = F.mse_loss(prediction, self.normalize(window[:, -1]))
        # Every row runs through the decoder (so DDP sees all parameters used); only
        # labelled rows contribute.
        target = (batch['action'] - self.action_mean) / self.action_std
        per_row = (self.action_decoder(z) - target).pow(2).mean(dim=1)
        mask = batch['has_action'].float()
        action_loss = (per_row * mask).sum() / mask.sum().clamp(min=1.0)
        loss = reconstruction + self.config.action_decoder_weight * action_loss
        return loss, {'reconstruction': reconstruction.item(), 'action': action_loss.item()}
