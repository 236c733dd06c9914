# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StaMo: a frame compressed into two tokens; motion is the difference of two states.

The decoder is a small DiT trained with flow matching (rectified flow): it
learns the velocity from noise to the frame, conditioned in-context on the
state tokens and through adaLN on time + pooled state.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.layers import ConvEncoder
from lam_models.latent.stamo.configuration_stamo import StaMoConfig


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1]: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    @override
    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.attention(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class FlowDiT(nn.Module):
    """Velocity field v(x_t, t | state tokens) over image patches."""

    def __init__(self, config: StaMoConfig) -> None:
        super().__init__()
        self.patch = config.patch_size
        self.grid = config.image_size // config.patch_size
        dim = config.dit_dim
        self.patch_in = nn.Linear(3 * self.patch ** 2, dim)
        self.state_in = nn.Linear(config.token_dim, dim)
        self.position = nn.Parameter(
            torch.randn(1, self.grid ** 2 + config.num_state_tokens, dim) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(DiTBlock(dim, config.dit_heads)
                                    for _ in range(config.dit_depth))
        self.norm_out = nn.LayerNorm(dim)
        self.patch_out = nn.Linear(dim, 3 * self.patch ** 2)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)

    @override
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        batch, p, g = len(x_t), self.patch, self.grid
        patches = x_t.reshape(batch, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).flatten(3)
        state_tokens = self.state_in(state)
        tokens = torch.cat([state_tokens, self.patch_in(patches.flatten(1, 2))], dim=1)
        tokens = tokens + self.position
        cond = self.time_mlp(timestep_embedding(t, tokens.shape[-1])) + state_tokens.mean(1)
        for block in self.blocks:
            tokens = block(tokens, cond)
        out = self.patch_out(self.norm_out(tokens[:, state.shape[1]:]))
        return out.reshape(batch, g, g, 3, p, p).permute(0, 3, 1, 4, 2, 5).reshape(x_t.shape)


@register
class StaMoModel(LatentActionModel):
    """StaMo latent motion model (two-token state encoder, flow-matching DiT decoder)."""

    name = 'stamo'
    config_class = StaMoConfig

    def __init__(self, config: StaMoConfig) -> None:
        super().__init__(config)
        self.state_encoder = nn.Sequential(
            ConvEncoder(3, config.width), nn.Flatten(),
            nn.Linear(config.width * (config.image_size // 8) ** 2, config.z_dim))
        self.decoder = FlowDiT(config)

    def state(self, images: torch.Tensor) -> torch.Tensor:
        """[0,1] frames (B,3,H,W) -> state tokens (B, num_state_tokens, token_dim)."""
        return self.state_encoder(self.normalize(images)).reshape(len(images), -1,
                                                                  self.config.token_dim)

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        o_t, o_next = window[:, -2], window[:, -1]
        states = self.state(torch.cat([o_t, o_next]))
        return (states[len(o_t):] - states[:len(o_t)]).flatten(1)

    @torch.no_grad()
    def decode(self, state: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """State tokens -> [0,1] images by Euler integration of the flow from fixed noise."""
        size = self.config.image_size
        generator = torch.Generator(device='cpu').manual_seed(seed)
        x = torch.randn(len(state), 3, size, size, generator=generator).to(state.device)
        steps = self.config.sample_steps
        for i in range(steps):
            t = torch.full((len(state),), i / steps, device=state.device)
            x = x + self.decoder(x, t, state) / steps
        return self.denormalize(x).clamp(0.0, 1.0)

    @override
    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        state_t = self.state(window[:, -2])
        z = self.encode_window(window).reshape(state_t.shape)
        return self.decode(state_t + z)

    @override
    def collapse_reference(self, o_t: torch.Tensor) -> torch.Tensor:
        """decode(s(o_t)): the decoder's own rendering of o_t, sampled from the same noise.

        ``predict_window`` decodes s(o_t) + z; against this, the collapse ratio asks
        whether z moved the rendering towards o_{t+n}, not how well noise renders a frame.
        """
        return self.decode(self.state(o_t))

    def interpolate(self, o_a: torch.Tensor, o_b: torch.Tensor, steps: int = 5) -> torch.Tensor:
        """Decode states linearly between s(o_a) and s(o_b): (steps, B, 3, H, W)."""
        state_a, state_b = self.state(o_a), self.state(o_b)
        weights = torch.linspace(0.0, 1.0, steps, device=state_a.device)
        return torch.stack([self.decode((1 - w) * state_a + w * state_b) for w in weights])

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        frames = batch['window'][:, -2:].flatten(0, 1)  # both frames are training images
        target = self.normalize(frames)
        noise = torch.randn_like(target)
        t = torch.sigmoid(torch.randn(len(target), device=target.device))  # logit-normal
        x_t = (1 - t[:, None, None, None]) * noise + t[:, None, None, None] * target
        velocity = self.decoder(x_t, t, self.state(frames))
        flow = F.mse_loss(velocity, target - noise)
        return flow, {'flow_matching': flow.item()}
