# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Small conv building blocks shared by every latent model (64x64 default, any multiple of 8)."""
from __future__ import annotations

import torch
from torch import nn
from typing_extensions import override


def conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 conv + GroupNorm + SiLU; stride 2 halves the resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
    )


class ConvEncoder(nn.Module):
    """Image (B,C,H,W) -> feature map (B, width, H/2^stages, W/2^stages)."""

    def __init__(self, in_channels: int, width: int, stages: int = 3) -> None:
        super().__init__()
        channels = [in_channels, width // 2] + [width] * (stages - 1)
        self.net = nn.Sequential(
            *(conv_block(c_in, c_out, 2) for c_in, c_out in zip(channels, channels[1:])),
            conv_block(width, width, 1),
        )

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class ForwardDynamicsDecoder(nn.Module):
    """FDM: predict o_{t+n} from o_t and a latent z.

    A small U-Net; z is tiled over the image and fed both at the input and at
    the bottleneck, so convolutions can turn it into local displacements. The
    output is a residual added to o_t, so "copy o_t" is the trivial solution
    the collapse diagnostic compares against.
    """

    def __init__(self, z_dim: int, width: int) -> None:
        super().__init__()
        self.down1 = conv_block(3 + z_dim, width // 2, 2)  # H/2
        self.down2 = conv_block(width // 2, width, 2)      # H/4
        self.down3 = conv_block(width, width, 2)           # H/8
        self.mid = conv_block(width + z_dim, width, 1)
        self.up3 = nn.Sequential(nn.Upsample(scale_factor=2), conv_block(2 * width, width, 1))
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2), conv_block(2 * width, width // 2, 1))
        self.up1 = nn.Sequential(nn.Upsample(scale_factor=2), conv_block(width, width // 2, 1))
        self.out = nn.Conv2d(width // 2, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @override
    def forward(self, image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        def tiled(like: torch.Tensor) -> torch.Tensor:
            return z[:, :, None, None].expand(-1, -1, *like.shape[-2:])

        h1 = self.down1(torch.cat([image, tiled(image)], dim=1))
        h2 = self.down2(h1)
        h3 = self.down3(h2)
        h = self.mid(torch.cat([h3, tiled(h3)], dim=1))
        h = self.up3(torch.cat([h, h3], dim=1))
        h = self.up2(torch.cat([h, h2], dim=1))
        h = self.up1(torch.cat([h, h1], dim=1))
        return image + self.out(h)


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
