# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The CLAM route (arXiv 2505.04999): act through the latent space.

Two parts, each trained on the rows that can teach it:
  * a latent policy pi(o) -> z: the observation trunk and an MLP regressing the (Ta, Z)
    pseudo-action chunk (MSE on normalized labels), on every row with ``pseudo_mask``:
    robot and human video alike;
  * an action decoder z -> a: a per-step MLP from the *labelled* pseudo-action z_k to the
    action a_k (L1 on normalized actions), on robot rows where both exist.
``predict_chunk`` is decoder(pi(o)): every action passes through a latent, so what the
human video teaches pi reaches the robot only as far as the decoder grounds it. The
metric ``route_action_loss`` (no gradient) is that composition's error on robot rows.
"""
from __future__ import annotations

import torch
from torch import nn
from typing_extensions import override

from lam_models.policies.base import Policy, register
from lam_models.policies.clam_route.configuration_clam_route import ClamRouteConfig
from lam_models.policies.layers import (
    ChunkHead,
    ObservationEncoder,
    masked_loss,
    require_keys,
    zero_masked,
)


@register
class ClamRoutePolicy(Policy):
    """Observation trunk -> latent chunk (pi) -> per-step action decoder."""

    name = 'clam_route'
    config_class = ClamRouteConfig

    def __init__(self, config: ClamRouteConfig) -> None:
        super().__init__(config)
        self.observation = ObservationEncoder.from_config(config, config.obs_dim)
        self.latent_policy = ChunkHead(config.obs_dim * self.observation.num_tokens,
                                       config.action_horizon, config.latent_dim, config.hidden)
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, config.hidden), nn.GELU(),
                                     nn.Linear(config.hidden, config.hidden), nn.GELU(),
                                     nn.Linear(config.hidden, config.action_dim))

    def latents(self, images: torch.Tensor, state: torch.Tensor, state_valid: torch.Tensor
                ) -> torch.Tensor:
        """pi(o): normalized pseudo-action chunk (B, Ta, Z)."""
        return self.latent_policy(self.observation(images, state, state_valid).flatten(1))

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        require_keys(self.name, batch, ('images', 'state', 'state_valid', 'actions',
                                        'action_mask', 'pseudo_actions', 'pseudo_mask',
                                        'waypoints', 'waypoint_mask'))
        tokens = self.observation(self.preprocess(batch['images']),
                                  self.normalize_state(batch['state']), batch['state_valid'],
                                  augment=self.training).flatten(1)
        predicted = self.latent_policy(tokens)
        labels, label_mask = self.normalize_latents(batch['pseudo_actions']), batch['pseudo_mask']
        latent_loss = masked_loss(predicted, labels, label_mask)
        grounded = batch['action_mask'] & label_mask
        actions = self.normalize_actions(batch['actions'])
        action_loss = masked_loss(self.decoder(zero_masked(labels, label_mask)), actions,
                                  grounded, 'l1', batch.get('action_columns'))
        with torch.no_grad():
            route = masked_loss(self.decoder(predicted), actions, batch['action_mask'], 'l1',
                                batch.get('action_columns'))
        waypoint_loss = self.waypoint_term(tokens, batch)
        loss = (action_loss + self.config.latent_weight * latent_loss
                + self.config.waypoint_weight * waypoint_loss)
        return loss, {'action_loss': action_loss.item(), 'latent_loss': latent_loss.item(),
                      'route_action_loss': route.item(), 'waypoint_loss': waypoint_loss.item()}

    @override
    def latent_term(self, tokens: torch.Tensor, batch: dict[str, torch.Tensor]
                    ) -> torch.Tensor:
        return masked_loss(self.latent_policy(tokens),
                           self.normalize_latents(batch['pseudo_actions']), batch['pseudo_mask'])

    @override
    def sample_actions(self, images: torch.Tensor, state: torch.Tensor,
                       state_valid: torch.Tensor, generator: torch.Generator | None
                       ) -> torch.Tensor:
        """decoder(pi(o)), normalized actions."""
        return self.decoder(self.latents(images, state, state_valid))
