# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Training cost per latent model beside the machine's limit: samples/s, GFLOP/sample, GFLOP/s.

PYTHONPATH=. .venv/bin/python bench/latent_speed.py [--image-size N] [--width N] [--z-dims 8,32,128]

For every model, side by side in one run: encode throughput (pairs/s), training
samples/s (forward + backward + AdamW on a batch shaped like training's), the
FLOPs of one forward+backward counted by ``torch.utils.flop_counter.FlopCounterMode``
(matmuls, convolutions, attention; elementwise ops are not counted) per training
sample, the achieved GFLOP/s, and its ratio to a timed large ``torch.matmul`` on
the same device: a model near 100% can only train faster by costing less per sample.
Sizes default to the models' own config defaults (LatentConfig).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from lam_models.latent import LatentActionModel, LatentConfig, available_models, make_latent_model


@dataclass
class Speed:
    """One row of the table."""

    encode_rate: float       # frame pairs/s, no grad
    train_rate: float        # training samples/s
    gflop_per_sample: float  # forward + backward, counted

    @property
    def achieved_gflops(self) -> float:
        """Counted FLOPs actually done per second of training."""
        return self.train_rate * self.gflop_per_sample


def synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def measure(function: Callable[[], None], repeats: int, device: str) -> float:
    """Seconds per call: the fastest of ``repeats`` timed calls after one warm-up call.

    The fastest, not the mean: other processes on a shared machine only ever add time.
    """
    function()
    times = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_gflops(device: str, size: int = 2048, repeats: int = 5) -> float:
    """The device's float32 matmul rate: the arithmetic limit the models are compared with."""
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    seconds = measure(lambda: torch.matmul(a, b), repeats, device)
    return 2 * size ** 3 / seconds / 1e9


def training_batch(model: LatentActionModel, batch_size: int, device: str
                   ) -> dict[str, torch.Tensor]:
    """Random frames shaped like a training batch, with every optional key a model may use.

    ``jittered`` (CoMo's contrastive positive) and the labelled batch (CLAM's
    action decoder, ``model.labelled_batch_size`` rows) are what
    ``lam_models.latent.train`` adds; a model that does not use a key ignores it.
    """
    size, action_dim = model.config.image_size, model.config.action_dim
    labelled = getattr(model, 'labelled_batch_size', 0)

    def frames(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, 3, size, size, device=device)

    return {
        'window': frames(batch_size, model.window_size),
        'action': torch.zeros(batch_size, action_dim, device=device),
        'has_action': torch.ones(batch_size, dtype=torch.bool, device=device),
        'jittered': frames(batch_size),
        'labelled_window': frames(labelled, model.window_size),
        'labelled_action': torch.zeros(labelled, action_dim, device=device),
    }


def measure_model(name: str, device: str, args: argparse.Namespace,
                  **config: int) -> Speed:
    """Encode rate, training rate and counted FLOPs of one model on random frames."""
    torch.manual_seed(0)
    model = make_latent_model(name, image_size=args.image_size, width=args.width,
                              **config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = training_batch(model, args.batch_size, device)

    @torch.no_grad()
    def encode() -> None:
        model.encode_window(batch['window'])

    def train_step() -> None:
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    encode_seconds = measure(encode, args.repeats, device)
    model.train()
    train_seconds = measure(train_step, args.repeats, device)
    with FlopCounterMode(display=False) as counter:
        loss, _ = model.loss(batch)
        loss.backward()
    return Speed(args.batch_size / encode_seconds, args.batch_size / train_seconds,
                 counter.get_total_flops() / args.batch_size / 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--image-size', type=int, default=LatentConfig.image_size)
    parser.add_argument('--width', type=int, default=LatentConfig.width)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--models', default=','.join(available_models()))
    parser.add_argument('--z-dims', default='',
                        help='extra CoMo rows at these z_dim, e.g. 8,32,128')
    parser.add_argument('--cpu-only', action='store_true')
    args = parser.parse_args()
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() and not args.cpu_only else [])
    rows: list[tuple[str, dict[str, int]]] = [(name, {}) for name in args.models.split(',')]
    rows += [('como', {'z_dim': int(z)}) for z in args.z_dims.split(',') if z]
    print(f'{args.image_size}px, width {args.width}, batch {args.batch_size}, '
          f'{torch.get_num_threads()} CPU threads')
    header = (f'{"model":<13}{"device":>7}{"encode pairs/s":>16}{"train samples/s":>17}'
              f'{"GFLOP/sample":>14}{"GFLOP/s":>9}{"of matmul":>11}')
    for device in devices:
        peak = matmul_gflops(device)
        print(f'{device}: torch.matmul 2048x2048 float32 {peak:.1f} GFLOP/s')
        print(header + '\n' + '-' * len(header))
        for name, config in rows:
            speed = measure_model(name, device, args, **config)
            label = name + ''.join(f' z={v}' for v in config.values())
            print(f'{label:<13}{device:>7}{speed.encode_rate:>16.0f}{speed.train_rate:>17.1f}'
                  f'{speed.gflop_per_sample:>14.3f}{speed.achieved_gflops:>9.1f}'
                  f'{speed.achieved_gflops / peak:>11.0%}')


if __name__ == '__main__':
    main()
