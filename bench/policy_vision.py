# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Can the policy's image encoder find the objects, and from how many scenes? A supervised probe.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/policy_vision.py [--scenes 50,200,400]

Closed-loop success mixes seeing with acting. This bench isolates seeing: the policies'
image encoder and image transform (the default diffusion policy's, seeing one frame where a
policy stacks ``obs_horizon``) plus a small MLP are trained, supervised, to regress where
each task object starts (x, y on the table, from the simulator), and scored on held-out
scenes. Each scene gives its *first* frame only, the arm still at its start pose: once the
arm moves, its heading points at the block and a probe (or a policy) reads the answer off the
arm instead of seeing the block. (Session 6 trained on the first 8 frames and reported 1.0 cm
from 50 scenes; from first frames alone the same 50 scenes give ~4.6 cm.) One row per number
of training scenes: 50 is the robot-demo budget of the policy experiments, more is what many
scenes (human videos, say) could teach. ``--train-on human`` trains on human demos' first
frames instead (their randomized looks, the hand at its start) and still scores on the
robot's: whether seeing the block is something human video can teach the robot's encoder.
The last line is ``vision probe: held-out block error (robot-trained) X cm from N scenes, ...``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm import tqdm

from lam_models.data.episode import Embodiment
from lam_models.policies import Policy, make_policy
from lam_models.policies.layers import random_shift
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim import WidowXEnv
from lam_ros.sim.tasks import make_task

TRAIN_SEED_START = 60_000   # disjoint from the other benches' training seeds (< 50 000)


def scenes(task: str, seeds: range, image_size: int, randomize: bool,
           embodiment: Embodiment = 'robot') -> tuple[np.ndarray, np.ndarray]:
    """Each seed's first ego frame, and its objects' start (x, y) (cm)."""
    images, positions = [], []
    env = WidowXEnv(task, embodiment=embodiment, camera='ego', image_size=image_size,
                    randomize=randomize)   # a demo's first frame is its env's reset frame
    for seed in tqdm(seeds, desc=f'simulate {task} ({embodiment})', leave=False):
        obs, _ = env.reset(seed=seed)
        images.append(obs['image'])
        positions.append(100 * np.concatenate([env.sim.object_position(o.name)[:2]
                                               for o in env.task.objects]))
    env.close()
    return np.stack(images), np.stack(positions).astype(np.float32)


def probe(train: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray],
          shift: int, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Train encoder + MLP on ``train``; per-object mean distance error (cm) on both sets."""
    torch.manual_seed(seed)
    policy = one_frame_policy(train[0].shape[1])
    encoder = policy.observation.image

    def to_input(frames: np.ndarray) -> torch.Tensor:   # the policies' one image transform
        return policy.preprocess(torch.from_numpy(frames)[:, None])

    head = nn.Sequential(nn.Linear(encoder.out_dim, 256), nn.GELU(),
                         nn.Linear(256, train[1].shape[1]))
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], 1e-3)
    mean, std = train[1].mean(0), train[1].std(0)
    targets = torch.from_numpy((train[1] - mean) / std)
    generator = np.random.default_rng(seed)
    for _ in tqdm(range(steps), desc=f'probe, {len(targets)} scenes', leave=False):
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


def one_frame_policy(image_size: int | None = None) -> Policy:
    """The default diffusion policy, seeing one frame: its encoder is what the probe trains."""
    return make_policy('diffusion', obs_horizon=1,
                       **({} if image_size is None else {'image_size': image_size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', default='pick_place')
    parser.add_argument('--scenes', default='50,200,400', help='training scenes, one row each')
    parser.add_argument('--held-out', type=int, default=30, help='held-out scenes')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--shift', type=int, default=None,
                        help="random-shift pixels (default: the policies')")
    parser.add_argument('--look', choices=('fixed', 'randomized'), default='fixed',
                        help="the robot's look (held-out scenes; training with --train-on robot)")
    parser.add_argument('--train-on', choices=('robot', 'human'), default='robot',
                        help='human: train on human first frames (randomized looks, as human '
                             "videos are), score on the robot's: can human video teach seeing?")
    parser.add_argument('--image-size', type=int, default=None,
                        help="frames' side, pixels (default: the policies')")
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = one_frame_policy(args.image_size).config
    shift = config.shift_pixels if args.shift is None else args.shift
    randomize = args.look == 'randomized'
    counts = [int(n) for n in args.scenes.split(',')]
    human = args.train_on == 'human'
    train = scenes(args.task, range(TRAIN_SEED_START, TRAIN_SEED_START + max(counts)),
                   config.image_size, randomize or human, args.train_on)
    held_out = scenes(args.task, range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + args.held_out),
                      config.image_size, randomize)
    objects = [o.name for o in make_task(args.task).objects]
    trained_on = 'human scenes (randomized looks)' if human else 'robot scenes'
    print(f'{args.task}, first ego frame of each scene, random shift {shift} px; trained on '
          f'{trained_on}, scored on {args.held_out} held-out robot scenes ({args.look} look); '
          'mean distance error per object (cm)')
    header = ['training scenes', *(f'{name} {column}' for column in
                                   ('train', 'held-out', 'mean guess') for name in objects), 's']
    print('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header))
    results = {}
    for count in counts:
        clock = time.perf_counter()
        results[count] = errors = probe((train[0][:count], train[1][:count]), held_out, shift,
                                        args.steps)
        print('| ' + ' | '.join([str(count), *(f'{e:.1f}' for e in errors['train']),
                                 *(f'{e:.1f}' for e in errors['held_out']),
                                 *(f'{e:.1f}' for e in errors['mean_guess']),
                                 f'{time.perf_counter() - clock:.0f}']) + ' |')
    print(f'vision probe: held-out {objects[0]} error ({args.train_on}-trained) '
          + ', '.join(f'{results[n]["held_out"][0]:.1f} cm from {n} scenes' for n in counts)
          + f' (mean guess {results[counts[0]]["mean_guess"][0]:.1f} cm)')


if __name__ == '__main__':
    main()
