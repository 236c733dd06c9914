# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: the whole loop on the simulated WidowX, small budgets, one command.

1. collect: the collect graph (sim, arm, teleop, recorder nodes in one process) records
   scripted robot demos and simulated human episodes to MCAP, both filmed from the same
   ``ego`` camera (the operator's head behind the robot base);
2. dataset: the bags become one HDF5 file (``lam-ros dataset build``);
3. label: a CoMo latent motion model trains on both embodiments' video and writes
   continuous pseudo-actions for every episode (``lam-ros label``);
4. train: a robot-only policy, and a co-trained one whose latent head also learns the
   human episodes' pseudo-actions (``lam_models.policies.train``);
5. deploy: both run closed loop through the ROS deploy graph (sim, arm safety layer,
   controller) on held-out scenes, and their success rates are printed side by side.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import sys
import time

from lam_ros.app.cli import recorded_effector_path, run_graph
from lam_ros.interfaces import topics
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START

CAMERA = topics.camera_topics('camera')['color']   # renders POLICY_CAMERA
POLICY_CAMERA = 'ego'
TASK = 'pick_place'       # config/collect.yaml's and config/deploy.yaml's scene


def step(title: str) -> None:
    """Announce the next stage of the demo."""
    print(f'\n== {title} ==', flush=True)


def collect(output_dir: Path, episodes: int) -> list[Path]:
    """Record ``episodes`` robot and human episodes through the ROS graph."""
    sessions = []
    for mode in ('robot', 'human'):
        step(f'collect: {episodes} {mode} episodes (use_sim:=true mode:={mode} '
             f'policy_camera:={POLICY_CAMERA})')
        code = run_graph('collect', [f'output_dir:={output_dir}', f'mode:={mode}',
                                     f'session:={mode}', f'episodes:={episodes}',
                                     f'policy_camera:={POLICY_CAMERA}'])
        if code != 0:
            raise SystemExit(f'collect graph exited with {code}')
        sessions.append(output_dir / mode)
    return sessions


def main(argv: list[str] | None = None) -> int:
    """Collect -> dataset -> label -> train two policies -> deploy both -> compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--output-dir', default='runs/demo', type=Path)
    parser.add_argument('--episodes', type=int, default=8, help='collected per embodiment')
    parser.add_argument('--latent-steps', type=int, default=300)
    parser.add_argument('--policy', default='autoregressive')
    parser.add_argument('--policy-steps', type=int, default=600)
    parser.add_argument('--eval-episodes', type=int, default=4, help='per policy, deploy graph')
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = args.output_dir
    if out.exists():
        shutil.rmtree(out)
    sessions = collect(out, args.episodes)

    from lam_models.data.dataset import build_dataset
    step('dataset: lam-ros dataset build')
    dataset = out / 'dataset.h5'
    count = build_dataset(sessions, dataset, camera_topic=CAMERA, progress=True,
                          effector_path=recorded_effector_path)
    print(f'{dataset}: {count} episodes')

    step(f'label: CoMo, {args.latent_steps} steps on both embodiments, then lam-ros label')
    latent_checkpoint = train_latent(dataset, out / 'como', args.latent_steps)
    from lam_models.latent.label_dataset import label_dataset, load_labeler
    label_dataset(dataset, *load_labeler(latent_checkpoint))

    results = {}
    for name, pseudo_actions in (('robot-only', None), ('co-trained', 'como')):
        step(f'train: {name} {args.policy} policy, {args.policy_steps} steps')
        checkpoint = train(dataset, out / f'policy_{name}', args.policy, args.policy_steps,
                           pseudo_actions)
        step(f'deploy: {name} policy through the ROS deploy graph, {args.eval_episodes} '
             f'held-out {TASK} scenes')
        from lam_ros.app.deploy_eval import run_deploy_episodes
        run = run_deploy_episodes(str(checkpoint), TASK, args.eval_episodes, HELD_OUT_SEED_START)
        results[name] = run.successes / len(run.episodes)

    print(f'\nproduced under {out}/: bags robot/ human/, dataset.h5 (+ pseudo_actions/como), '
          f'como/ (latent checkpoint, TensorBoard), policy_robot-only/ and policy_co-trained/ '
          f'(checkpoints, TensorBoard, loss.png); {time.perf_counter() - started:.0f} s')
    print(f'demo: robot-only {100 * results["robot-only"]:.0f}%, co-trained '
          f'{100 * results["co-trained"]:.0f}% over {args.eval_episodes} episodes through the '
          f'deploy graph')
    return 0


def train_latent(dataset: Path, run_dir: Path, steps: int) -> Path:
    """CoMo on every episode's frames (robot and human); returns its checkpoint."""
    from lam_models.data.dataset import read_episodes
    from lam_models.latent.base import model_class
    from lam_models.latent.train import CHECKPOINT_NAME, TrainConfig, train_latent_model
    image_size = model_class('como').config_class().image_size
    train_latent_model('como', {}, read_episodes(dataset, image_size=image_size), TrainConfig(
        out_dir=str(run_dir), steps=steps, batch_size=32, save_every=steps))
    return run_dir / CHECKPOINT_NAME


def train(dataset: Path, run_dir: Path, policy: str, steps: int, pseudo_actions: str | None
          ) -> Path:
    """One policy on the dataset (with the human episodes' labels when ``pseudo_actions``)."""
    from lam_models.data.windows import PolicyWindows, WindowShape
    from lam_models.policies.train import CHECKPOINT_NAME, PolicyTrainConfig, train_policy
    windows = PolicyWindows.from_dataset(dataset, WindowShape(), pseudo_actions)
    train_policy(policy, {}, windows, PolicyTrainConfig(
        out_dir=str(run_dir), pseudo_actions=pseudo_actions, steps=steps, batch_size=32,
        save_every=steps, log_every=25))
    return run_dir / CHECKPOINT_NAME


if __name__ == '__main__':
    sys.exit(main())
