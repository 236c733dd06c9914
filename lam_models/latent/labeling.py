# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Labelling with a trained latent model: an Episode in, pseudo-actions out.

``make demo`` writes the pseudo-actions of its human episodes with it; any
other caller (a script, a future labelling node) uses the same function.
"""
from __future__ import annotations

import numpy as np
import torch

from lam_models.data.episode import Episode
from lam_models.data.pairs import FrameWindows
from lam_models.latent.base import LatentActionModel


@torch.no_grad()
def label_episode(model: LatentActionModel, episode: Episode, batch_size: int = 128
                  ) -> np.ndarray:
    """Pseudo-actions (T, z_dim) float32: row t is z(o_t, o_{t+n}).

    The last n frames have no o_{t+n}; they repeat the last computed latent so
    the array stays aligned with ``episode.frames``.
    """
    config = model.config
    if len(episode) <= config.frame_gap:
        raise ValueError(f'episode has {len(episode)} frames, needs more than '
                         f'frame_gap={config.frame_gap}')
    windows = FrameWindows.for_model(config, [episode])
    device = next(model.parameters()).device
    latents = [model.encode_window(windows.batch(rows, device)['window']).cpu()
               for rows in torch.arange(len(windows)).split(batch_size)]
    z = torch.cat(latents).numpy().astype(np.float32)
    padding = np.repeat(z[-1:], len(episode) - len(z), axis=0)
    return np.concatenate([z, padding])
