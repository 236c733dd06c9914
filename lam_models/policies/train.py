# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Co-train a policy on robot demos and pseudo-labelled human video.

    python -m lam_models.policies.train policy=diffusion dataset=runs/demo/dataset.h5
        train.pseudo_actions=como train.steps=3000   (one line)
    torchrun --nproc_per_node=2 -m lam_models.policies.train policy=autoregressive ...

One loop, top to bottom, in two stages. **Look first**: the first ``look_first`` share of
the steps trains only the observation encoder and its waypoint head, on each episode's
first frames, to say where the effector will grasp and release (``PolicyWindows``'
waypoints); with pseudo-actions, human first frames train a latent head that reads the
encoder directly (diffusion's, the CLAM route's) in the same stage. Behaviour cloning
alone leaves those frames under-trained: they are ~2% of the rows and every later one can
be solved from the arm's own heading, so policies closed the gripper ~8 cm from the block
on new scenes. Then **act**: each step draws ``robot_fraction`` of the batch from robot
episodes (action head, and the latent head on their own labels) and the rest from human
episodes (latent head only: no actions). ``pseudo_actions=null`` (no labels) trains a
robot-only policy with no latent head: the baseline co-training must beat. Human rows
with actions (the bench's oracle) train the action head as well, still as human rows.
Rank 0 writes ``<out_dir>/checkpoint.{safetensors,json}`` (policy, normalization stats,
optimizer, step), TensorBoard scalars and a loss-curve PNG; the same out_dir resumes, with
the look-first stage it began with (more ``train.steps`` lengthen the acting stage).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from lam_models.data.windows import PolicyWindows, WindowShape
from lam_models.policies.base import (
    CHECKPOINTS,
    Policy,
    available_policies,
    make_policy,
    policy_class,
)
from lam_models.training import (
    CHECKPOINT_NAME,  # imported from here too (lam_ros/app/demo.py)
    TrainingLog,
    distributed,
    init_distributed,
    optimizer_step,
    pick_device,
    resume_state,
    save_state,
    step_rng,
    store_config_group,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'config' / 'policy'


@dataclass
class PolicyTrainConfig:
    """Optimisation and data-mix knobs: ``train.*`` of the hydra config (defaults here)."""

    out_dir: str = 'runs/policy'
    pseudo_actions: str | None = None  # latent model whose labels train the latent head
    robot_fraction: float = 0.5     # share of each batch drawn from robot episodes
    steps: int = 4500
    proprio: bool = True            # the joint positions as the policy's state; False: images
    #   only, every row seen as a human row is (the hydra entry point builds its windows so)
    human_acts: bool = True         # human episodes' actions (an oracle's, decoded ones) train
    #   the action head; False: they give only their look target (PolicyWindows(human_acts=))
    look_first: float = 1 / 3       # share of the steps in the look-first stage; 0: none
    batch_size: int = 64            # global: split across DDP ranks
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    save_every: int = 1000
    resume: bool = True             # continue from out_dir/checkpoint.* (its look-first length)
    device: str = 'auto'            # auto | cpu | cuda
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.robot_fraction <= 1.0:
            raise ValueError(f'train.robot_fraction must be in [0, 1], got {self.robot_fraction}')
        if not 0.0 <= self.look_first < 1.0:
            raise ValueError(f'train.look_first must be in [0, 1), got {self.look_first}')
        for name in ('steps', 'batch_size', 'log_every', 'save_every'):
            if getattr(self, name) < 1:
                raise ValueError(f'train.{name} must be >= 1, got {getattr(self, name)}')
        if look_steps(self) >= self.steps:
            raise ValueError(f'train.look_first {self.look_first} of {self.steps} steps leaves '
                             'no step to act: lower it or add steps')


def look_steps(config: PolicyTrainConfig) -> int:
    """How many of the steps the look-first stage asks for."""
    return int(round(config.look_first * config.steps))


def _learning_rate(step: int, config: PolicyTrainConfig, look: int) -> float:
    """Per stage, a linear warm-up; then constant while looking, cosine decay to 10% while acting.

    ``look``: the look-first steps this run takes (0 where it has nothing to look at). A
    decayed look stage left the encoder still learning where the block is when acting began.
    """
    start, end = (0, look) if step < look else (look, config.steps)
    step -= start
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if end == look:
        return config.lr
    progress = (step - config.warmup_steps) / max(end - start - config.warmup_steps, 1)
    return config.lr * (0.1 + 0.45 * (1 + np.cos(np.pi * min(progress, 1.0))))


def look_first_steps(policy: Policy, windows: PolicyWindows, config: PolicyTrainConfig
                     ) -> tuple[int, float]:
    """The look-first steps this run takes, and the robot share of their batches.

    First frames with actions teach the waypoints (a robot's; the bench oracle's human
    ones); pseudo-labelled human ones a latent head that reads the observation tokens
    (``Policy.latent_term``). Neither: no look stage (joint-space demos and no such head),
    rather than steps that train nothing.
    """
    robot, human = windows.look_rows(policy.latent_reads_observation())
    if not len(robot) and not len(human):
        return 0, 1.0
    return look_steps(config), config.robot_fraction if len(human) else 1.0


def train_policy(policy_name: str, policy_config: dict[str, Any], windows: PolicyWindows,
                 config: PolicyTrainConfig) -> Policy:
    """Train (or resume) ``policy_name`` on ``windows``; returns the unwrapped policy."""
    if not config.proprio and windows.state_dim:
        raise ValueError(f'train.proprio is false, yet the windows carry a {windows.state_dim}-D '
                         'state: build them with PolicyWindows(..., proprio=False)')
    if config.human_acts != windows.human_acts:
        raise ValueError(f'train.human_acts is {config.human_acts}, yet the windows were built '
                         f'with human_acts={windows.human_acts}: build them with '
                         f'PolicyWindows(..., human_acts={config.human_acts})')
    rank, world_size = init_distributed()
    device = pick_device(config.device)
    torch.manual_seed(config.seed)   # the initial weights; each step reseeds (step_rng)
    shape = windows.shape
    policy = make_policy(policy_name, **{
        **policy_config, 'image_size': shape.image_size, 'obs_horizon': shape.obs_horizon,
        'action_horizon': shape.action_horizon, 'action_dim': windows.action_dim,
        'state_dim': windows.state_dim, 'action_space': windows.action_space,
        'state_names': windows.state_names, 'source_frame_size': windows.source_frame_size,
        'source_frame_aspect': windows.source_frame_aspect,
        'avatar': windows.avatar, 'control_rate_hz': windows.control_rate_hz,
        'start_pose': windows.start_pose, 'start_gripper': windows.start_gripper,
        'latent_dim': windows.latent_dim if config.pseudo_actions else 0})
    policy.set_normalization(windows.normalization_stats())
    policy.to(device)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    start_step, saved = resume_state(checkpoint_path, policy, optimizer, CHECKPOINTS) \
        if config.resume else (0, {})
    look, look_robot_fraction = look_first_steps(policy, windows, config)
    if start_step and saved.get('look_steps', look) != look:
        # A run resumed with more train.steps keeps its stage boundary: recomputed from the
        # new length, it would send an acting policy back to looking for thousands of steps.
        look = int(saved['look_steps'])
        if rank == 0:
            tqdm.write(f'look-first: {look} steps, as in the run resumed from {checkpoint_path}')
    human_labels_look = policy.latent_reads_observation()   # pseudo-labelled first frames
    if look_steps(config) and not look and rank == 0:
        tqdm.write(f'look-first: skipped, nothing to learn from first frames '
                   f'({windows.action_space!r} actions, no latent head on the observation)')
    trainable = distributed(policy, device, world_size, find_unused_parameters=look > 0)
    log = TrainingLog(out_dir / 'tensorboard', rank == 0, config.log_every, config.steps)

    def save(step: int) -> None:
        if rank == 0:
            save_state(checkpoint_path, policy, optimizer, CHECKPOINTS, step,
                       train_config=asdict(config), world_size=world_size, look_steps=look)

    policy.train()
    per_rank = max(config.batch_size // world_size, 1)
    progress = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps,
                    desc=f'train {policy_name}', disable=rank != 0 or not config.progress)
    for step in progress:
        clock = time.perf_counter()
        rng = step_rng(config.seed, step, rank)   # this step's draws, numpy and torch
        looking = step < look
        batch = {k: v.to(device) for k, v in
                 (windows.sample_look(per_rank, rng, look_robot_fraction, human_labels_look)
                  if looking else
                  windows.sample(per_rank, rng, config.robot_fraction)).items()}
        data_s = time.perf_counter() - clock
        for group in optimizer.param_groups:
            group['lr'] = _learning_rate(step, config, look)
        loss, metrics = trainable(batch, look=looking)
        grad_norm = optimizer_step(loss, policy, optimizer, config.grad_clip)
        if log.due(step):
            log.scalars(step, {'loss/total': loss.item(), 'grad_norm': grad_norm.item(),
                               'stage/look_first': float(looking),
                               'lr': optimizer.param_groups[0]['lr'], 'time/data_s': data_s,
                               'time/step_s': time.perf_counter() - clock,
                               **{f'loss/{key}': value for key, value in metrics.items()}})
            progress.set_postfix(loss=f'{loss.item():.4f}')
        if (step + 1) % config.save_every == 0:
            save(step + 1)
    if start_step < config.steps:
        save(config.steps)
    log.close()
    if log.history:
        _save_loss_figure([(step, values['loss/total']) for step, values in log.history],
                          out_dir / 'loss.png', policy_name)
    if world_size > 1:
        dist.barrier()
    return policy.eval()


def _save_loss_figure(history: list[tuple[int, float]], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    steps, losses = zip(*history)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, losses)
    ax.set(xlabel='step', ylabel='training loss', title=title, yscale='log')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def register_hydra_configs() -> None:
    """``policy`` group from the config dataclasses (+ config/policy/*.yaml), ``train``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group='train', name='defaults', node=PolicyTrainConfig)
    store_config_group('policy', available_policies(),
                       lambda name: policy_class(name).config_class, CONFIG_DIR)


def main() -> None:
    """Hydra entry point: windows from the HDF5 dataset at ``dataset``."""
    import hydra
    from omegaconf import DictConfig, OmegaConf

    register_hydra_configs()

    @hydra.main(version_base='1.3', config_path=str(CONFIG_DIR), config_name='train')
    def run(cfg: DictConfig) -> None:
        policy_config = OmegaConf.to_container(cfg.policy, resolve=True)
        name = policy_config.pop('name')
        train = PolicyTrainConfig(**OmegaConf.to_container(cfg.train, resolve=True))
        sizes = {**asdict(policy_class(name).config_class()), **policy_config}
        shape = WindowShape(sizes['obs_horizon'], sizes['action_horizon'], sizes['image_size'])
        windows = PolicyWindows.from_dataset(cfg.dataset, shape, train.pseudo_actions,
                                             proprio=train.proprio, human_acts=train.human_acts)
        train_policy(name, policy_config, windows, train)

    run()


if __name__ == '__main__':
    main()
