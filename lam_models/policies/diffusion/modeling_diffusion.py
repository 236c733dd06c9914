# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Diffusion Policy with a latent head (the CoMo co-training recipe).

The observation trunk (``ObservationEncoder``: image keypoints + proprio, To frames)
gives a condition vector that feeds two heads:
  * the action denoiser: a FiLM-conditioned 1-D conv U-Net over the (Ta, A) action
    chunk, trained with DDPM noise (diffusers' ``DDPMScheduler``) on robot rows
    (``action_mask``) and sampled with DDIM (``DDIMScheduler``, ``inference_steps``);
  * the latent head: an MLP regressing the (Ta, Z) pseudo-action chunk (MSE) on every
    row with ``pseudo_mask``.
No projection from latents to actions: human video reaches the actions only through the
shared trunk. The latent head is a regression, not a second denoiser: it exists to shape
the trunk and is never sampled for control, so a dense MSE gradient on every row is what
it needs, at a tenth of a denoiser's cost; a multimodal latent distribution would only
blur its (unused) output.
"""
from __future__ import annotations

import math

from diffusers import DDIMScheduler, DDPMScheduler
import torch
from torch import nn
from typing_extensions import override

from lam_models.data.episode import WAYPOINTS
from lam_models.policies.base import Policy, register
from lam_models.policies.diffusion.configuration_diffusion import DiffusionConfig
from lam_models.policies.layers import (
    ChunkHead,
    ObservationEncoder,
    masked_loss,
    require_keys,
    zero_masked,
)


class SinusoidalEmbedding(nn.Module):
    """Diffusion timestep (B,) -> (B, dim) sin/cos features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    @override
    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        frequencies = torch.exp(-math.log(10000) * torch.arange(half, device=timesteps.device)
                                / max(half - 1, 1))
        angles = timesteps.float()[:, None] * frequencies[None]
        return torch.cat([angles.sin(), angles.cos()], -1)


def temporal_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                  transposed: bool = False) -> nn.Module:
    """A 1-D conv over the chunk's steps, as a (1, k) 2-D conv on (B, C, 1, T) tensors.

    On CPU a batch-1 ``Conv1d`` takes torch's slow reference path (130 us for 128
    channels x 8 steps); the same conv as a channels-last ``Conv2d`` runs in oneDNN
    (43 us), and a DDIM rollout is ~200 of them.
    """
    if transposed:  # doubles the length
        return nn.ConvTranspose2d(in_channels, out_channels, (1, 4), stride=(1, 2),
                                  padding=(0, 1))
    return nn.Conv2d(in_channels, out_channels, (1, kernel_size), stride=(1, stride),
                     padding=(0, kernel_size // 2))


def conv1d_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Temporal conv + GroupNorm + Mish, length kept."""
    return nn.Sequential(temporal_conv(in_channels, out_channels, kernel_size),
                         nn.GroupNorm(8, out_channels), nn.Mish())


class FiLMResidualBlock(nn.Module):
    """Two conv blocks; FiLM (a per-channel scale and shift) between them."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.first = conv1d_block(in_channels, out_channels, kernel_size)
        self.second = conv1d_block(out_channels, out_channels, kernel_size)
        self.skip = temporal_conv(in_channels, out_channels, 1) \
            if in_channels != out_channels else nn.Identity()

    @override
    def forward(self, x: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """Features (B, C_in, 1, T), film (B, 2 * C_out): its share of the FiLM layer."""
        scale, shift = film[:, :, None, None].chunk(2, dim=1)
        h = self.first(x) * (1 + scale) + shift
        return self.second(h) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """Noisy chunk (B, Ta, A), timestep (B,), condition (B, C) -> (B, Ta, A).

    Levels of ``dim * 2**i`` channels, each two FiLM residual blocks, halving the
    length between levels; the way up concatenates each level's skip. Every block
    is conditioned on [timestep embedding, observation] through one linear layer
    whose output is split among the blocks (one matmul per denoising step, not one
    per block: a batch-1 DDIM rollout is bound by the number of ops).
    """

    def __init__(self, action_dim: int, cond_dim: int, dim: int, levels: int,
                 kernel_size: int) -> None:
        super().__init__()
        dims = [dim * 2 ** i for i in range(levels)]
        self.time = nn.Sequential(SinusoidalEmbedding(dim), nn.Linear(dim, 4 * dim), nn.Mish(),
                                  nn.Linear(4 * dim, dim))

        def block(cin: int, cout: int) -> FiLMResidualBlock:
            return FiLMResidualBlock(cin, cout, kernel_size)

        self.down = nn.ModuleList()
        channels = action_dim
        for d in dims:
            self.down.append(nn.ModuleList([block(channels, d), block(d, d)]))
            channels = d
        self.downsample = nn.ModuleList(temporal_conv(d, d, 3, stride=2) for d in dims[:-1])
        self.middle = nn.ModuleList([block(channels, channels), block(channels, channels)])
        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for d in reversed(dims[:-1]):
            self.upsample.append(temporal_conv(channels, channels, 4, transposed=True))
            self.up.append(nn.ModuleList([block(channels + d, d), block(d, d)]))
            channels = d
        self.out = nn.Sequential(conv1d_block(channels, channels, kernel_size),
                                 temporal_conv(channels, action_dim, 1))
        # blocks were built in the order forward runs them: down, middle, up
        self.film_sizes = [2 * b.out_channels for b in self.modules()
                           if isinstance(b, FiLMResidualBlock)]
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim + dim, sum(self.film_sizes)))
        self.to(memory_format=torch.channels_last)  # conv weights too, or oneDNN is skipped

    @override
    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor
                ) -> torch.Tensor:
        films = iter(self.film(torch.cat([self.time(timesteps), cond], -1)
                               ).split(self.film_sizes, 1))
        x = sample.transpose(1, 2)[:, :, None].contiguous(memory_format=torch.channels_last)
        skips = []
        for index, (first, second) in enumerate(self.down):
            x = second(first(x, next(films)), next(films))
            if index < len(self.downsample):
                skips.append(x)
                x = self.downsample[index](x)
        for block in self.middle:
            x = block(x, next(films))
        for upsample, (first, second) in zip(self.upsample, self.up):
            x = torch.cat([upsample(x), skips.pop()], 1)
            x = second(first(x, next(films)), next(films))
        return self.out(x)[:, :, 0].transpose(1, 2)                     # (B, Ta, A)


@register
class DiffusionPolicy(Policy):
    """Observation trunk -> (DDPM action denoiser, latent regression head)."""

    name = 'diffusion'
    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__(config)
        self.observation = ObservationEncoder.from_config(config, config.obs_dim)
        cond_dim = config.obs_dim * self.observation.num_tokens
        denoiser_cond_dim = cond_dim + (WAYPOINTS * 3 if config.waypoint_condition else 0)
        self.denoiser = ConditionalUnet1D(config.action_dim, denoiser_cond_dim,
                                          config.unet_dim, config.unet_levels,
                                          config.kernel_size)
        self.latent_head = ChunkHead(cond_dim, config.action_horizon, config.latent_dim,
                                     config.latent_hidden) if config.latent_dim else None
        schedule = {'num_train_timesteps': config.train_timesteps,
                    'beta_schedule': 'squaredcos_cap_v2',
                    'clip_sample': config.clip_sample > 0,
                    'clip_sample_range': config.clip_sample or 1.0,
                    'prediction_type': config.prediction_type}
        self.noise_scheduler = DDPMScheduler(**schedule)
        # 'trailing' starts sampling at the noisiest level: better with few steps
        self.sampler = DDIMScheduler(**schedule, timestep_spacing='trailing')

    def condition(self, images: torch.Tensor, state: torch.Tensor, state_valid: torch.Tensor,
                  augment: bool = False) -> torch.Tensor:
        """Preprocessed frames + normalized state -> the trunk's vector (B, 2 * obs_dim)."""
        return self.observation(images, state, state_valid, augment).flatten(1)

    def denoiser_condition(self, cond: torch.Tensor) -> torch.Tensor:
        """The trunk's vector, and with ``waypoint_condition`` the predicted waypoints.

        In the head's WAYPOINT_SCALE units (order 1, as the trunk's are). Detached: the
        action loss must not bend the waypoint head away from waypoints.
        """
        if not self.config.waypoint_condition:
            return cond
        return torch.cat([cond, self.observation.waypoint_head(cond).detach().flatten(1)], -1)

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        require_keys(self.name, batch, ('images', 'state', 'state_valid', 'actions',
                                        'action_mask', 'waypoints', 'waypoint_mask')
                     + (('pseudo_actions', 'pseudo_mask') if self.latent_head else ()))
        cond = self.condition(self.preprocess(batch['images']),
                              self.normalize_state(batch['state']), batch['state_valid'],
                              augment=self.training)
        actions = zero_masked(self.normalize_actions(batch['actions']), batch['action_mask'])
        noise = torch.randn_like(actions)
        timesteps = torch.randint(0, self.config.train_timesteps, (len(actions),),
                                  device=actions.device)
        noisy = self.noise_scheduler.add_noise(actions, noise, timesteps)
        target = noise if self.config.prediction_type == 'epsilon' else actions
        denoised = self.denoiser(noisy, timesteps, self.denoiser_condition(cond))
        action_loss = masked_loss(denoised, target,
                                  batch['action_mask'], columns=batch.get('action_columns'))
        waypoint_loss = self.waypoint_term(cond, batch)
        metrics = {'action_loss': action_loss.item(), 'waypoint_loss': waypoint_loss.item()}
        loss = action_loss + self.config.waypoint_weight * waypoint_loss
        if self.latent_head is not None:
            latent_loss = self.latent_term(cond, batch)
            loss = loss + self.config.latent_weight * latent_loss
            metrics['latent_loss'] = latent_loss.item()
        return loss, metrics

    @override
    def latent_term(self, tokens: torch.Tensor, batch: dict[str, torch.Tensor]
                    ) -> torch.Tensor | None:
        if self.latent_head is None:
            return None
        return masked_loss(self.latent_head(tokens),
                           self.normalize_latents(batch['pseudo_actions']), batch['pseudo_mask'])

    @override
    def sample_actions(self, images: torch.Tensor, state: torch.Tensor,
                       state_valid: torch.Tensor, generator: torch.Generator | None
                       ) -> torch.Tensor:
        """DDIM from Gaussian noise, ``inference_steps`` U-Net calls on one trunk pass."""
        cond = self.denoiser_condition(self.condition(images, state, state_valid))
        shape = (len(cond), self.config.action_horizon, self.config.action_dim)
        sample = torch.randn(shape, generator=generator, device=cond.device)
        self.sampler.set_timesteps(self.config.inference_steps)
        for t in self.sampler.timesteps:
            output = self.denoiser(sample, t.expand(len(cond)), cond)
            sample = self.sampler.step(output, t, sample).prev_sample
        return sample
