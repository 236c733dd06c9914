# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Can the policy's image encoder find the objects? A supervised probe, in minutes.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/policy_vision.py [--task pick_place]

Closed-loop success mixes seeing with acting. This bench isolates seeing: the policies'
image encoder and image transform (the default diffusion policy's, seeing one frame where a
policy stacks ``obs_horizon``) plus a small MLP are trained, supervised, to regress where
each task object starts (x, y on the table, from the simulator) from one ``ego`` frame of
the first ``--frames`` steps of ``--episodes`` robot demos, and scored on held-out scenes.
One row per random-shift setting; the last line reports the policies' own setting. If the
encoder finds the objects here but a behaviour-cloned policy with the same encoder does not
act on them, the BC loss is what fails to teach it, not the encoder's capacity (issue 12,
session 6).
The last line is ``vision probe: held-out block error X cm (shift S; mean guess Y cm)``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm import tqdm

from lam_models.policies import Policy, make_policy
from lam_models.policies.layers import random_shift
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim import WidowXEnv, generate_episode

TRAIN_SEED_START = 60_000   # disjoint from the other benches' training seeds (< 50 000)


def scenes(task: str, seeds: range, frames: int, image_size: int, randomize: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """The first ``frames`` frames of each seed's demo, and its objects' start (x, y) (cm)."""
    images, positions = [], []
    env = WidowXEnv(task, camera=None, randomize=False)   # the layout does not depend on the look
    for seed in tqdm(seeds, desc=f'simulate {task}', leave=False):
        episode = generate_episode(task, seed, 'robot', 'ego', image_size, randomize=randomize,
                                   max_steps=frames)
        env.reset(seed=seed)
        start = np.concatenate([env.sim.object_position(o.name)[:2] for o in env.task.objects])
        images.append(episode.frames[:frames])
        positions.append(np.repeat(100 * start[None], len(images[-1]), 0))
    return np.concatenate(images), np.concatenate(positions).astype(np.float32)


def probe(train: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray],
          shift: int, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Train encoder + MLP on ``train``; per-object mean distance error (cm) on both sets."""
    torch.manual_seed(seed)
    policy = one_frame_policy()
    encoder = policy.observation.image

    def to_input(frames: np.ndarray) -> torch.Tensor:   # the policies' one image transform
        return policy.preprocess(torch.from_numpy(frames)[:, None])

    head = nn.Sequential(nn.Linear(encoder.out_dim, 256), nn.GELU(),
                         nn.Linear(256, train[1].shape[1]))
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], 1e-3)
    mean, std = train[1].mean(0), train[1].std(0)
    targets = torch.from_numpy((train[1] - mean) / std)
    generator = np.random.default_rng(seed)
    for _ in tqdm(range(steps), desc=f'probe shift {shift}', leave=False):
        rows = generator.integers(0, len(targets), 64)
        images = to_input(train[0][rows])
        if shift:
            images = random_shift(images, shift)
        loss = F.mse_loss(head(encoder(images.flatten(1, 2))), targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def error(frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            predicted = head(encoder(to_input(frames).flatten(1, 2))).numpy() * std + mean
        return np.linalg.norm((predicted - positions).reshape(len(frames), -1, 2), axis=2).mean(0)
    return {'train': error(*train), 'held_out': error(*held_out),
            'mean_guess': np.linalg.norm((held_out[1] - mean).reshape(len(held_out[1]), -1, 2),
                                         axis=2).mean(0)}


def one_frame_policy() -> Policy:
    """The default diffusion policy, seeing one frame: its encoder is what the probe trains."""
    return make_policy('diffusion', obs_horizon=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', default='pick_place')
    parser.add_argument('--episodes', type=int, default=50, help='training scenes')
    parser.add_argument('--held-out', type=int, default=30, help='held-out scenes')
    parser.add_argument('--frames', type=int, default=8, help='first frames of each scene')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--shifts', default=None,
                        help="random-shift pixels, one row each (default: the policies' and 0)")
    parser.add_argument('--look', choices=('fixed', 'randomized'), default='fixed')
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = one_frame_policy().config
    randomize = args.look == 'randomized'
    shifts = [int(s) for s in args.shifts.split(',')] if args.shifts else \
        [config.shift_pixels, 0]
    train = scenes(args.task, range(TRAIN_SEED_START, TRAIN_SEED_START + args.episodes),
                   args.frames, config.image_size, randomize)
    held_out = scenes(args.task, range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + args.held_out),
                      args.frames, config.image_size, randomize)
    objects = [o.name for o in WidowXEnv(args.task, camera=None).task.objects]
    print(f'{args.task}, {args.look} look, {args.episodes} training scenes x {args.frames} '
          f'frames, {args.held_out} held-out scenes; mean distance error per object (cm)')
    header = ['shift px', *(f'{name} {column}' for column in ('train', 'held-out', 'mean guess')
                            for name in objects), 's']
    print('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header))
    results = {}
    for shift in shifts:
        clock = time.perf_counter()
        results[shift] = errors = probe(train, held_out, shift, args.steps)
        print('| ' + ' | '.join([str(shift), *(f'{e:.1f}' for e in errors['train']),
                                 *(f'{e:.1f}' for e in errors['held_out']),
                                 *(f'{e:.1f}' for e in errors['mean_guess']),
                                 f'{time.perf_counter() - clock:.0f}']) + ' |')
    headline = shifts[0]   # the policies' setting by default; never picked by held-out error
    print(f'vision probe: held-out {objects[0]} error {results[headline]["held_out"][0]:.1f} cm '
          f'(shift {headline}; mean guess {results[headline]["mean_guess"][0]:.1f} cm)')


if __name__ == '__main__':
    main()
