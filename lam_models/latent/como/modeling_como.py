# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CoMo: continuous motion latents from an early temporal feature difference.

The IDM never sees F(o_{t+n}) on its own, only F(o_t) and D = F(o_{t+n}) - F(o_t),
so the cheapest thing for z to carry is the change, not the future state.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.como.configuration_como import CoMoConfig
from lam_models.latent.layers import ConvEncoder, ForwardDynamicsDecoder


class QueryIDM(nn.Module):
    """Learned queries cross-attend to [F_t ; D_t] tokens; the pooled queries give z."""

    def __init__(self, config: CoMoConfig) -> None:
        super().__init__()
        tokens = (config.image_size // 4) ** 2
        self.token_proj = nn.Sequential(  # per-token: mixes F_t and D before pooling
            nn.Linear(2 * config.width, config.query_dim), nn.GELU(),
            nn.Linear(config.query_dim, config.query_dim))
        self.position = nn.Parameter(torch.randn(1, tokens, config.query_dim) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, config.num_queries, config.query_dim) * 0.02)
        self.attention = nn.MultiheadAttention(config.query_dim, config.num_heads,
                                               batch_first=True)
        self.norm = nn.LayerNorm(config.query_dim)
        self.to_z = nn.Linear(config.num_queries * config.query_dim, config.z_dim)

    @override
    def forward(self, features_t: torch.Tensor, difference: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([features_t, difference], dim=1).flatten(2).transpose(1, 2)
        tokens = self.token_proj(tokens) + self.position
        queries = self.queries.expand(len(tokens), -1, -1)
        attended, _ = self.attention(queries, tokens, tokens, need_weights=False)
        return self.to_z(self.norm(attended + queries).flatten(1))


@register
class CoMoModel(LatentActionModel):
    """CoMo latent motion model (frame encoder F, query IDM, FDM)."""

    name = 'como'
    config_class = CoMoConfig

    def __init__(self, config: CoMoConfig) -> None:
        super().__init__(config)
        self.frame_encoder = ConvEncoder(3, config.width, stages=2)  # H/4 tokens
        self.idm = QueryIDM(config)
        self.fdm = ForwardDynamicsDecoder(config.z_dim, config.width)

    @override
    def encode(self, o_t: torch.Tensor, o_next: torch.Tensor) -> torch.Tensor:
        features_t, features_next = self.frame_encoder(
            self.normalize(torch.cat([o_t, o_next]))).chunk(2)
        return self.idm(features_t, features_next - features_t)

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self.encode(window[:, -2], window[:, -1])

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        o_t, o_next = batch['window'][:, -2], batch['window'][:, -1]
        z = self.encode(o_t, o_next)
        prediction = self.fdm(self.normalize(o_t), z)
        reconstruction = F.mse_loss(prediction, self.normalize(o_next))
        loss = reconstruction
        metrics = {'reconstruction': reconstruction.item()}
        if self.config.contrastive_weight > 0:
            z_reversed = self.encode(o_next, o_t)
            cosine = F.cosine_similarity(z, z_reversed, dim=-1)
            contrast = F.relu(cosine + self.config.contrastive_margin).mean()
            loss = loss + self.config.contrastive_weight * contrast
            metrics['reverse_cosine'] = cosine.mean().item()
        return loss, metrics
