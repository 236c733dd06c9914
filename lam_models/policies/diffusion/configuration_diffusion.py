# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Diffusion Policy's hyperparameters: the one place their defaults are set.

hydra's ``policy=diffusion`` starts from these; config/policy/diffusion.yaml holds only
what differs.
"""
from __future__ import annotations

from dataclasses import dataclass

from lam_models.policies.base import PolicyConfig


@dataclass
class DiffusionConfig(PolicyConfig):
    """Diffusion Policy (Chi et al. 2023), CNN variant, sized for 2 CPU cores at 64 px."""

    obs_dim: int = 128              # observation token width; FiLM gets the image + state tokens
    unet_dim: int = 64              # channels of the first U-Net level, doubled per level
    unet_levels: int = 2            # 16 -> 8 steps (3: 16 -> 8 -> 4, ~4x the parameters)
    kernel_size: int = 5            # temporal conv kernel over the action chunk
    train_timesteps: int = 100      # DDPM noise levels in training
    inference_steps: int = 10       # DDIM steps per predict_chunk
    prediction_type: str = 'sample'  # what the U-Net predicts: 'sample' (the clean chunk) or
    #   'epsilon' (the noise, the paper's). Overfitting 4 chunks, tiny model, 10 DDIM steps:
    #   'sample' reproduces them to 0.012 std after 200 steps, 'epsilon' is 2.8 std off after
    #   1200 (its x0 = (x_t - sqrt(1-a) eps) / sqrt(a) amplifies eps errors at the noisy
    #   end that few-step DDIM starts from). CPU minutes favour 'sample'.
    clip_sample: float = 5.0        # clamp of the denoised chunk, in action std units; 0: off
    latent_hidden: int = 256        # latent head MLP width
    waypoint_condition: bool = False  # the denoiser also reads the waypoint head's prediction
    #   (detached): where to grasp and release, which human videos teach over the whole
    #   workspace, handed to the action head as 6 numbers instead of left in the trunk

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        for key in ('obs_dim', 'unet_dim', 'unet_levels', 'kernel_size', 'train_timesteps',
                    'inference_steps', 'latent_hidden'):
            if getattr(self, key) < 1:
                raise ValueError(f'{name}.{key} must be >= 1, got {getattr(self, key)}')
        if self.action_horizon % 2 ** (self.unet_levels - 1):
            raise ValueError(f'{name}.action_horizon ({self.action_horizon}) must be divisible '
                             f'by 2**(unet_levels-1) = {2 ** (self.unet_levels - 1)}')
        if self.inference_steps > self.train_timesteps:
            raise ValueError(f'{name}.inference_steps ({self.inference_steps}) must be <= '
                             f'train_timesteps ({self.train_timesteps})')
        if self.prediction_type not in ('epsilon', 'sample'):
            raise ValueError(f"{name}.prediction_type must be 'epsilon' or 'sample', "
                             f'got {self.prediction_type!r}')
        if self.clip_sample < 0:
            raise ValueError(f'{name}.clip_sample must be >= 0, got {self.clip_sample}')
        if self.unet_dim % 8:
            raise ValueError(f'{name}.unet_dim must be a multiple of 8 (GroupNorm), '
                             f'got {self.unet_dim}')
