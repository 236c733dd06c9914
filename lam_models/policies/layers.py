# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pieces every policy shares: the observation encoder, a chunk head, masked losses.

The image encoder is small and trained from scratch (no torchvision here): at 64 px a
block is 2-3 pixels wide, so it keeps 32x32 and 16x16 feature maps and reads them out
with a spatial softmax (where each keypoint is, to sub-pixel precision) rather than
pooling the position away. The ``obs_horizon`` frames enter stacked on the channel axis
(early fusion, as in DrQ): one pass sees the motion between them at pixel level and
costs 40% less than encoding each frame (about 0.045 GFLOP forward per sample at 64 px).
"""
from __future__ import annotations

from typing import TYPE_CHECKING
import warnings

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.data.episode import WAYPOINTS
from lam_models.latent.layers import conv_block

if TYPE_CHECKING:
    from lam_models.policies.base import PolicyConfig


def random_shift(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each sample's frames (B, To, C, H, W) by one random offset in [-pad, pad] px.

    The frames of one sample move together (motion between them is kept); the border is
    the edge pixels repeated (DrQ-style augmentation for small-data visual control).
    """
    batch, horizon, channels, height, width = images.shape
    padded = F.pad(images.flatten(1, 2), (pad,) * 4, mode='replicate')
    dy, dx = torch.randint(0, 2 * pad + 1, (2, batch, 1), device=images.device)
    rows = dy + torch.arange(height, device=images.device)            # (B, H)
    cols = dx + torch.arange(width, device=images.device)             # (B, W)
    index = torch.arange(batch, device=images.device)[:, None, None]
    shifted = padded[index, :, rows[:, :, None], cols[:, None, :]]     # (B, H, W, To*C)
    return shifted.permute(0, 3, 1, 2).reshape(images.shape)


def color_jitter(images: torch.Tensor, strength: float) -> torch.Tensor:
    """Random contrast, brightness and per-channel gain of each sample's frames (B, To, C, H, W).

    Values in [-1, 1]; factors drawn in [1 - strength, 1 + strength] (offset +-strength),
    one draw per sample so the frames of a sample change alike. The scenes' colours and
    light are randomized per episode: with few demos a policy otherwise keys on them.
    """
    batch = images.shape[0]

    def draw(*shape: int) -> torch.Tensor:
        return strength * (2 * torch.rand(batch, *shape, device=images.device) - 1)
    mean = images.mean(dim=(1, 2, 3, 4), keepdim=True)
    contrast, brightness = 1 + draw(1, 1, 1, 1), draw(1, 1, 1, 1)
    gain = 1 + draw(1, images.shape[2], 1, 1)
    return (((images - mean) * contrast + mean) * gain + brightness).clamp(-1.0, 1.0)


class SpatialSoftmax(nn.Module):
    """Feature map (N, K, h, w) -> (N, 2K): the expected (x, y) in [-1, 1] of each channel."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
                                indexing='ij')
        self.register_buffer('grid', torch.stack([xs.flatten(), ys.flatten()], 1),
                             persistent=False)  # (h*w, 2), rebuilt from the config

    @override
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        attention = features.flatten(2).softmax(-1)                  # (N, K, h*w)
        return (attention @ self.grid).flatten(1)                    # (N, 2K)


class ImageEncoder(nn.Module):
    """Stacked frames (N, 3 * frames, S, S) in [-1, 1] -> (N, out_dim): keypoints + pooled.

    2x2 pixel blocks (``pixel_unshuffle``) into a 3x3 conv at S/2, a strided one to
    S/4 and one more there (a second S/2 layer would cost 40% more time); a 1x1 conv
    makes ``keypoints`` heat maps for the spatial softmax. With ``pooled``, average-pooled
    channels are added to say *what* is seen (the gripper's opening, the block's colour)
    besides *where*; they also summarize an episode's randomized look, which a policy
    trained on few demos can memorize instead of finding the block.
    """

    def __init__(self, image_size: int, frames: int, width: int, keypoints: int,
                 pooled: bool = True) -> None:
        super().__init__()
        self.net = nn.Sequential(
            conv_block(12 * frames, width, 1),
            conv_block(width, 2 * width, 2),
            conv_block(2 * width, 2 * width, 1),
        )
        self.heatmaps = nn.Conv2d(2 * width, keypoints, 1)
        side = (image_size // 2 + 1) // 2
        self.keypoints = SpatialSoftmax(side, side)
        self.pooled = pooled
        self.out_dim = 2 * keypoints + (2 * width if pooled else 0)

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # channels-last convs (and their backward) are ~20% faster on CPU at these sizes
        blocks = F.pixel_unshuffle(images, 2).contiguous(memory_format=torch.channels_last)
        features = self.net(blocks)
        where = self.keypoints(self.heatmaps(features))
        return torch.cat([where, features.mean((2, 3))], 1) if self.pooled else where


class StateEncoder(nn.Module):
    """Normalized state history (B, To, S) -> one token (B, dim).

    Rows without proprio get a learned 'no state' embedding (human rows: their zeros
    must not read as a real pose).
    """

    def __init__(self, obs_horizon: int, state_dim: int, dim: int) -> None:
        super().__init__()
        with warnings.catch_warnings():   # state_dim 0 (no proprio): an empty weight, unused
            warnings.filterwarnings('ignore', 'Initializing zero-element tensors')
            self.project = nn.Linear(obs_horizon * state_dim, dim)
        self.missing = nn.Parameter(torch.randn(dim) * 0.02)

    @override
    def forward(self, state: torch.Tensor, state_valid: torch.Tensor) -> torch.Tensor:
        flat = zero_masked(state.flatten(1), state_valid)
        return torch.where(state_valid[:, None], self.project(flat), self.missing)


class ObservationEncoder(nn.Module):
    """Observation history -> ``num_tokens`` tokens (B, 2, dim): what is seen, the proprio.

    ``augment`` (training only): random shift and colour jitter of the frames, Gaussian
    ``state_noise`` (in state std units) and ``state_dropout``. ``waypoint_head`` reads the
    flattened tokens: where the effector will grasp and release (``Policy.look_loss``).
    """

    num_tokens = 2

    def __init__(self, image_size: int, obs_horizon: int, state_dim: int, width: int,
                 keypoints: int, dim: int, shift_pixels: int = 0, state_dropout: float = 0.0,
                 color_jitter: float = 0.0, state_noise: float = 0.0, pooled: bool = True
                 ) -> None:
        super().__init__()
        self.image = ImageEncoder(image_size, obs_horizon, width, keypoints, pooled)
        self.image_project = nn.Linear(self.image.out_dim, dim)
        self.state = StateEncoder(obs_horizon, state_dim, dim)
        self.token_embedding = nn.Parameter(torch.randn(self.num_tokens, dim) * 0.02)
        self.norm = nn.LayerNorm(dim)
        self.waypoint_head = ChunkHead(self.num_tokens * dim, WAYPOINTS, 3)
        self.shift_pixels = shift_pixels
        self.state_dropout = state_dropout
        self.color_jitter = color_jitter
        self.state_noise = state_noise

    @classmethod
    def from_config(cls, config: PolicyConfig, dim: int) -> ObservationEncoder:
        """The encoder a policy's config describes, with ``dim``-wide tokens."""
        return cls(config.image_size, config.obs_horizon, config.state_dim, config.width,
                   config.keypoints, dim, config.shift_pixels, config.state_dropout,
                   config.color_jitter, config.state_noise, config.image_pooling)

    @override
    def forward(self, images: torch.Tensor, state: torch.Tensor, state_valid: torch.Tensor,
                augment: bool = False) -> torch.Tensor:
        if augment and self.shift_pixels:
            images = random_shift(images, self.shift_pixels)
        if augment and self.color_jitter:
            images = color_jitter(images, self.color_jitter)
        if augment and self.state_noise:
            state = state + self.state_noise * torch.randn_like(state)
        if augment and self.state_dropout:
            keep = torch.rand(state_valid.shape, device=state_valid.device) >= self.state_dropout
            state_valid = state_valid & keep
        seen = self.image_project(self.image(images.flatten(1, 2)))
        tokens = torch.stack([seen, self.state(state, state_valid)], 1)
        return self.norm(tokens + self.token_embedding)


class ChunkHead(nn.Module):
    """A light head: condition (B, C) -> chunk (B, horizon, out_dim), a two-layer MLP."""

    def __init__(self, cond_dim: int, horizon: int, out_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.shape = (horizon, out_dim)
        self.net = nn.Sequential(nn.Linear(cond_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, horizon * out_dim))

    @override
    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.net(cond).view(len(cond), *self.shape)


def zero_masked(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` (B, ..., D) with the entries where ``mask`` (B, ...) is False set to 0.

    For inputs taken from rows that do not have them (a human row's actions or state):
    ``torch.where`` after a layer would still send NaN * 0 = NaN into its weight
    gradient, so the values are cleaned before any layer sees them.
    """
    return torch.where(mask[..., None], values, torch.zeros((), dtype=values.dtype,
                                                            device=values.device))


def masked_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                kind: str = 'mse', columns: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``kind`` ('mse' | 'l1') error over the (B, T) entries of (B, T, D) where ``mask``.

    ``columns`` (B, D) bool, if given, keeps only a row's real columns (``ACTION_COLUMNS``):
    the mean is then over the real (entry, column) pairs, so a column weighs the same in a
    row that has all of them and in one that has two. 0 (with a zero gradient) where nothing
    is masked in. Unused targets are replaced by the detached prediction before the error is
    taken, so a NaN in one (a human row's actions) reaches neither the loss nor the gradient.
    """
    if kind not in ('mse', 'l1'):
        raise ValueError(f"masked_loss kind must be 'mse' or 'l1', got {kind!r}")
    used = mask[..., None] & (True if columns is None else columns[:, None, :])
    target = torch.where(used, target, prediction.detach())
    error = (prediction - target).abs() if kind == 'l1' else (prediction - target).square()
    return error.sum() / used.expand_as(error).sum().clamp(min=1)


def require_keys(policy_name: str, batch: dict[str, torch.Tensor], keys: tuple[str, ...]
                 ) -> None:
    """Name the batch keys a loss needs and did not get (instead of a bare KeyError)."""
    missing = [key for key in keys if key not in batch]
    if missing:
        raise KeyError(f'{policy_name} policy loss needs batch keys {missing}; got '
                       f'{sorted(batch)}')
