# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Train/deploy skew: one checkpoint, the same scenes, through ROS and through the gym eval.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/deploy_vs_eval.py \
        --checkpoint runs/demo/policy_co-trained/checkpoint --episodes 20

``lam-ros eval`` (``lam_ros.sim.evaluate``: gym env, synchronous, no ROS) and the deploy
graph (``lam_ros.app.deploy_eval``: sim node in wall-clock time, arm safety layer,
controller with the forward pass off the executor thread) run the checkpoint on the same
held-out seeds, with frames rendered at the deploy graph's size and resized the same way.
Both success rates are printed with Wilson 95% intervals, per-seed agreement beside them;
the last line says whether each rate lies inside the other's interval.
"""
from __future__ import annotations

import argparse
import sys

from lam_models.policies import load_policy
from lam_ros.app.deploy_eval import run_deploy_episodes
from lam_ros.app.graph import load_params_file
from lam_ros.app.paths import config_file
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim.evaluate import evaluate_policy, wilson_interval


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', default='runs/demo/policy_co-trained/checkpoint')
    parser.add_argument('--task', default='pick_place')
    parser.add_argument('--episodes', type=int, default=20)
    parser.add_argument('--seed-start', type=int, default=HELD_OUT_SEED_START)
    args = parser.parse_args()
    sim = load_params_file(str(config_file('deploy.yaml')))['sim']
    seeds = list(range(args.seed_start, args.seed_start + args.episodes))

    policy = load_policy(args.checkpoint)
    if getattr(policy.config, 'avatar', False):   # the controller would refuse it, after the eval
        raise SystemExit(f'deploy_vs_eval: {args.checkpoint} was trained on avatar frames, and '
                         'the deploy graph films the arm itself')
    print(f'eval (gym, no ROS): {args.episodes} {args.task} episodes, frames rendered at '
          f'{sim["image_width"]} px', flush=True)
    report = evaluate_policy(policy, [args.task], seeds, render_size=sim['image_width'])
    offline = {record.seed: record.success for record in report.tasks[args.task].episodes}
    print(f'deploy (ROS graph): the same {args.episodes} scenes', flush=True)
    run = run_deploy_episodes(args.checkpoint, args.task, args.episodes, args.seed_start)
    online = {episode.seed: episode.success for episode in run.episodes}

    rows = []
    for name, results in (('eval (gym)', offline), ('deploy (ROS)', online)):
        k = sum(results.values())
        rows.append((name, k, *wilson_interval(k, len(results))))
    print(f'\n{"path":<14}{"success":>10}{"rate":>7}{"95% CI":>16}')
    for name, k, low, high in rows:
        print(f'{name:<14}{f"{k}/{args.episodes}":>10}{k / args.episodes:>7.0%}'
              f'{f"[{low:.0%}, {high:.0%}]":>16}')
    agree = sum(offline[s] == online[s] for s in seeds)
    print(f'same outcome on {agree} of {args.episodes} seeds')
    (_, k_eval, low_eval, high_eval), (_, k_deploy, low_deploy, high_deploy) = rows
    consistent = (low_eval <= k_deploy / args.episodes <= high_eval
                  and low_deploy <= k_eval / args.episodes <= high_deploy)
    print(f'deploy vs eval: deploy {k_deploy / args.episodes:.0%}, eval '
          f'{k_eval / args.episodes:.0%}: {"within" if consistent else "outside"} each '
          f"other's 95% intervals")
    return 0


if __name__ == '__main__':
    sys.exit(main())
