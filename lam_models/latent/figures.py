# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One PNG per model, asking: is the human's motion in the same latent space as the robot's.

Left to right: held-out robot latents and human latents, both projected to 2-D by a PCA
fit on the robot latents only (so a human cloud elsewhere is an embodiment gap, not a
projection artefact), coloured by the true motion direction atan2(dy, dx) on moving
windows (static ones in grey); then a strip of reconstructions from the episodes' view:
o_t, o_{t+n} and the predicted o_{t+n}, when the model can predict.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lam_models.data.episode import Episode  # noqa: E402
from lam_models.latent.base import LatentActionModel  # noqa: E402
from lam_models.latent.metrics import (  # noqa: E402
    encode_windows,
    model_windows,
    predict_from_window,
    window_targets,
)


@dataclass
class LatentCloud:
    """Latents of one embodiment projected to 2-D, with their motion direction."""

    points: np.ndarray     # (S, 2)
    direction: np.ndarray  # (S,) atan2(dy, dx) [rad]
    moving: np.ndarray     # (S,) bool


def latent_clouds(model: LatentActionModel, robot: Sequence[Episode],
                  human: Sequence[Episode] = ()) -> list[LatentCloud]:
    """[robot cloud, human cloud if any], PCA fit on the robot latents only."""
    gap = model.config.frame_gap
    sets = [episodes for episodes in (robot, human) if episodes]
    latents = [encode_windows(model, model_windows(model, episodes)) for episodes in sets]
    mean = latents[0].mean(0)
    _, _, components = np.linalg.svd(latents[0] - mean, full_matrices=False)
    basis = np.zeros((latents[0].shape[1], 2))
    basis[:, :min(2, len(components))] = components[:2].T
    clouds = []
    for episodes, z in zip(sets, latents):
        targets = window_targets(episodes, gap)
        direction = np.arctan2(targets.motion[:, 1], targets.motion[:, 0])
        clouds.append(LatentCloud((z - mean) @ basis, direction, targets.moving))
    return clouds


def _draw_cloud(axis: Axes, cloud: LatentCloud, title: str) -> matplotlib.cm.ScalarMappable:
    still = ~cloud.moving
    axis.scatter(cloud.points[still, 0], cloud.points[still, 1], c='0.8', s=4,
                 label='static')
    points = axis.scatter(cloud.points[cloud.moving, 0], cloud.points[cloud.moving, 1],
                          c=cloud.direction[cloud.moving], cmap='hsv', vmin=-np.pi,
                          vmax=np.pi, s=7)
    axis.set_title(title)
    axis.set_xlabel('PC 1 (robot)')
    axis.set_ylabel('PC 2 (robot)')
    return points


@torch.no_grad()
def reconstruction_strip(model: LatentActionModel, episodes: Sequence[Episode],
                         count: int = 4) -> list[np.ndarray] | None:
    """[o_t, o_{t+n}, predicted] each (count, H, W, 3) on moving windows; None if no predictor."""
    windows = model_windows(model, episodes)
    moving = np.flatnonzero(window_targets(episodes, model.config.frame_gap).moving)
    pool = moving if len(moving) >= count else np.arange(len(windows))
    rows = torch.from_numpy(pool[np.linspace(0, len(pool) - 1, count).astype(int)])
    window = windows.batch(rows, next(iter(model.buffers())).device)['window']
    try:
        predicted = predict_from_window(model, window).clamp(0, 1)
    except NotImplementedError:
        return None
    return [images.permute(0, 2, 3, 1).cpu().numpy()
            for images in (window[:, -2], window[:, -1], predicted)]


def _draw_strip(figure: Figure, grid, strip: list[np.ndarray]) -> None:
    count = len(strip[0])
    inner = grid.subgridspec(3, count, wspace=0.05, hspace=0.05)
    for r, (label, images) in enumerate(zip(('o_t', 'o_t+n', 'predicted'), strip)):
        for c in range(count):
            axis = figure.add_subplot(inner[r, c])
            axis.imshow(images[c])
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(label)


@torch.no_grad()
def save_latent_figure(model: LatentActionModel, episodes: Sequence[Episode], path: str | Path,
                       num_reconstructions: int = 4, title: str = '',
                       human_episodes: Sequence[Episode] = ()) -> Path:
    """Robot (``episodes``) and human latents side by side, then reconstructions; the PNG path."""
    model.eval()
    clouds = latent_clouds(model, episodes, human_episodes)
    strip = reconstruction_strip(model, episodes, num_reconstructions)
    panels = len(clouds) + (strip is not None)
    figure = plt.figure(figsize=(5 * panels + 1, 5))
    grid = figure.add_gridspec(1, panels, width_ratios=[1] * len(clouds) + [1.3] * (panels -
                                                                                    len(clouds)))
    names = ('held-out robot', 'human (robot PCA)')
    points, first = None, None
    for i, cloud in enumerate(clouds):  # shared axes: a shrunken human cloud stays visible
        axis = figure.add_subplot(grid[0, i], sharex=first, sharey=first)
        first = first or axis
        points = _draw_cloud(axis, cloud, f'{title or model.name}: {names[i]}')
    figure.colorbar(points, ax=figure.axes, label='motion direction atan2(dy, dx) [rad]',
                    shrink=0.8, location='left')
    if strip is not None:
        _draw_strip(figure, grid[0, len(clouds)], strip)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, bbox_inches='tight')
    plt.close(figure)
    return path
