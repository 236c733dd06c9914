# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Autoregressive policy: a causal transformer over observation and action tokens.

Sequence: the observation tokens (``ObservationEncoder``: image, proprio), then one token per
action step k = 0 .. Ta-1 whose input is what came before it: a learned start token for
k = 0, else the previous action a_{k-1} (and, with a latent head, the previous
pseudo-action z_{k-1}), each replaced by a learned 'unknown' embedding where it is
masked (a human row has no actions). Two heads read every step token: a_k (L1 on
normalized actions, robot rows) and z_k (MSE on normalized pseudo-actions, rows with
labels). Training is teacher forcing in one causal pass; ``predict_chunk`` rolls out
Ta steps feeding its own a_k (and z_k) back, with a key/value cache so each step costs
one token.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.policies.autoregressive.configuration_autoregressive import AutoregressiveConfig
from lam_models.policies.base import Policy, register
from lam_models.policies.layers import (
    ObservationEncoder,
    masked_loss,
    require_keys,
    zero_masked,
)

KVCache = list[torch.Tensor]  # [keys, values] of one block, (B, heads, T, head_dim) each


class CausalBlock(nn.Module):
    """Pre-norm transformer block; causal self-attention with an optional KV cache."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.project = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    @override
    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Tokens (B, T, D) -> (B, T, D), attending causally.

        With ``cache``: an empty list is a prefill (causal over the tokens, keys and
        values then stored); a filled one takes a single new token that attends to all
        before it.
        """
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.num_heads, -1
                                               ).permute(2, 0, 3, 1, 4)
        if cache:
            if length != 1:
                raise ValueError(f'a cached step takes one token, got {length}')
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        if cache is not None:
            cache[:] = [k, v]
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1)
        x = x + self.project(attended.transpose(1, 2).reshape(batch, length, dim))
        return x + self.mlp(self.norm2(x))


class StepInput(nn.Module):
    """The value fed back at a step (B, T, C) -> (B, T, D); masked entries: 'unknown'."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(channels, dim)
        self.unknown = nn.Parameter(torch.randn(dim) * 0.02)

    @override
    def forward(self, values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return torch.where(known[..., None], self.project(zero_masked(values, known)),
                           self.unknown)


@register
class AutoregressivePolicy(Policy):
    """Observation tokens + action-step tokens -> causal transformer -> (action, latent) heads."""

    name = 'autoregressive'
    config_class = AutoregressiveConfig

    def __init__(self, config: AutoregressiveConfig) -> None:
        super().__init__(config)
        dim = config.dim
        self.observation = ObservationEncoder.from_config(config, dim)
        self.start = nn.Parameter(torch.randn(dim) * 0.02)
        self.step_embedding = nn.Parameter(torch.randn(config.action_horizon, dim) * 0.02)
        self.action_input = StepInput(config.action_dim, dim)
        self.latent_input = StepInput(config.latent_dim, dim) if config.latent_dim else None
        self.blocks = nn.ModuleList(CausalBlock(dim, config.num_heads, config.mlp_ratio)
                                    for _ in range(config.depth))
        self.norm = nn.LayerNorm(dim)
        self.action_head = nn.Linear(dim, config.action_dim)
        self.latent_head = nn.Linear(dim, config.latent_dim) if config.latent_dim else None

    def step_tokens(self, actions: torch.Tensor, action_known: torch.Tensor,
                    latents: torch.Tensor | None, latent_known: torch.Tensor | None,
                    first_step: int) -> torch.Tensor:
        """Inputs of steps first_step .. first_step+T-1 from the T values before each."""
        tokens = self.action_input(actions, action_known)
        if self.latent_input is not None:
            tokens = tokens + self.latent_input(latents, latent_known)
        return tokens + self.step_embedding[first_step:first_step + tokens.shape[1]]

    def heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Step outputs (B, T, D) -> (actions (B, T, A), latents (B, T, Z) or None)."""
        hidden = self.norm(hidden)
        latents = self.latent_head(hidden) if self.latent_head is not None else None
        return self.action_head(hidden), latents

    def run(self, tokens: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """The transformer blocks over tokens (B, T, D); ``caches``: one per block."""
        for index, block in enumerate(self.blocks):
            tokens = block(tokens, None if caches is None else caches[index])
        return tokens

    def observe(self, images: torch.Tensor, state: torch.Tensor, state_valid: torch.Tensor,
                augment: bool = False) -> torch.Tensor:
        """Observation tokens followed by the start token: (B, To + 1, D)."""
        obs = self.observation(images, state, state_valid, augment)
        start = (self.start + self.step_embedding[0]).expand(len(obs), 1, -1)
        return torch.cat([obs, start], 1)

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        with_latent = self.latent_head is not None
        require_keys(self.name, batch, ('images', 'state', 'state_valid', 'actions',
                                        'action_mask', 'waypoints', 'waypoint_mask')
                     + (('pseudo_actions', 'pseudo_mask') if with_latent else ()))
        prefix = self.observe(self.preprocess(batch['images']),
                              self.normalize_state(batch['state']), batch['state_valid'],
                              augment=self.training)
        actions, action_mask = self.normalize_actions(batch['actions']), batch['action_mask']
        latents = self.normalize_latents(batch['pseudo_actions']) if with_latent else None
        latent_mask = batch['pseudo_mask'] if with_latent else None
        fed_actions, fed_latents = actions[:, :-1], latents[:, :-1] if with_latent else None
        if self.training and self.config.input_noise:
            fed_actions = fed_actions + self.config.input_noise * torch.randn_like(fed_actions)
            if with_latent:
                fed_latents = fed_latents + self.config.input_noise * torch.randn_like(
                    fed_latents)
        steps = self.step_tokens(fed_actions, action_mask[:, :-1], fed_latents,
                                 latent_mask[:, :-1] if with_latent else None, first_step=1)
        hidden = self.run(torch.cat([prefix, steps], 1))[:, prefix.shape[1] - 1:]
        predicted_actions, predicted_latents = self.heads(hidden)
        action_loss = masked_loss(predicted_actions, actions, action_mask, 'l1',
                                  batch.get('action_columns'))
        waypoint_loss = self.waypoint_term(prefix[:, :-1], batch)   # the start token is not seen
        metrics = {'action_loss': action_loss.item(), 'waypoint_loss': waypoint_loss.item()}
        loss = action_loss + self.config.waypoint_weight * waypoint_loss
        if with_latent:
            latent_loss = masked_loss(predicted_latents, latents, latent_mask)
            loss = loss + self.config.latent_weight * latent_loss
            metrics['latent_loss'] = latent_loss.item()
        return loss, metrics

    @override
    def sample_actions(self, images: torch.Tensor, state: torch.Tensor,
                       state_valid: torch.Tensor, generator: torch.Generator | None
                       ) -> torch.Tensor:
        """Roll out Ta steps with a KV cache, feeding back its own actions (and latents)."""
        caches: list[KVCache] = [[] for _ in self.blocks]
        hidden = self.run(self.observe(images, state, state_valid), caches)[:, -1:]
        known = torch.ones(len(images), 1, dtype=torch.bool, device=images.device)
        outputs = []
        for step in range(1, self.config.action_horizon + 1):
            action, latent = self.heads(hidden)
            outputs.append(action)
            if step == self.config.action_horizon:
                break
            token = self.step_tokens(action, known, latent, known, first_step=step)
            hidden = self.run(token, caches)
        return torch.cat(outputs, 1)
