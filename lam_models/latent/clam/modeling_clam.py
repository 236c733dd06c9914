# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CLAM: continuous latent actions grounded by a small action-labelled subset.

The IDM sees ``context_frames`` real frames up to o_t plus o_{t+n} (never a
faked context: ``encode`` needs the previous frames, see ``pair_window``). The
action decoder is trained jointly on a separately sampled batch of labelled
robot windows every step (``labelled_window``/``labelled_action``), and its
gradient flows into the IDM, anchoring z to the robot's action space while the
main batch (robot and human video, no actions) trains reconstruction.
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

    @property
    @override
    def labelled_batch_size(self) -> int:
        return self.config.labelled_batch_size

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self.idm(self.normalize(window))

    def decode_action(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> robot action in the dataset's units."""
        return self.action_decoder(z) * self.action_std + self.action_mean

    def action_loss(self, batch: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """MSE of decoded vs true (standardized) actions on the labelled batch.

        Without labelled rows (human-only data) the decoder still runs, at weight 0,
        so DDP sees every parameter used.
        """
        window = batch.get('labelled_window')
        if window is None or len(window) == 0:
            return self.action_decoder(z).sum() * 0.0
        target = (batch['labelled_action'] - self.action_mean) / self.action_std
        return F.mse_loss(self.action_decoder(self.encode_window(window)), target)

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        window = batch['window']
        z = self.encode_window(window)
        prediction = self.fdm(self.normalize(window[:, -2]), z)
        reconstruction = F.mse_loss(prediction, self.normalize(window[:, -1]))
        action_loss = self.action_loss(batch, z)
        loss = reconstruction + self.config.action_decoder_weight * action_loss
        return loss, {'reconstruction': reconstruction.item(), 'action': action_loss.item()}
