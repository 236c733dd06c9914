# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One PNG per model: reconstructions, and held-out latents in 2-D coloured by action direction."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lam_models.data.episode import Episode  # noqa: E402
from lam_models.data.pairs import FrameWindows  # noqa: E402
from lam_models.latent.base import LatentActionModel  # noqa: E402
from lam_models.latent.metrics import encode_windows  # noqa: E402


@torch.no_grad()
def save_latent_figure(model: LatentActionModel, episodes: Sequence[Episode], path: str | Path,
                       num_reconstructions: int = 4, title: str = '') -> Path:
    """Rows o_t / o_{t+n} / predicted o_{t+n}, and PCA of z coloured by atan2(a_y, a_x)."""
    model.eval()
    windows = FrameWindows.for_model(model.config, episodes)
    z = encode_windows(model, windows)
    actions = windows.targets.numpy()
    centred = z - z.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T if z.shape[1] > 1 else np.c_[centred, 0 * centred]
    direction = np.arctan2(actions[:, 1], actions[:, 0]) if actions.shape[1] > 1 else actions[:, 0]

    rows = torch.linspace(0, len(windows) - 1, num_reconstructions).long()
    window = windows.batch(rows, next(iter(model.buffers())).device)['window']
    predicted = model.predict_next(window[:, -2], window[:, -1]).clamp(0, 1)
    images = [window[:, -2], window[:, -1], predicted]

    figure = plt.figure(figsize=(3 * num_reconstructions + 5, 7))
    grid = figure.add_gridspec(3, num_reconstructions + 2)
    for r, (label, batch) in enumerate(zip(('o_t', 'o_t+n', 'predicted'), images)):
        for c in range(num_reconstructions):
            axis = figure.add_subplot(grid[r, c])
            axis.imshow(batch[c].permute(1, 2, 0).cpu().numpy())
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(label)
    scatter_axis = figure.add_subplot(grid[:, num_reconstructions:])
    points = scatter_axis.scatter(projected[:, 0], projected[:, 1], c=direction, cmap='hsv', s=6)
    figure.colorbar(points, ax=scatter_axis, label='action direction atan2(y, x) [rad]')
    scatter_axis.set_title(f'{title or model.name}: held-out z, PCA')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, bbox_inches='tight')
    plt.close(figure)
    return path
