# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Labelling with a trained latent model: frames in, pseudo-actions and a validity mask out.

Every caller computes a label from the same three pieces, so a label means the same
thing wherever it was computed: ``resize_frames`` (``lam_models.data.images``) to
``config.image_size``, ``window_indices`` (which frames form row t's window, context
clamped at the first frame) and ``encode_span`` (frames to the model's input and
latents). ``label_frames`` puts them together for a whole video: ``lam-ros label``
(``lam_models.latent.label_dataset``, which ``make demo`` runs too) calls it per
episode. The ``labeler`` node (``lam_ros.nodes.labeler_node``) uses the pieces
directly on a live stream, keeping only the frames a later window needs; a test
checks its labels equal ``label_frames``'. Row t is z(o_t, o_{t+n}); the last n
frames have no o_{t+n}, so their rows are zeros and marked invalid rather than a
repeated latent that a policy would learn as motion.
"""
from __future__ import annotations

from dataclasses import replace
import itertools
import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from lam_models.checkpoints import checkpoint_files
from lam_models.data.episode import ACTION_COLUMNS, LOOK_TARGETS, Episode
from lam_models.data.images import resize_frames
from lam_models.data.pairs import window_indices
from lam_models.data.task_priors import TaskPriors
from lam_models.latent.base import LatentActionModel

# Pairs per forward pass. Default CoMo at 64 px, one CPU thread: 16 -> 1240, 32 -> 1120,
# 64 -> 820, 128 -> 800, 512 -> 520 pairs per CPU-second: past ~32 pairs the IDM's
# (B, 256 tokens, 128) activations leave the cache. A GPU wants larger batches (--batch-size).
DEFAULT_BATCH_SIZE = 32


def checkpoint_sha256(path: str | Path) -> str:
    """A checkpoint's identity, recorded with its labels: the sidecar's ``weights_sha256``.

    Read after the checkpoint was loaded (``load_latent_model`` verifies the hash).
    """
    return str(json.loads(checkpoint_files(path)[1].read_text())['weights_sha256'])


def model_device(model: LatentActionModel) -> torch.device:
    """Where the model's weights live; labelling runs there (GPU when the model is on one).

    A baseline without weights (pixel difference) is placed by its buffers.
    """
    tensors = itertools.chain(model.parameters(), model.buffers())
    return next(tensors, torch.empty(0)).device


def encode_span(model: LatentActionModel, frames: torch.Tensor,
                indices: np.ndarray) -> torch.Tensor:
    """Latents (B, z_dim) of the windows ``frames[indices]``, frames (N, S, S, 3) uint8.

    The one conversion from stored frames to the model's input (channels first,
    [0, 1]), done once per frame. A model whose encoder works frame by frame
    defines ``encode_sequence(images, indices)`` (CoMo): in a video every frame is
    in two pairs, and encoding it once roughly doubles the labelling rate; others
    get ``encode_window`` of the gathered windows. The caller holds
    ``torch.inference_mode`` and has resized to ``config.image_size``.
    """
    images = frames.permute(0, 3, 1, 2).float().div_(255.0)
    rows = torch.from_numpy(indices).to(images.device)
    sequence = getattr(model, 'encode_sequence', None)
    return sequence(images, rows) if sequence is not None else model.encode_window(images[rows])


def label_frames(model: LatentActionModel, frames: np.ndarray,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8, any size -> (values (T, z_dim) float32, valid (T,) bool).

    Frames are resized with ``resize_frames`` to ``config.image_size`` and sent to
    the model's device once as uint8; windows are encoded ``batch_size`` at a time
    (each batch converts the span of frames it covers) in eval mode (the model's
    mode is restored after). Rows T-n .. T-1 (all rows when T <= n) are zeros with
    ``valid`` False.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    config = model.config
    frames = resize_frames(frames, config.image_size)
    pairs = max(len(frames) - config.frame_gap, 0)
    values = np.zeros((len(frames), config.z_dim), np.float32)
    valid = np.zeros(len(frames), bool)
    if pairs == 0:
        return values, valid
    video = torch.from_numpy(frames).to(model_device(model))
    indices = window_indices(np.arange(pairs), config.frame_gap, config.context_frames)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, pairs, batch_size):
                rows = indices[start:start + batch_size]
                first, last = rows.min(), rows.max()
                z = encode_span(model, video[first:last + 1], rows - first)
                values[start:start + len(rows)] = z.float().cpu().numpy()
    finally:
        model.train(was_training)
    valid[:pairs] = True
    return values, valid


def decoded_episode(model: LatentActionModel, episode: Episode, columns: Sequence[bool],
                    decoder=None, priors: Mapping[str, TaskPriors] | None = None) -> Episode:
    """``episode`` with actions decoded from its latents, only ``columns`` of them real.

    ``decoder`` maps latents to robot actions (``decode_action``): one fit on the robot demos'
    latents (``lam_models.latent.action_decoder``), or by default the model's own, grounded on
    robot actions as it trained (CLAM's). A human video's labels become robot actions, of
    which ``columns`` (``ACTION_COLUMNS``) are the axes measured to transfer from the hand
    (``bench/cotrain.py`` decodes y and z). The last ``frame_gap`` frames have no latent: they
    hold still, keeping the last grip. ``priors`` (per task, from its robot demos:
    ``task_priors``) hold the decoded grip and path to what every demo of the task does,
    and the path to the points where the video's object is grasped and released where its
    ``LOOK_TARGETS`` say (``TaskPriors.constrain``); without them the grip is the decoder's
    smear, which flickers, and the path drifts.
    """
    decode = getattr(decoder if decoder is not None else model, 'decode_action', None)
    if decode is None:
        raise ValueError(f'{model.name} has no action decoder: only a latent model trained '
                         f'with one (clam) decodes actions, others need a fitted decoder')
    values, valid = label_frames(model, episode.frames)
    if not valid.any():
        raise ValueError(f'an episode of {len(episode)} frames has no latent to decode '
                         f'(frame_gap={model.config.frame_gap})')
    with torch.inference_mode():
        actions = decode(torch.from_numpy(values).to(model_device(model))).float().cpu().numpy()
    if len(columns) != actions.shape[1]:
        raise ValueError(f'{len(columns)} action columns named, {model.name} decodes '
                         f'{actions.shape[1]}')
    if priors is not None:   # on the rows with a latent (a prefix), before the tail holds
        if episode.task not in priors:
            raise ValueError(f'decoded_episode: no task priors for {episode.task!r} (no robot '
                             f'demo of it says what its demos do), only {sorted(priors)}')
        actions[valid] = priors[episode.task].constrain(actions[valid],
                                                        episode.metadata.get(LOOK_TARGETS))
    actions[~valid, :-1] = 0.0
    actions[~valid, -1] = actions[np.flatnonzero(valid)[-1], -1]
    return replace(episode, actions=actions, hidden_motion=None, effector_positions=None,
                   metadata={**episode.metadata, ACTION_COLUMNS: [bool(c) for c in columns]})
