# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How good is a latent as a motion label.

- LP-MSE: a ridge probe z -> ground-truth action, fit and scored on disjoint
  episodes, reported as MSE / variance of the scored targets (1.0 = predicting the mean).
- S-PCFC: mean cosine between z(o_{t-n}, o_t) and z(o_{t+n}, o_t). Both pairs end
  in o_t; a latent that only encodes the state scores ~1.0.
- Reconstruction error of the FDM prediction of o_{t+n}, and the collapse ratio:
  that error over the error of simply copying o_t (>= 1.0 means the latent adds nothing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from typing_extensions import override

from lam_models.data.episode import Episode
from lam_models.data.images import resize_frames
from lam_models.data.pairs import FrameWindows, TargetField
from lam_models.latent.base import LatentActionModel, LatentConfig


@torch.no_grad()
def encode_windows(model: LatentActionModel, windows: FrameWindows, batch_size: int = 256
                   ) -> np.ndarray:
    """All windows' latents, (S, z_dim) float64."""
    device = next(iter(model.buffers())).device
    latents = [model.encode_window(windows.batch(rows, device)['window']).cpu()
               for rows in torch.arange(len(windows)).split(batch_size)]
    return torch.cat(latents).double().numpy()


def linear_probe_mse(z_fit: np.ndarray, y_fit: np.ndarray, z_eval: np.ndarray,
                     y_eval: np.ndarray, ridge: float = 1e-3) -> float:
    """Ridge probe fit on (z_fit, y_fit), scored on (z_eval, y_eval): mean_d MSE_d / Var_d."""
    mean, std = z_fit.mean(0), z_fit.std(0) + 1e-8

    def design(z: np.ndarray) -> np.ndarray:
        return np.concatenate([(z - mean) / std, np.ones((len(z), 1))], axis=1)

    x = design(z_fit)
    regularizer = ridge * len(x) * np.eye(x.shape[1])
    regularizer[-1, -1] = 0.0  # no penalty on the bias
    weights = np.linalg.solve(x.T @ x + regularizer, x.T @ y_fit)
    error = ((design(z_eval) @ weights - y_eval) ** 2).mean(0)
    variance = y_eval.var(0)
    informative = variance > 1e-10  # constant targets (e.g. an unused gripper) say nothing
    if not informative.any():
        raise ValueError('linear_probe_mse: every evaluation target is constant')
    return float((error[informative] / variance[informative]).mean())


@torch.no_grad()
def s_pcfc(model: LatentActionModel, episodes: Sequence[Episode], batch_size: int = 256
           ) -> float:
    """Mean cos(z(o_{t-n}, o_t), z(o_{t+n}, o_t)) over every t with both neighbours."""
    gap = model.config.frame_gap
    device = next(iter(model.buffers())).device
    cosines = []
    for episode in episodes:
        frames = torch.from_numpy(resize_frames(episode.frames, model.config.image_size)
                                  ).permute(0, 3, 1, 2)
        for t in torch.arange(gap, len(episode) - gap).split(batch_size):
            o_prev, o_t, o_next = (frames[t + k * gap].to(device).float() / 255.0
                                   for k in (-1, 0, 1))
            cosines.append(F.cosine_similarity(model.encode(o_prev, o_t),
                                               model.encode(o_next, o_t), dim=-1).cpu())
    if not cosines:
        raise ValueError(f's_pcfc: no episode is longer than 2 * frame_gap = {2 * gap}')
    return float(torch.cat(cosines).mean())


@torch.no_grad()
def reconstruction_errors(model: LatentActionModel, windows: FrameWindows,
                          max_samples: int = 512, batch_size: int = 128) -> tuple[float, float]:
    """(MSE of predicted o_{t+n}, MSE of copying o_t), pixels in [0, 1], evenly spaced windows."""
    device = next(iter(model.buffers())).device
    rows = torch.linspace(0, len(windows) - 1, min(max_samples, len(windows))).long()
    predicted, copied = 0.0, 0.0
    for chunk in rows.split(batch_size):
        window = windows.batch(chunk, device)['window']
        o_t, o_next = window[:, -2], window[:, -1]
        predicted += F.mse_loss(model.predict_next(o_t, o_next), o_next, reduction='sum').item()
        copied += F.mse_loss(o_t, o_next, reduction='sum').item()
    pixels = len(rows) * windows.frames[0].numel()
    return predicted / pixels, copied / pixels


class PixelDifferenceBaseline(LatentActionModel):
    """z = the frame difference o_{t+n} - o_t, average-pooled to ``pool_size``^2 x 3 numbers."""

    name = 'pixel_difference'

    def __init__(self, frame_gap: int = 1, image_size: int = LatentConfig.image_size,
                 pool_size: int = 16) -> None:
        super().__init__(LatentConfig(image_size=image_size, frame_gap=frame_gap,
                                      z_dim=3 * pool_size ** 2))
        self.pool_size = pool_size

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        difference = window[:, -1] - window[:, -2]
        return F.adaptive_avg_pool2d(difference, self.pool_size).flatten(1)

    @override
    def predict_next(self, o_t: torch.Tensor, o_next: torch.Tensor) -> torch.Tensor:
        return o_t  # no decoder: its reconstruction error is the copy error


@dataclass
class LatentReport:
    """One row of the comparison table."""

    lp_mse: float            # held-out robot episodes
    lp_mse_human: float      # probe fit on robot, scored on human hidden motion (nan if none)
    s_pcfc: float
    reconstruction: float    # MSE of predicted o_{t+n}
    copy_error: float        # MSE of copying o_t
    collapse_ratio: float    # reconstruction / copy_error


def evaluate_latent_model(model: LatentActionModel, fit_episodes: Sequence[Episode],
                          eval_episodes: Sequence[Episode],
                          human_episodes: Sequence[Episode] = ()) -> LatentReport:
    """Probe on disjoint episode sets, S-PCFC and reconstruction on ``eval_episodes``."""
    model.eval()

    def latents(episodes: Sequence[Episode], field: TargetField
                ) -> tuple[np.ndarray, np.ndarray]:
        windows = FrameWindows.for_model(model.config, episodes, target_field=field)
        return encode_windows(model, windows), windows.targets.double().numpy()

    z_fit, y_fit = latents(fit_episodes, 'actions')
    z_eval, y_eval = latents(eval_episodes, 'actions')
    lp_human = float('nan')
    if human_episodes:
        z_human, y_human = latents(human_episodes, 'hidden_motion')
        lp_human = linear_probe_mse(z_fit, y_fit, z_human, y_human)
    reconstruction, copy_error = reconstruction_errors(
        model, FrameWindows.for_model(model.config, eval_episodes))
    return LatentReport(
        lp_mse=linear_probe_mse(z_fit, y_fit, z_eval, y_eval),
        lp_mse_human=lp_human,
        s_pcfc=s_pcfc(model, eval_episodes),
        reconstruction=reconstruction,
        copy_error=copy_error,
        collapse_ratio=reconstruction / max(copy_error, 1e-12),
    )
