# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Frame windows (o_{t-(K-1)n} .. o_t, o_{t+n}) cut from Episodes, batched by fancy indexing.

All frames live in one uint8 tensor (N, 3, H, W); a sample is a row of frame
indices, so a batch is a single gather rather than thousands of small copies.
Context frames before the start of an episode repeat frame 0. ``for_model``
cuts the windows a model takes: its gap, context and input size (frames are
resized by ``lam_models.data.images.resize_frames``).

Robot and human episodes mix freely: every episode's windows are training
video; only rows of robot episodes with actions (``has_target``) carry a label,
and ``labelled_batch`` samples from those alone.
"""
from __future__ import annotations

from typing import Literal, Protocol, Sequence

import numpy as np
import torch

from lam_models.data.episode import Episode, common_frame_rate
from lam_models.data.images import resize_frames

TargetField = Literal['actions', 'hidden_motion']


class WindowConfig(Protocol):
    """The fields of a latent model's config that say which windows it takes."""

    image_size: int
    frame_gap: int
    context_frames: int


def summed_over_gap(values: np.ndarray, starts: np.ndarray, gap: int) -> np.ndarray:
    """Per-step deltas (T, A) -> their sum over [t, t+gap) for each start t: (len(starts), A)."""
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return (cumulative[starts + gap] - cumulative[starts]).astype(np.float32)


def window_indices(starts: np.ndarray, frame_gap: int, context_frames: int) -> np.ndarray:
    """Frame indices (len(starts), K+1) of the windows o_{t-(K-1)n} .. o_t, o_{t+n}, t in starts.

    Context before the first frame clamps to frame 0. Training (``FrameWindows``) and
    labelling both take their windows from here, so a label means what training meant.
    """
    context = [np.maximum(starts - j * frame_gap, 0) for j in range(context_frames - 1, -1, -1)]
    return np.stack(context + [starts + frame_gap], axis=1)


class FrameWindows:
    """Every window of ``context_frames`` frames up to o_t plus o_{t+gap}, over many episodes.

    ``target_field`` picks the ground truth summed over the gap ('actions' for
    training/probes on robot data, 'hidden_motion' to score human episodes); an
    episode without it (a human one, for 'actions') gives unlabelled windows.
    ``labelled_episodes`` (indices into ``episodes``) limits which rows set
    ``has_action``; None means every episode whose target exists. ``image_size``
    resizes every frame to that square size (None keeps the recorded size).
    ``jitter`` > 0 adds ``jittered`` = o_{t+gap+d}, 0 < |d| <= jitter, to each batch
    (CoMo's contrastive positive).
    """

    def __init__(self, episodes: Sequence[Episode], frame_gap: int = 1, context_frames: int = 1,
                 target_field: TargetField = 'actions',
                 labelled_episodes: Sequence[int] | None = None,
                 image_size: int | None = None, jitter: int = 0) -> None:
        if not episodes:
            raise ValueError('FrameWindows needs at least one episode')
        episode_frames = [ep.frames if image_size is None else resize_frames(ep.frames, image_size)
                          for ep in episodes]
        shapes = {frames.shape[1:] for frames in episode_frames}
        if len(shapes) != 1:
            raise ValueError(f'episodes have different frame shapes: {sorted(shapes)}')
        action_dims = {getattr(ep, target_field).shape[1] for ep in episodes
                       if getattr(ep, target_field) is not None}
        if len(action_dims) > 1:
            raise ValueError(f'episodes have different {target_field} widths: {action_dims}')
        self.action_dim = action_dims.pop() if action_dims else 0
        common_frame_rate(episodes)   # a gap of n frames must be one motion in every episode
        self.frame_gap, self.context_frames, self.jitter = frame_gap, context_frames, jitter
        labelled = set(range(len(episodes)) if labelled_episodes is None else labelled_episodes)

        frames, index_rows, targets, has_target, episode_ids, last_frames = [], [], [], [], [], []
        offset = 0
        for number, episode in enumerate(episodes):
            length = len(episode)
            starts = np.arange(max(length - frame_gap, 0))
            index_rows.append(window_indices(starts, frame_gap, context_frames) + offset)
            values = getattr(episode, target_field)
            if values is None:
                targets.append(np.zeros((len(starts), self.action_dim), np.float32))
            else:
                targets.append(summed_over_gap(values, starts, frame_gap))
            has_target.append(np.full(len(starts), values is not None and number in labelled))
            episode_ids.append(np.full(len(starts), number))
            last_frames.append(np.full(len(starts), offset + length - 1))
            frames.append(torch.from_numpy(episode_frames[number]).permute(0, 3, 1, 2))
            offset += length
        self.frames = torch.cat(frames)                                  # (N, 3, H, W) uint8
        self.indices = torch.from_numpy(np.concatenate(index_rows))      # (S, K+1)
        self.targets = torch.from_numpy(np.concatenate(targets))         # (S, A)
        self.has_target = torch.from_numpy(np.concatenate(has_target))   # (S,)
        self.episode_ids = np.concatenate(episode_ids)                   # (S,)
        self.last_frame = torch.from_numpy(np.concatenate(last_frames))  # (S,) episode's end
        self.embodiment = np.array([episodes[i].embodiment for i in self.episode_ids])  # (S,)
        if len(self.indices) == 0:
            raise ValueError(f'no window fits: every episode has <= frame_gap={frame_gap} frames')

    @classmethod
    def for_model(cls, config: WindowConfig, episodes: Sequence[Episode],
                  target_field: TargetField = 'actions',
                  labelled_episodes: Sequence[int] | None = None,
                  jitter: int = 0) -> FrameWindows:
        """The windows a model with ``config`` takes: its frame gap, context and input size."""
        return cls(episodes, config.frame_gap, config.context_frames, target_field,
                   labelled_episodes, image_size=config.image_size, jitter=jitter)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labelled_rows(self) -> torch.Tensor:
        """Indices of the rows whose target may be used (``has_action``)."""
        return self.has_target.nonzero().squeeze(1)

    def batch(self, rows: torch.Tensor | np.ndarray, device: str | torch.device = 'cpu',
              rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        """Samples ``rows`` as a training batch (see lam_models.latent.base), on ``device``.

        ``rng`` draws the jitter offsets (a fresh generator if None), so a seeded
        caller gets the same batch again.
        """
        rows = torch.as_tensor(rows, dtype=torch.long)
        window = self.frames[self.indices[rows]].to(device)
        batch = {
            'window': window.float().div_(255.0),
            'action': self.targets[rows].to(device),
            'has_action': self.has_target[rows].to(device),
        }
        if self.jitter > 0:
            jittered = self.jittered_indices(rows, rng or np.random.default_rng())
            batch['jittered'] = self.frames[jittered].to(device).float().div_(255.0)
        return batch

    def jittered_indices(self, rows: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Frame index t+gap+d per row, 0 < |d| <= jitter, inside the episode and after o_t.

        d has a random size and sign; where that lands outside (t, end] the sign
        flips, then d = +-1 is tried, and where nothing fits o_{t+gap} itself is used.
        """
        o_t, target = self.indices[rows, -2], self.indices[rows, -1]
        size = torch.from_numpy(rng.integers(1, self.jitter + 1, len(rows)))
        sign = torch.from_numpy(rng.choice([-1, 1], len(rows)))
        last = self.last_frame[rows]
        result = target.clone()
        for offset in (sign * size, -sign * size, sign, -sign):
            candidate = target + offset
            fits = (candidate > o_t) & (candidate <= last) & (result == target)
            result = torch.where(fits, candidate, result)
        return result

    def labelled_batch(self, count: int, rng: np.random.Generator,
                       device: str | torch.device = 'cpu') -> dict[str, torch.Tensor]:
        """``count`` labelled rows drawn with ``rng``: ``labelled_window``, ``labelled_action``.

        Only rows with an action (robot episodes chosen as labelled); empty when none exist.
        """
        labelled = self.labelled_rows
        if count <= 0 or len(labelled) == 0:
            return {}
        rows = labelled[torch.from_numpy(rng.integers(0, len(labelled), count))]
        return {'labelled_window': self.frames[self.indices[rows]].to(device).float().div_(255.0),
                'labelled_action': self.targets[rows].to(device)}

    def normalization_stats(self) -> dict[str, torch.Tensor]:
        """Per-channel image mean/std and action mean/std (labelled rows) for the model buffers."""
        sample = self.frames[:: max(1, len(self.frames) // 2000)].float().div(255.0)
        stats = {
            'image_mean': sample.mean(dim=(0, 2, 3)),
            'image_std': sample.std(dim=(0, 2, 3)).clamp(min=1e-3),
        }
        labelled = self.targets[self.has_target]
        if len(labelled) > 1:
            stats['action_mean'] = labelled.mean(0)
            stats['action_std'] = labelled.std(0).clamp(min=1e-6)
        return stats
