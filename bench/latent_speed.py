# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Encode throughput (frame pairs/s) and training samples/s per latent model, CPU and CUDA.

PYTHONPATH=. .venv/bin/python bench/latent_speed.py [--image-size N] [--width N]

Sizes default to the models' own config defaults (LatentConfig).
"""
from __future__ import annotations

import argparse
import time

import torch

from lam_models.latent import LatentConfig, available_models, make_latent_model


def measure(function, repeats: int) -> float:
    """Seconds per call after one warm-up call."""
    function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def measure_model(name: str, device: str, args: argparse.Namespace) -> tuple[float, float]:
    """(encode pairs/s, training samples/s) for one model on random frames."""
    model = make_latent_model(name, image_size=args.image_size, width=args.width).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    size, batch_size = args.image_size, args.batch_size
    batch = {
        'window': torch.rand(batch_size, model.window_size, 3, size, size, device=device),
        'action': torch.zeros(batch_size, model.config.action_dim, device=device),
        'has_action': torch.ones(batch_size, dtype=torch.bool, device=device),
    }

    @torch.no_grad()
    def encode() -> None:
        model.encode_window(batch['window'])

    def train_step() -> None:
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    encode_seconds = measure(encode, args.repeats)
    model.train()
    train_seconds = measure(train_step, args.repeats)
    return batch_size / encode_seconds, batch_size / train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--image-size', type=int, default=LatentConfig.image_size)
    parser.add_argument('--width', type=int, default=LatentConfig.width)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    print(f'{args.image_size}px, width {args.width}, batch {args.batch_size}, '
          f'{torch.get_num_threads()} CPU threads')
    print(f'{"model":<8}{"device":>8}{"encode pairs/s":>16}{"train samples/s":>17}')
    for device in devices:
        for name in available_models():
            encode_rate, train_rate = measure_model(name, device, args)
            print(f'{name:<8}{device:>8}{encode_rate:>16.0f}{train_rate:>17.0f}')


if __name__ == '__main__':
    main()
