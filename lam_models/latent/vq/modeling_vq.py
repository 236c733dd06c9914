# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Discrete baseline: the IDM output snaps to one of ``codebook_size`` learned codes.

``encode`` returns the chosen code's vector so probes and labels treat it like
any other z; ``encode_indices`` gives the token ids.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.layers import ForwardDynamicsDecoder, StackedFrameIDM
from lam_models.latent.vq.configuration_vq import VQConfig


@register
class VQModel(LatentActionModel):
    """VQ-VAE latent action model with a small codebook."""

    name = 'vq'
    config_class = VQConfig

    def __init__(self, config: VQConfig) -> None:
        super().__init__(config)
        self.idm = StackedFrameIDM(self.window_size, config.width, config.image_size,
                                   config.z_dim)
        self.codebook = nn.Embedding(config.codebook_size, config.z_dim)
        nn.init.uniform_(self.codebook.weight, -1.0, 1.0)
        self.fdm = ForwardDynamicsDecoder(config.z_dim, config.width)

    def _quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.cdist(z_e, self.codebook.weight).argmin(dim=1)
        return self.codebook(indices), indices

    def encode_indices(self, window: torch.Tensor) -> torch.Tensor:
        """(B, K+1, 3, H, W) -> code ids (B,)."""
        return self._quantize(self.idm(self.normalize(window)))[1]

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self._quantize(self.idm(self.normalize(window)))[0]

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        window = batch['window']
        z_e = self.idm(self.normalize(window))
        z_q, indices = self._quantize(z_e)
        codebook_loss = F.mse_loss(z_q, z_e.detach())
        commitment = F.mse_loss(z_e, z_q.detach())
        z_straight = z_e + (z_q - z_e).detach()
        prediction = self.fdm(self.normalize(window[:, -2]), z_straight)
        reconstruction = F.mse_loss(prediction, self.normalize(window[:, -1]))
        loss = reconstruction + codebook_loss + self.config.commitment_weight * commitment
        used = torch.bincount(indices, minlength=self.config.codebook_size).gt(0).sum()
        return loss, {'reconstruction': reconstruction.item(), 'codes_used': float(used)}
