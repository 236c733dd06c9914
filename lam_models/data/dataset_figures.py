# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``lam-ros dataset show``: one episode as a PNG, to see at a glance what a label means.

Top: a strip of frames evenly spread over the episode. Under it, on the same frame
axis, the pseudo-action of a labelled model (rows without a label shaded) and, for
robot episodes, the true action; dashed lines mark the frames shown above.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
import numpy as np

from lam_models.data.dataset import Dataset, DatasetError
from lam_models.data.episode import Episode

MAX_LINES = 8   # more dimensions than this make an unreadable plot


def resolve_episode(ds: Dataset, episode: int | str) -> str:
    """An episode name from its position in the file or its name."""
    names = ds.episode_names
    if isinstance(episode, str) and not episode.isdigit():
        if episode not in names:
            raise DatasetError(f'{ds.path}: no episode {episode!r}')
        return episode
    index = int(episode)
    if not 0 <= index < len(names):
        raise DatasetError(f'{ds.path}: episode {index} out of range (0..{len(names) - 1})')
    return names[index]


def _plot_lines(ax: Axes, values: np.ndarray, title: str, shown: np.ndarray,
                names: list[str] | None = None, valid: np.ndarray | None = None) -> None:
    dims = min(values.shape[1], MAX_LINES)
    invalid = np.flatnonzero(~valid) if valid is not None else []
    if len(invalid):
        ax.axvspan(invalid[0] - 0.5, invalid[-1] + 0.5, color='0.88', label='no label')
    for d in range(dims):
        ax.plot(values[:, d], lw=1, label=names[d] if names and d < len(names) else f'{d}')
    more = f' (first {dims} of {values.shape[1]} dims)' if values.shape[1] > dims else ''
    ax.set_title(title + more, fontsize=9, loc='left')
    for t in shown:
        ax.axvline(t, color='0.6', lw=0.6, ls='--')
    ax.set_xlim(0, len(values) - 1)
    ax.legend(fontsize=6, ncol=dims + (len(invalid) > 0), loc='upper right', frameon=False)


def episode_strip(episode: Episode, title: str, n_frames: int = 8,
                  model: str | None = None) -> Figure:
    """The figure for one episode (pseudo-actions read with ``model``, if any)."""
    shown = np.unique(np.linspace(0, len(episode) - 1, min(n_frames, len(episode))).astype(int))
    panels = []  # (values, title, line names, valid rows)
    if episode.pseudo_actions is not None:
        panels.append((episode.pseudo_actions, f'pseudo-action ({model})', None,
                       np.asarray(episode.metadata['pseudo_valid'], bool)))
    if episode.actions is not None:
        space = episode.metadata.get('action_space') or 'robot'
        panels.append((episode.actions, f'true action ({space})',
                       episode.metadata.get('action_names'), None))
    fig = Figure(figsize=(1.6 * len(shown), 1.8 + 1.8 * len(panels)), layout='constrained')
    grid = fig.add_gridspec(1 + len(panels), len(shown), height_ratios=[1.2] + [1] * len(panels))
    for column, t in enumerate(shown):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(episode.frames[t])
        ax.set_title(f't={t}', fontsize=8)
        ax.axis('off')
    for row, (values, label, names, valid) in enumerate(panels, start=1):
        _plot_lines(fig.add_subplot(grid[row, :]), np.asarray(values), label, shown, names,
                    valid)
    if not panels:
        fig.text(0.5, 0.02, 'no actions or pseudo-actions in this episode', ha='center')
    fig.suptitle(title, fontsize=10)
    return fig


def show_episode(dataset_path: str | Path, episode: int | str, out: str | Path,
                 pseudo_actions: str | None = None, n_frames: int = 8) -> Path:
    """Write the PNG of one episode of a dataset file; return its path."""
    with Dataset(dataset_path) as ds:
        name = resolve_episode(ds, episode)
        data = ds.read_episode(name, pseudo_actions=pseudo_actions)
        attrs = ds.episode_attrs(name)
    success = {-1: 'unknown', 0: 'failed', 1: 'succeeded'}[int(attrs.get('success', -1))]
    title = (f"{Path(dataset_path).name}: {name} ({data.embodiment}, "
             f"{data.instruction or data.task or 'no task'}, {success}, {len(data)} frames)")
    out = Path(out)
    episode_strip(data, title, n_frames, pseudo_actions).savefig(out, dpi=100)
    return out
