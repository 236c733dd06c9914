# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What every training loop here shares (the latent trainer, the policy trainer).

torchrun ranks and the device, hydra config groups, the per-step random streams that make
resume exact, the optimizer step, training states over ``lam_models.checkpoints``
(``resume_state`` / ``save_state``) and rank 0's TensorBoard log. The loops themselves stay
in ``lam_models/{latent,policies}/train.py``, each readable top to bottom.
"""
from __future__ import annotations

from dataclasses import MISSING, field, fields, make_dataclass
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from lam_models.checkpoints import (
    CheckpointError,
    CheckpointFormat,
    check_config_matches,
    checkpoint_files,
    load_state,
)

CHECKPOINT_NAME = 'checkpoint.safetensors'  # in out_dir, + checkpoint.json beside it


def init_distributed() -> tuple[int, int]:
    """(rank, world_size); initializes the process group under torchrun (nccl on GPU, gloo)."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return (dist.get_rank(), world_size) if world_size > 1 else (0, 1)


def pick_device(requested: str) -> torch.device:
    """``auto`` is this rank's GPU when there is one, else the CPU."""
    if requested not in ('auto', 'cpu', 'cuda'):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == 'auto':
        requested = 'cuda' if torch.cuda.is_available() else 'cpu'
    if requested == 'cuda':
        return torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
    return torch.device(requested)


def store_config_group(group: str, names: list[str], config_class_of: Callable[[str], type],
                       yaml_dir: Path) -> None:
    """Register hydra options for ``group``: each a typed dataclass node plus ``name``.

    The dataclass owns every default; ``<yaml_dir>/<option>.yaml`` holds a ``name`` key
    and only what differs. Typed nodes make ``model.z_dim=foo`` fail at the command line.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    options = {name: OmegaConf.create({'name': name}) for name in names}
    for path in sorted(yaml_dir.glob('*.yaml')):
        node = OmegaConf.load(path)
        if 'name' in node:
            options[path.stem] = node
    store = ConfigStore.instance()
    for option, node in options.items():
        config_class = config_class_of(node.name)
        schema = make_dataclass(f'{config_class.__name__}Node',
                                [('name', str, field(default=node.name))], bases=(config_class,))
        store.store(group=group, name=option,
                    node=OmegaConf.merge(OmegaConf.structured(schema), node))


def step_rng(seed: int, step: int, rank: int) -> np.random.Generator:
    """Every random draw of one training step, a function of (seed, step, rank): exact resume.

    Returns the step's numpy generator (which rows, jitter, ...) and seeds torch's global
    generator from its own stream of the same triple (diffusion noise and timesteps,
    random-shift augmentation, dropout, input noise). Call it at the start of the step:
    a run resumed at step k then draws what the uninterrupted run drew at step k, not
    what it drew at step 0.
    """
    torch.manual_seed(int(np.random.default_rng([seed, step, rank, 1]).integers(2**62)))
    return np.random.default_rng([seed, step, rank])


def distributed(model: nn.Module, device: torch.device, world_size: int,
                find_unused_parameters: bool = False) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel under torchrun, else itself.

    ``find_unused_parameters``: some steps leave parameters out of the graph (a policy's
    look-first steps skip its action heads), at the cost of a graph walk per step.
    """
    if world_size == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index]
                                   if device.type == 'cuda' else None,
                                   find_unused_parameters=find_unused_parameters)


def optimizer_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                   clip: float) -> torch.Tensor:
    """Backward, clip the gradient norm to ``clip``, step; the norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return grad_norm


def config_defaults(config_class: type) -> dict[str, Any]:
    """The default of every field of a config dataclass that has one."""
    return {f.name: f.default if f.default is not MISSING else f.default_factory()
            for f in fields(config_class)
            if f.default is not MISSING or f.default_factory is not MISSING}


def resume_state(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                 fmt: CheckpointFormat) -> tuple[int, dict[str, Any]]:
    """Load a training state into ``model`` and ``optimizer``; (step to continue from, extras).

    The extras are what the run saved beside it (``save_state``'s ``extra``: train_config,
    ...). (0, {}) when no checkpoint exists at ``path``. A checkpoint of another model or config,
    or an exported model without optimizer state, is a ``CheckpointError`` naming the file.
    """
    if not any(p.exists() for p in checkpoint_files(path)):
        return 0, {}
    payload = fmt.read(path)
    config = model.config.to_dict()
    # a field naming what the data was (DESCRIBES_DATA), absent from an older checkpoint,
    # takes the value the data gives now rather than its default
    recorded_now = {key: config[key] for key in getattr(model.config, 'DESCRIBES_DATA', ())}
    check_config_matches(path, payload, model.name, config,
                         {**config_defaults(type(model.config)), **recorded_now})
    if 'optimizer' not in payload or 'step' not in payload:
        raise CheckpointError(f'{path}: an exported {fmt.registry.kind}, not a training state '
                              '(no optimizer/step); use a fresh out_dir')
    load_state(path, model, payload['state_dict'])
    try:
        optimizer.load_state_dict(payload['optimizer'])
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f'{path}: optimizer state does not fit: {exc}') from None
    saved = {key: value for key, value in payload.items()
             if key not in ('state_dict', 'optimizer', 'step')}
    return int(payload['step']), saved


def save_state(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
               fmt: CheckpointFormat, step: int, **extra: Any) -> None:
    """Write the training state ``resume_state`` reads (``extra``: train_config, ...)."""
    fmt.save(path, model, step=step, optimizer=optimizer.state_dict(), **extra)


class TrainingLog:
    """Rank 0's TensorBoard scalars every ``every`` steps (and the last), and their history.

    On other ranks (``active`` false) nothing is written and ``due`` is never true, so
    they skip the ``.item()`` syncs logging costs.
    """

    def __init__(self, directory: Path, active: bool, every: int, steps: int) -> None:
        self.active, self.every, self.last = active, every, steps - 1
        self.history: list[tuple[int, dict[str, float]]] = []
        self.writer = None
        if active:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(directory))

    def due(self, step: int) -> bool:
        """Whether ``step`` is logged."""
        return self.active and (step % self.every == 0 or step == self.last)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Write ``values`` (tag -> number) at ``step`` and keep them in ``history``."""
        if self.writer is None:
            return
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.history.append((step, values))

    def close(self) -> None:
        """Flush and close the writer (no-op off rank 0)."""
        if self.writer is not None:
            self.writer.close()
