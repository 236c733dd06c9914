# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How fast a learned policy closes the loop through the ROS deploy graph, per policy type.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/deploy_latency.py [--seconds 20]

For each policy type (an untrained policy of the default size: latency does not depend on
the weights; or ``--checkpoint`` ones), the deploy graph runs on the simulated arm over
Fast DDS for ``--seconds`` per episode and the controller's reports are collected:
achieved command rate vs the timer's ``rate_hz``, the forward pass (``inference``), the
observation->command latency of each chunk's first command (camera frame arrival to
publish), and each as a share of the control period. Goals on 2 CPU cores (issue 13): the
autoregressive policy at >= 30 Hz with p99 latency below one period; diffusion >= 10 Hz
effective with chunking.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile

import numpy as np
import torch

from lam_models.data.episode import CONTROL_RATE_HZ
from lam_models.policies import load_policy, make_policy, save_policy
from lam_ros.app.deploy_eval import run_deploy_episodes

GOALS_HZ = {'autoregressive': 30.0, 'diffusion': 10.0}


def untrained_checkpoint(name: str, directory: Path) -> str:
    """A default-size policy with identity normalization, for timing only."""
    torch.manual_seed(0)
    policy = make_policy(name, action_space='joint_position [arm joints, gripper]')
    config = policy.config
    policy.set_normalization({
        'action_mean': torch.tensor([0.0, -0.2, 0.4, 0.0, 1.3, 0.0, 1.0])[:config.action_dim],
        'action_std': torch.full((config.action_dim,), 1e-3),   # commands stay near home
        'state_mean': torch.zeros(config.state_dim), 'state_std': torch.ones(config.state_dim),
        'latent_mean': torch.zeros(config.latent_dim),
        'latent_std': torch.ones(config.latent_dim)})
    path = directory / name
    save_policy(path, policy)
    return str(path)


def measure(checkpoint: str, rate_hz: float, seconds: float) -> dict[str, float]:
    """One long episode through the graph; the controller's chunk reports and command times."""
    steps = int(seconds * rate_hz)
    run = run_deploy_episodes(checkpoint, 'pick_place', episodes=1, rate_hz=rate_hz,
                              progress=False, steps=steps)
    chunks = [r for r in run.controller_reports if r.get('message') == 'chunk']
    commands = np.array(run.commands)
    if len(commands) < 3 or not chunks:
        raise RuntimeError(f'{checkpoint}: the controller sent {len(commands)} commands')
    steady = commands[len(commands) // 5:]      # after start-up (first frames, first pass)
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    inference = np.array([r['inference_s'] for r in chunks[1:] or chunks])
    latency = np.array([r['observation_age_s'] for r in chunks[1:] or chunks])
    return {'rate': rate, 'inference_p50': np.percentile(inference, 50),
            'inference_p99': np.percentile(inference, 99),
            'latency_p50': np.percentile(latency, 50), 'latency_p99': np.percentile(latency, 99),
            'chunks': len(chunks)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--policies', default='autoregressive,diffusion')
    parser.add_argument('--checkpoint', action='append', default=[],
                        help='name=path of a trained policy (repeatable); else untrained')
    parser.add_argument('--rate-hz', default='',
                        help='name=Hz,...; default: the goal rate (autoregressive 30, '
                             "diffusion 10), or a trained --checkpoint's data rate, the only "
                             'one the controller runs it at')
    parser.add_argument('--seconds', type=float, default=20.0)
    args = parser.parse_args()
    given = dict(item.split('=', 1) for item in args.checkpoint)
    rates = {**GOALS_HZ, **{name: load_policy(path).config.control_rate_hz
                            or GOALS_HZ.get(name, CONTROL_RATE_HZ)
                            for name, path in given.items()},
             **{k: float(v) for k, v in (item.split('=') for item in args.rate_hz.split(',')
                                         if item)}}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.policies.split(','):
            checkpoint = given.get(name) or untrained_checkpoint(name, Path(tmp))
            print(f'{name}: {args.seconds:.0f} s through the deploy graph at '
                  f'rate_hz:={rates[name]:g}', flush=True)
            results[name] = measure(checkpoint, rates[name], args.seconds)

    header = (f'{"policy":<16}{"rate_hz":>8}{"achieved":>10}{"infer p50":>11}{"p99":>8}'
              f'{"obs->cmd p50":>14}{"p99":>8}{"p99/period":>12}{"chunks":>8}')
    print('\n' + header)
    met = []
    for name, r in results.items():
        period = 1.0 / rates[name]
        print(f'{name:<16}{rates[name]:>8.0f}{r["rate"]:>9.1f}/s{1e3 * r["inference_p50"]:>9.0f}ms'
              f'{1e3 * r["inference_p99"]:>6.0f}ms{1e3 * r["latency_p50"]:>12.0f}ms'
              f'{1e3 * r["latency_p99"]:>6.0f}ms{r["latency_p99"] / period:>12.2f}'
              f'{r["chunks"]:>8}')
        goal = GOALS_HZ.get(name)
        if goal is not None:
            ok = r['rate'] >= 0.95 * goal and (name != 'autoregressive'
                                              or r['latency_p99'] < period)
            met.append((name, ok, f'{r["rate"]:.1f} commands/s (goal {goal:g})'
                        + (f', p99 {1e3 * r["latency_p99"]:.0f} ms vs period '
                           f'{1e3 * period:.0f} ms' if name == 'autoregressive' else '')))
    for name, ok, detail in met:
        print(f'  [{"x" if ok else " "}] {name}: {detail}')
    print(f'deploy latency goals met: {sum(ok for _, ok, _ in met)} of {len(met)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
