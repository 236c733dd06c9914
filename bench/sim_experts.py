# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Success of the scripted robot expert, the human demonstrator and a random policy.

Usage: python bench/sim_experts.py [--seeds 50] [--robot-model wx250s]
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

from lam_ros.sim import TASKS, WidowXEnv, generate_episode


def random_policy_success(task: str, seed: int, robot_model: str) -> bool:
    env = WidowXEnv(task, robot_model, camera=None, sim=random_policy_success.sims.get(task))
    random_policy_success.sims[task] = env.sim
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(env.max_steps):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            return bool(info['success'])
    return False


random_policy_success.sims = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--seeds', type=int, default=50)
    parser.add_argument('--robot-model', default='wx250s')
    args = parser.parse_args()
    seeds = range(args.seeds)
    rows = []
    for task in TASKS:
        start = time.perf_counter()
        robot = [generate_episode(task, s, 'robot', robot_model=args.robot_model)
                 for s in tqdm(seeds, desc=f'{task} robot', leave=False)]
        robot_s = time.perf_counter() - start
        human = [generate_episode(task, s, 'human', robot_model=args.robot_model)
                 for s in tqdm(seeds, desc=f'{task} human', leave=False)]
        random = [random_policy_success(task, s, args.robot_model)
                  for s in tqdm(seeds, desc=f'{task} random', leave=False)]
        rows.append((task, np.mean([e.success for e in robot]), np.mean([e.success for e in human]),
                     np.mean(random), np.mean([len(e) for e in robot]),
                     np.mean([len(e) for e in human]), robot_s / len(seeds)))
    print(f'{args.seeds} seeds, {args.robot_model}, 64x64 frames, 10 Hz control')
    print(f'{"task":<12}{"expert":>8}{"human":>8}{"random":>8}'
          f'{"len(expert)":>13}{"len(human)":>12}{"s/episode":>11}')
    for task, robot, human, random, robot_len, human_len, seconds in rows:
        print(f'{task:<12}{robot:>8.0%}{human:>8.0%}{random:>8.0%}'
              f'{robot_len:>13.1f}{human_len:>12.1f}{seconds:>11.2f}')


if __name__ == '__main__':
    main()
