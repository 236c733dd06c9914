# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Episodes on disk as one ``.npz`` per episode (what bench/latent_metrics.py writes).

Training takes ``list[Episode]``; this is only one way to get them (bags are another).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from lam_models.data.episode import Episode

_ARRAYS = ('frames', 'timestamps', 'actions', 'joint_positions', 'hidden_motion',
           'pseudo_actions')


def save_episodes(episodes: Sequence[Episode], directory: str | Path) -> list[Path]:
    """Write ``episode_00000.npz``, ... into ``directory``; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, episode in enumerate(episodes):
        arrays = {name: getattr(episode, name) for name in _ARRAYS
                  if getattr(episode, name) is not None}
        header = {'embodiment': episode.embodiment, 'task': episode.task,
                  'instruction': episode.instruction, 'success': episode.success,
                  'metadata': episode.metadata}
        path = directory / f'episode_{number:05d}.npz'
        np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
        paths.append(path)
    return paths


def load_episodes(path: str | Path) -> list[Episode]:
    """Read one ``.npz`` episode file or every ``*.npz`` in a directory, sorted by name."""
    path = Path(path)
    files = sorted(path.glob('*.npz')) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f'no episode .npz files at {path}')
    episodes = []
    for file in files:
        try:
            with np.load(file, allow_pickle=False) as data:
                header = json.loads(str(data['header']))
                arrays = {name: data[name] for name in _ARRAYS if name in data}
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f'{file}: not an episode cache file ({exc})') from exc
        episodes.append(Episode(**arrays, **header))
    return episodes
