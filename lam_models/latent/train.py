# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Train a latent motion model on Episodes.

    python -m lam_models.latent.train model=como data=runs/demo/dataset.h5 train.steps=2000
    torchrun --nproc_per_node=2 -m lam_models.latent.train model=clam data=... train.out_dir=...

``train_latent_model`` is the loop; it takes a list of Episodes, so bags, the
simulator or the on-disk cache all plug in the same way. Robot and human
episodes train together: every window is unlabelled video for the model;
actions (robot episodes, the first ``labelled_fraction`` of them) reach only a
model that asks for a labelled batch (CLAM's action decoder). Rank 0 writes
``<out_dir>/checkpoint.safetensors`` (weights, normalization stats, optimizer
tensors) + ``checkpoint.json`` (model config, step, sha256 of the weights);
rerunning with the same out_dir resumes from it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from lam_models.data.episode import Episode
from lam_models.data.pairs import FrameWindows
from lam_models.latent.base import (
    CHECKPOINTS,
    LatentActionModel,
    available_models,
    make_latent_model,
    model_class,
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

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'config' / 'latent'


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping knobs: ``train.*`` of the hydra config (defaults here)."""

    out_dir: str = 'runs/latent'
    steps: int = 2000
    batch_size: int = 64            # global: split across DDP ranks
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    labelled_fraction: float = 0.1  # share of robot episodes whose actions a model may use
    log_every: int = 25
    save_every: int = 500
    resume: bool = True             # continue from out_dir/checkpoint.* if it exists
    device: str = 'auto'            # auto | cpu | cuda
    figure: bool = True             # write out_dir/latents.png at the end
    progress: bool = True


def _batch_rows(step: int, num_samples: int, batch_size: int, seed: int, rank: int,
                world_size: int) -> np.ndarray:
    """Sample rows of this rank for ``step``: a fresh permutation per epoch, so resume is exact."""
    per_epoch = max(num_samples // batch_size, 1)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng(seed + epoch).permutation(num_samples)
    rows = np.resize(order, per_epoch * batch_size)[position * batch_size:][:batch_size]
    return rows[rank::world_size]


def training_batch(model: LatentActionModel, windows: FrameWindows, rows: np.ndarray,
                   rng: np.random.Generator, device: torch.device, world_size: int = 1
                   ) -> dict[str, torch.Tensor]:
    """The batch of ``rows`` plus the labelled batch the model asks for (this rank's share)."""
    batch = windows.batch(rows, device, rng)
    labelled = model.labelled_batch_size
    if labelled:
        batch.update(windows.labelled_batch(max(labelled // world_size, 1), rng, device))
    return batch


def train_latent_model(model_name: str, model_config: dict[str, Any],
                       episodes: Sequence[Episode], config: TrainConfig
                       ) -> LatentActionModel:
    """Train (or resume) ``model_name`` on ``episodes``; returns the unwrapped model."""
    rank, world_size = init_distributed()
    device = pick_device(config.device)
    torch.manual_seed(config.seed)   # the initial weights; each step reseeds (step_rng)
    model = make_latent_model(model_name, **model_config)
    robot = [i for i, ep in enumerate(episodes) if ep.actions is not None]
    labelled = robot[:math.ceil(config.labelled_fraction * len(robot))]
    windows = FrameWindows.for_model(model.config, episodes, labelled_episodes=labelled,
                                     jitter=model.jitter_frames)
    model.set_normalization(windows.normalization_stats())
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    start_step, _ = resume_state(checkpoint_path, model, optimizer, CHECKPOINTS) \
        if config.resume else (0, {})
    trainable = distributed(model, device, world_size)
    log = TrainingLog(out_dir / 'tensorboard', rank == 0, config.log_every, config.steps)

    def save(step: int) -> None:
        if rank == 0:
            save_state(checkpoint_path, model, optimizer, CHECKPOINTS, step,
                       train_config=asdict(config), world_size=world_size)

    model.train()
    progress = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps,
                    desc=f'train {model_name}', disable=rank != 0 or not config.progress)
    for step in progress:
        rows = _batch_rows(step, len(windows), config.batch_size, config.seed, rank, world_size)
        rng = step_rng(config.seed, step, rank)   # this step's draws, numpy and torch
        batch = training_batch(model, windows, rows, rng, device, world_size)
        loss, metrics = trainable(batch)
        grad_norm = optimizer_step(loss, model, optimizer, config.grad_clip)
        if log.due(step):
            log.scalars(step, {'loss/total': loss.item(), 'grad_norm': grad_norm.item(),
                               **{f'loss/{key}': value for key, value in metrics.items()}})
            progress.set_postfix(loss=f'{loss.item():.4f}')
        if (step + 1) % config.save_every == 0:
            save(step + 1)
    if start_step < config.steps:
        save(config.steps)
    log.close()
    model.eval()
    if rank == 0 and config.figure:
        from lam_models.latent.figures import save_latent_figure
        save_latent_figure(model, [episodes[i] for i in robot[-4:]] or episodes[-4:],
                           out_dir / 'latents.png')
    if world_size > 1:
        dist.barrier()
    return model


def register_hydra_configs() -> None:
    """Give hydra the dataclass defaults: the ``model`` group and ``train: defaults``.

    Each model's node is its config dataclass (typed, so ``model.z_dim=32`` is
    checked) plus ``name``, merged with ``config/latent/<option>.yaml`` (a
    ``name`` key and only what differs from the dataclass); ``train.*`` comes from
    ``TrainConfig``, with ``config/latent/train.yaml`` setting what differs (out_dir).
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group='train', name='defaults', node=TrainConfig)
    store_config_group('model', available_models(), lambda name: model_class(name).config_class,
                       CONFIG_DIR)


def main() -> None:
    """Hydra entry point: episodes of the HDF5 dataset at ``data`` (lam-ros dataset build)."""
    import hydra
    from omegaconf import DictConfig, OmegaConf

    from lam_models.data.dataset import read_episodes

    register_hydra_configs()

    @hydra.main(version_base='1.3', config_path=str(CONFIG_DIR), config_name='train')
    def run(cfg: DictConfig) -> None:
        model_config = OmegaConf.to_container(cfg.model, resolve=True)
        name = model_config.pop('name')
        train_values = OmegaConf.to_container(cfg.train, resolve=True)
        image_size = model_class(name).config_class(**model_config).image_size
        train_latent_model(name, model_config, read_episodes(cfg.data, image_size=image_size),
                           TrainConfig(**train_values))

    run()


if __name__ == '__main__':
    main()
