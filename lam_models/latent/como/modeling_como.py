# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""CoMo: continuous motion latents from an early temporal feature difference.

The IDM never sees F(o_{t+n}) on its own, only F(o_t) and D = F(o_{t+n}) - F(o_t),
so the cheapest thing for z to carry is the change, not the future state.
Temporal contrast (InfoNCE) pulls z(o_t, o_{t+n}) towards the latent of a
slightly jittered pair z(o_t, o_{t+n+d}) of the same clip and away from both
time-reversed pairs (and the other rows of the batch), so z must say which way
things moved.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.como.configuration_como import CoMoConfig
from lam_models.latent.layers import ConvEncoder, ForwardDynamicsDecoder


def temporal_infonce(anchor: torch.Tensor, positive: torch.Tensor,
                     reversed_latents: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """InfoNCE over cosine similarities: row i's positive is ``positive[i]``.

    Negatives are every other row's positive (in-batch) and row i's own
    time-reversed latents, the hard negatives that only the direction of motion separates.
    """
    anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    in_batch = anchor @ positive.T                                   # (B, B), diagonal: positives
    reversed_similarity = torch.stack(
        [(anchor * F.normalize(r, dim=-1)).sum(-1) for r in reversed_latents], dim=1)
    logits = torch.cat([in_batch, reversed_similarity], dim=1) / temperature
    return F.cross_entropy(logits, torch.arange(len(anchor), device=anchor.device))


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
        # H/4 tokens from one conv on 4x4 blocks; the token MLP mixes F_t and D further
        self.frame_encoder = ConvEncoder(3, config.width, stages=2, refine=False)
        self.idm = QueryIDM(config)
        self.fdm = ForwardDynamicsDecoder(config.z_dim, config.width)

    @property
    @override
    def jitter_frames(self) -> int:
        return self.config.contrastive_jitter if self.config.contrastive_weight > 0 else 0

    def features(self, *frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """F of several (B,3,H,W) [0,1] frame batches, in one encoder pass."""
        return self.frame_encoder(self.normalize(torch.cat(frames))).chunk(len(frames))

    def motion(self, features_from: torch.Tensor, features_to: torch.Tensor) -> torch.Tensor:
        """The latent z of the change from one frame's features to another's."""
        return self.idm(features_from, features_to - features_from)

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self.motion(*self.features(window[:, -2], window[:, -1]))

    def encode_sequence(self, frames: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``encode_window(frames[indices])`` with F computed once per frame.

        Labelling a video puts every frame in two pairs (as o_t and as o_{t+n}); F
        sees one frame at a time, so each is encoded once (``lam_models.latent.labeling``).
        """
        features = self.features(frames)[0]
        return self.motion(features[indices[:, -2]], features[indices[:, -1]])

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        o_t, o_next = batch['window'][:, -2], batch['window'][:, -1]
        contrast_on = self.config.contrastive_weight > 0
        if contrast_on and 'jittered' not in batch:
            raise ValueError("CoMo's temporal contrast needs batch['jittered'] (FrameWindows "
                             'built with jitter=model.jitter_frames); or contrastive_weight=0')
        frames = (o_t, o_next, batch['jittered']) if contrast_on else (o_t, o_next)
        features = self.features(*frames)
        z = self.motion(features[0], features[1])
        prediction = self.fdm(self.normalize(o_t), z)
        reconstruction = F.mse_loss(prediction, self.normalize(o_next))
        metrics = {'reconstruction': reconstruction.item()}
        if not contrast_on:
            return reconstruction, metrics
        f_t, f_next, f_jittered = features
        contrast = temporal_infonce(
            z, self.motion(f_t, f_jittered),
            [self.motion(f_next, f_t), self.motion(f_jittered, f_t)],
            self.config.contrastive_temperature)
        metrics['infonce'] = contrast.item()
        return reconstruction + self.config.contrastive_weight * contrast, metrics
