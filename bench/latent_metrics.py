# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Train every latent model on simulated episodes and print one comparison table.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/latent_metrics.py [--steps 300]

Robot episodes are split by episode into train (probe fit) and held-out (probe
score); human episodes are scored zero-shot against the demonstrator's hidden
motion with the probe fit on robot latents. Writes <out>/cache (episode .npz),
<out>/<model>/checkpoint.{safetensors,json} and <out>/<model>.png.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
import time

from tqdm import tqdm

from lam_models.latent import LatentConfig
from lam_models.latent.episode_cache import save_episodes
from lam_models.latent.figures import save_latent_figure
from lam_models.latent.metrics import PixelDifferenceBaseline, evaluate_latent_model
from lam_models.latent.train import TrainConfig, train_latent_model
from lam_ros.sim import generate_episode

MODELS = ('como', 'stamo', 'clam', 'vq')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--tasks', default='push,pick_place,stack')
    parser.add_argument('--robot-episodes', type=int, default=48)
    parser.add_argument('--held-out', type=int, default=12)
    parser.add_argument('--human-episodes', type=int, default=12)
    parser.add_argument('--camera', default='third_person', help='same view for both embodiments')
    parser.add_argument('--image-size', type=int, default=LatentConfig.image_size,
                        help='model input size (config.image_size); the sim renders at it')
    parser.add_argument('--width', type=int, default=32, help='conv channels (small for CPU)')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--models', default=','.join(MODELS))
    parser.add_argument('--out', default='runs/latent_bench')
    args = parser.parse_args()
    out = Path(args.out)
    tasks = args.tasks.split(',')

    def simulate(count: int, embodiment: str, first_seed: int) -> list:
        return [generate_episode(tasks[i % len(tasks)], first_seed + i, embodiment, args.camera,
                                 args.image_size)
                for i in tqdm(range(count), desc=f'simulate {embodiment}')]

    robot = simulate(args.robot_episodes + args.held_out, 'robot', 0)
    fit, held_out = robot[:args.robot_episodes], robot[args.robot_episodes:]
    humans = simulate(args.human_episodes, 'human', 10_000)
    save_episodes(robot + humans, out / 'cache')
    print(f'{len(fit)} train / {len(held_out)} held-out robot episodes, {len(humans)} human; '
          f'{sum(map(len, fit))} train frames at {args.image_size}px')

    rows = {}
    for name in args.models.split(','):
        started = time.perf_counter()
        config = TrainConfig(out_dir=str(out / name), steps=args.steps,
                             batch_size=args.batch_size, resume=False, figure=False)
        model_config = {'image_size': args.image_size, 'width': args.width}
        model = train_latent_model(name, model_config, fit, config)
        seconds = time.perf_counter() - started
        rows[name] = (evaluate_latent_model(model, fit, held_out, humans), seconds)
        save_latent_figure(model, held_out, out / f'{name}.png')
    rows['pixel_diff'] = (evaluate_latent_model(
        PixelDifferenceBaseline(image_size=args.image_size), fit, held_out, humans), 0.0)

    header = (f'{"model":<11}{"LP-MSE":>9}{"LP-MSE human":>14}{"S-PCFC":>9}{"recon MSE":>11}'
              f'{"copy MSE":>10}{"collapse":>10}{"train s":>9}')
    print(header + '\n' + '-' * len(header))
    for name, (report, seconds) in rows.items():
        values = asdict(report)
        print(f'{name:<11}{values["lp_mse"]:>9.3f}{values["lp_mse_human"]:>14.3f}'
              f'{values["s_pcfc"]:>9.3f}{values["reconstruction"]:>11.5f}'
              f'{values["copy_error"]:>10.5f}{values["collapse_ratio"]:>10.3f}{seconds:>9.0f}')
    print('LP-MSE: ridge probe MSE / target variance on disjoint episodes (lower is better); '
          'collapse = recon / copy-o_t error.')
    if 'vq' in rows:
        beaten = [n for n in rows if n not in ('vq', 'pixel_diff')
                  and rows[n][0].lp_mse < rows['vq'][0].lp_mse]
        print(f'continuous models beating the discrete baseline on LP-MSE: {beaten}')
    print(f'figures: {out}/<model>.png')


if __name__ == '__main__':
    main()
