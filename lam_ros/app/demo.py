# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: the whole loop that exists today, on the simulated WidowX.

1. collect: the collect graph (sim, arm, teleop, recorder nodes in one process)
   records scripted robot demos and simulated human episodes to MCAP, both filmed
   from the same ``ego`` camera (the operator's head behind the robot base), each
   scene with its own seeded colours, light and head pose;
2. read them back with the one bag reader;
3. label: train a CoMo latent motion model on those episodes and write
   continuous pseudo-actions for the human episodes.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import sys

import numpy as np
import yaml

from lam_ros.app.cli import run_graph
from lam_ros.app.paths import config_file
from lam_ros.interfaces import topics

CAMERA = topics.camera_topics('camera')['color']   # renders POLICY_CAMERA
POLICY_CAMERA = 'ego'


def collect(output_dir: Path, episodes: int) -> None:
    """Record ``episodes`` robot and human episodes through the ROS graph."""
    for mode in ('robot', 'human'):
        print(f'\n== collect: {episodes} {mode} episodes (use_sim:=true mode:={mode} '
              f'policy_camera:={POLICY_CAMERA}) ==', flush=True)
        code = run_graph('collect', [f'output_dir:={output_dir}', f'mode:={mode}',
                                     f'session:={mode}', f'episodes:={episodes}',
                                     f'policy_camera:={POLICY_CAMERA}'])
        if code != 0:
            raise SystemExit(f'collect graph exited with {code}')


def main(argv: list[str] | None = None) -> int:
    """Run collect -> read -> label and say what was produced."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--output-dir', default='runs/demo', type=Path)
    parser.add_argument('--episodes', type=int, default=5, help='per embodiment')
    parser.add_argument('--train-steps', type=int, default=150)
    args = parser.parse_args(argv)
    if args.output_dir.exists():
        shutil.rmtree(args.output_dir)
    collect(args.output_dir, args.episodes)

    from lam_models.data.bags import read_session
    print('\n== recorded episodes ==')
    sessions = {mode: read_session(args.output_dir / mode, camera_topic=CAMERA)
                for mode in ('robot', 'human')}
    for episodes in sessions.values():
        for episode in episodes:
            actions = 'none' if episode.actions is None else str(episode.actions.shape)
            print(f'{episode.metadata["bag_dir"]}: {len(episode)} frames '
                  f'{episode.frames.shape[1:]}, actions {actions}, task {episode.task!r}, '
                  f'success {episode.success}')

    label(args.output_dir, sessions, args.train_steps)
    return 0


def label(output_dir: Path, sessions: dict, train_steps: int) -> None:
    """Train CoMo on the recorded frames, write pseudo-actions for the human episodes."""
    from lam_models.latent.labeling import label_frames
    from lam_models.latent.train import TrainConfig, train_latent_model

    print(f'\n== label: CoMo, {train_steps} steps on the recorded episodes ==', flush=True)
    model_config = yaml.safe_load(config_file('latent/como.yaml').read_text())
    model_config.pop('name')
    robot, human = sessions['robot'], sessions['human']  # resized to the model's image_size
    run_dir = output_dir / 'como'
    model = train_latent_model('como', model_config, robot + human, TrainConfig(
        out_dir=str(run_dir), steps=train_steps, batch_size=32, save_every=train_steps))
    labels_dir = output_dir / 'pseudo_actions'
    labels_dir.mkdir(exist_ok=True)
    for episode in human:
        values, valid = label_frames(model, episode.frames)
        name = Path(episode.metadata['bag_dir']).name
        np.savez(labels_dir / f'{name}.npz', values=values, valid=valid)
        print(f'{labels_dir / name}.npz: pseudo_actions {values.shape}, '
              f'{int(valid.sum())} valid')
    print(f'\nproduced: robot + human bags under {output_dir}/{{robot,human}}/, '
          f'a CoMo checkpoint and TensorBoard logs under {run_dir}/, '
          f'pseudo-actions under {labels_dir}/')


if __name__ == '__main__':
    sys.exit(main())
