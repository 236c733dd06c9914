# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Small conv building blocks shared by every latent model (64x64 default, any multiple of 8).

Training cost is dominated by convolutions at high resolution, so nothing here
convolves at the input resolution: encoders stride at their first layer and the
forward dynamics decoder works on 4x4 pixel blocks (``pixel_unshuffle``).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override


def conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 conv + GroupNorm + SiLU; stride 2 halves the resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
    )


class ConvEncoder(nn.Module):
    """Image (B,C,H,W) -> feature map (B, width, H/2^stages, W/2^stages), stages >= 2.

    The stem sees 4x4 pixel blocks (``pixel_unshuffle``) through one 3x3 conv at
    H/4: the same 12 px receptive field as two strided convs, at a third of the
    time (a 3-channel full-resolution conv is the slowest layer per FLOP on a CPU).
    Each further stage halves the resolution; ``refine`` adds a stride-1 block at
    the output resolution (more mixing, more cost).
    """

    def __init__(self, in_channels: int, width: int, stages: int = 3, refine: bool = True
                 ) -> None:
        super().__init__()
        if stages < 2:
            raise ValueError(f'ConvEncoder needs stages >= 2 (a 4x4-block stem), got {stages}')
        blocks = [nn.PixelUnshuffle(4), conv_block(16 * in_channels, width, 1)]
        blocks += [conv_block(width, width, 2) for _ in range(stages - 2)]
        if refine:
            blocks.append(conv_block(width, width, 1))
        self.net = nn.Sequential(*blocks)

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class ForwardDynamicsDecoder(nn.Module):
    """FDM: predict o_{t+n} from o_t and a latent z, computed at 1/4 resolution.

    o_t enters as 4x4 pixel blocks (``pixel_unshuffle``: 48 channels at H/4) and
    the output leaves the same way (``pixel_shuffle``), so every pixel is still
    predicted but no convolution runs at full or half resolution: about 7x fewer
    FLOPs than a U-Net with full-resolution layers. A small U (H/4 -> H/8 -> H/4,
    additive skip) gives the receptive field to move things; z scales and shifts
    every block's channels (FiLM), so convolutions can turn it into local
    displacements where the image content is. The output is a residual added to
    o_t with a zero-initialised head, so "copy o_t" is the starting point and the
    trivial solution the collapse diagnostic compares against.
    """

    block = 4  # pixels per side of a block

    def __init__(self, z_dim: int, width: int) -> None:
        super().__init__()
        block_channels = 3 * self.block ** 2
        self.stem = conv_block(block_channels, width, 1)   # H/4
        self.down = conv_block(width, width, 2)            # H/8
        self.mid = conv_block(width, width, 1)
        self.up = conv_block(width, width, 1)              # H/4
        self.film = nn.Linear(z_dim, 3 * 2 * width)        # (scale, shift) per block
        self.out = nn.Conv2d(width, block_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @override
    def forward(self, image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        films = self.film(z)[:, :, None, None].chunk(6, dim=1)

        def modulate(h: torch.Tensor, index: int) -> torch.Tensor:
            return h * (1 + films[2 * index]) + films[2 * index + 1]

        skip = modulate(self.stem(F.pixel_unshuffle(image, self.block)), 0)
        h = modulate(self.mid(self.down(skip)), 1)
        h = modulate(self.up(F.interpolate(h, scale_factor=2.0) + skip), 2)
        return image + F.pixel_shuffle(self.out(h), self.block)


class StackedFrameIDM(nn.Module):
    """IDM over frames stacked on the channel axis: (B, N, 3, H, W) -> (B, out_dim)."""

    def __init__(self, num_frames: int, width: int, image_size: int, out_dim: int) -> None:
        super().__init__()
        self.encoder = ConvEncoder(3 * num_frames, width)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * (image_size // 8) ** 2, 256),
            nn.SiLU(),
            nn.Linear(256, out_dim),
        )

    @override
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(frames.flatten(1, 2)))
