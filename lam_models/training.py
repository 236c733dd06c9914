# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What every training loop here shares: torchrun ranks, the device, hydra config groups."""
from __future__ import annotations

from dataclasses import field, make_dataclass
import os
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist


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
