# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Does looking first make behaviour cloning find the block? One table.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/look_first.py [--demos 200] [--quick]

pick_place on the simulated WidowX, ``--demos`` scripted robot demos over the whole
workspace in the scene's one fixed look (ego camera, 64 px), the diffusion policy, scored
closed loop on held-out seeds in the same look. Rows:

* behaviour cloning alone: ``train.look_first`` 0 and ``policy.waypoint_weight`` 0 (the
  trainer before the look-first stage), 3000 steps;
* look first: the trainer's defaults, 4500 steps (1500 looking, then the same 3000 acting).

Columns: success with its Wilson 95% interval, the median distance (cm) between the
gripper and the block where the policy first closed it, and the waypoint head's error
(xy, cm) at t = 0 on the held-out scenes' first frames: where it thinks the grasp will be,
before the arm moves. The last line is
``look-first: A% -> B% success, close error X -> Y cm (N demos, M held-out episodes)``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import numpy as np
from tqdm import tqdm

from lam_models.data.dataset import read_episodes, write_dataset
from lam_models.data.windows import PolicyWindows, WindowShape
from lam_models.policies import Policy
from lam_models.policies.train import PolicyTrainConfig, train_policy
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim import generate_episode
from lam_ros.sim.evaluate import evaluate_policy

TASK = 'pick_place'
TRAIN_SEED_START = 70_000   # disjoint from the other benches' training seeds


def demos(seeds: range, image_size: int, cache: Path) -> PolicyWindows:
    """Scripted fixed-look demos of ``seeds``, cached as an HDF5 dataset."""
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_dataset([generate_episode(TASK, seed, 'robot', 'ego', image_size, randomize=False)
                       for seed in tqdm(seeds, desc=f'simulate {cache.stem}')], cache)
    episodes = read_episodes(cache)
    if any(ep.effector_positions is None for ep in episodes):   # waypoints from the path
        raise SystemExit(f'look_first: {cache} was made by an older simulator (no effector '
                         'path); delete it and the policies trained on it')
    if episodes[0].frames.shape[1] != image_size:   # resized, they would train silently
        raise SystemExit(f'look_first: {cache} holds {episodes[0].frames.shape[1]} px frames, '
                         f'not --image-size {image_size}: give this size its own --out')
    return PolicyWindows(episodes, WindowShape(image_size=image_size))


def waypoint_error_cm(policy: Policy, windows: PolicyWindows) -> float:
    """Mean xy distance (cm) of the predicted grasp from the demo's, on first frames."""
    rows = np.flatnonzero(windows.time_of == 0)
    batch = windows.batch(rows)
    found = policy.predict_waypoints(batch['images'], batch['state'], batch['state_valid'])
    return float(100 * (found.cpu() - batch['waypoints'])[:, 0, :2].norm(dim=-1).mean())


def cm(value: float | None) -> str:
    """A distance in cm, or '-' where there is none (no close, no trained head)."""
    return '-' if value is None or np.isnan(value) else f'{value:.1f}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--demos', type=int, default=200)
    parser.add_argument('--eval-episodes', type=int, default=50)
    parser.add_argument('--act-steps', type=int, default=3000,
                        help='behaviour-cloning steps, the same in both rows')
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--num-envs', type=int, default=10)
    parser.add_argument('--quick', action='store_true', help='minutes, to check the plumbing')
    parser.add_argument('--out', default='runs/look_first')
    args = parser.parse_args()
    if args.quick:
        args.demos, args.eval_episodes, args.act_steps = 4, 2, 20
        args.out += '_quick'
    out = Path(args.out)
    train = demos(range(TRAIN_SEED_START, TRAIN_SEED_START + args.demos), args.image_size,
                  out / 'cache' / f'train_{args.demos}.h5')
    seeds = range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + args.eval_episodes)
    held_out = demos(seeds, args.image_size, out / 'cache' / f'held_out_{args.eval_episodes}.h5')
    # the look stage is a third of all steps: 1500 looking + act_steps acting
    rows = [('behaviour cloning alone', {'waypoint_weight': 0.0}, 0.0, args.act_steps),
            ('look first', {}, 1 / 3, args.act_steps * 3 // 2)]
    lines = ['| training | steps | success | close cm (median) | grasp guess at t=0, cm | s |',
             '|---|---|---|---|---|---|']
    results = []
    for label, policy_config, look_first, steps in rows:
        clock = time.perf_counter()
        policy = train_policy('diffusion', policy_config, train, PolicyTrainConfig(
            out_dir=str(out / f'{label.replace(" ", "_")}_{args.demos}_s{steps}'), steps=steps,
            look_first=look_first, progress=True))
        train_s = time.perf_counter() - clock
        result = evaluate_policy(policy, [TASK], seeds, num_envs=args.num_envs,
                                 randomize=False).tasks[TASK]
        low, high = result.interval
        guess = waypoint_error_cm(policy, held_out) if look_first else float('nan')
        results.append((result.rate, result.median_close_error_cm))
        lines.append(f'| {label} | {steps} | {result.successes}/{result.n} '
                     f'({100 * result.rate:.0f}% [{100 * low:.0f}, {100 * high:.0f}]) | '
                     f'{cm(result.median_close_error_cm)} | {cm(guess)} | {train_s:.0f} |')
        tqdm.write(lines[-1])
    print(f'\n{TASK}, {args.demos} fixed-look demos (whole workspace), diffusion, '
          f'{args.eval_episodes} held-out scenes (Wilson 95%)')
    print('\n'.join(lines))
    (before, close_before), (after, close_after) = results
    print(f'look-first: {100 * before:.0f}% -> {100 * after:.0f}% success, close error '
          f'{cm(close_before)} -> {cm(close_after)} cm ({args.demos} demos, '
          f'{args.eval_episodes} held-out episodes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
