# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A latent -> robot action decoder fit afterwards, on the robot demos' own latents and actions.

CLAM trains its action decoder jointly with the latent (``decode_action``); any other latent
model gets one here, fit on the frozen latents of labelled robot episodes. Applied to a human
video's latents (``lam_models.latent.labeling.decoded_episode``) it turns pseudo-actions
into robot actions, which train a policy's action head as a robot demo's do.

Inputs go through the metrics' ``FeatureScaler`` (standardized on the robot latents and
clipped to their range), so another embodiment's or region's latents cannot make an action
explode; outputs are the actions' own units. Whether a decoded axis means the same motion
for the hand as for the gripper is measured, not assumed: ``decoded_agreement`` scores it
per axis against robot episodes the decoder did not see and against the human's hidden
motion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from typing_extensions import override

from lam_models.data.episode import WAYPOINTS, Episode, gripper_events
from lam_models.data.task_priors import TaskPriors
from lam_models.data.windows import WindowShape, waypoint_targets
from lam_models.latent.base import LatentActionModel
from lam_models.latent.labeling import decoded_episode, label_frames, model_device
from lam_models.latent.metrics import FeatureScaler, normalized_mse, single_thread

FIRST_FRAMES = WindowShape.obs_horizon   # a policy's first observation window
FAR_M = 0.05   # m: a waypoint this far off points at another place than the true one
OFF_STEPS = 5   # a decoded gripper change this many steps from the true one, or more, is off


def true_motion(episode: Episode) -> np.ndarray:
    """What a decoder is scored against: a robot's actions, else a human's hidden motion."""
    motion = episode.actions if episode.actions is not None else episode.hidden_motion
    if motion is None:
        raise ValueError(f'a {episode.embodiment} episode ({episode.task!r}) has neither '
                         'actions nor hidden motion to decode against')
    return np.asarray(motion, np.float32)


def latents_and_actions(model: LatentActionModel, episodes: Sequence[Episode]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Valid latents (S, z) and the true motion (S, A) at their rows (``true_motion``).

    Row t's latent is z(o_t, o_{t+n}) and its action a_t, as a policy is trained on them.
    """
    latents, actions = [], []
    for episode in episodes:
        target = true_motion(episode)
        values, valid = label_frames(model, episode.frames)
        latents.append(values[valid])
        actions.append(target[valid])
    return np.concatenate(latents), np.concatenate(actions)


class ActionDecoder(nn.Module):
    """z -> action: an MLP on scaled latents, trained on z-scored actions."""

    def __init__(self, scaler: FeatureScaler, action_mean: np.ndarray, action_std: np.ndarray,
                 hidden: int = 256) -> None:
        super().__init__()
        self.scaler = scaler
        inputs = int(scaler.keep.sum()) or 1
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, len(action_mean)))
        self.register_buffer('action_mean', torch.as_tensor(action_mean, dtype=torch.float32))
        self.register_buffer('action_std', torch.as_tensor(action_std, dtype=torch.float32))

    @override
    def forward(self, scaled: torch.Tensor) -> torch.Tensor:
        return self.net(scaled)

    @torch.no_grad()
    def decode_action(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, z) -> actions (B, A) in the dataset's units, as ``decoded_episode`` asks."""
        scaled = torch.from_numpy(self.scaler(z.detach().cpu().double().numpy())).float()
        scaled = scaled.to(self.action_mean.device)
        with single_thread():
            return (self(scaled) * self.action_std + self.action_mean).to(z.device)


def fit_action_decoder(model: LatentActionModel, robot: Sequence[Episode], steps: int = 3000,
                       batch_size: int = 256, seed: int = 0) -> ActionDecoder:
    """An ``ActionDecoder`` for ``model``'s latents, fit on the robot demos ``robot`` (MSE)."""
    if not robot or any(episode.actions is None for episode in robot):
        raise ValueError('fit_action_decoder: needs robot episodes with actions')
    latents, actions = latents_and_actions(model, robot)
    if not len(latents):
        raise ValueError(f'fit_action_decoder: no robot episode is longer than the latent '
                         f"model's gap (frame_gap={model.config.frame_gap}): no latent to fit")
    scaler = FeatureScaler.fit(latents.astype(np.float64))
    mean, std = actions.mean(0), np.maximum(actions.std(0), 1e-6)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = ActionDecoder(scaler, mean, std)
    x = torch.from_numpy(scaler(latents.astype(np.float64))).float()
    y = torch.from_numpy((actions - mean) / std).float()
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=1e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(seed)
    with single_thread():
        for _ in range(steps):
            rows = torch.randint(0, len(x), (batch_size,), generator=generator)
            loss = nn.functional.mse_loss(decoder(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return decoder.eval()


@dataclass
class DecodedAgreement:
    """Per action axis: R^2 of decoded against true actions, and the slope of decoded on true."""

    r2: np.ndarray      # (A,), nan where the true axis does not move
    slope: np.ndarray   # (A,), 1 = the decoded motion is as large as the true one

    def row(self, axes: Sequence[str]) -> str:
        """'x 0.13 (0.55)  y 0.84 (0.81) ...': R^2 and, in brackets, the slope per axis."""
        return '  '.join(f'{axis} {r2:5.2f} ({slope:4.2f})'
                         for axis, r2, slope in zip(axes, self.r2, self.slope))


def decoded_agreement(model: LatentActionModel, episodes: Sequence[Episode], decoder=None
                      ) -> DecodedAgreement:
    """How well ``decoder`` (by default the model's own) reads ``episodes``' true motion."""
    latents, actions = latents_and_actions(model, episodes)
    with torch.inference_mode():
        decoded = (decoder if decoder is not None else model).decode_action(
            torch.from_numpy(latents).to(model_device(model))).float().cpu().numpy()
    variance = actions.var(0)
    covariance = ((decoded - decoded.mean(0)) * (actions - actions.mean(0))).mean(0)
    return DecodedAgreement(r2=1 - normalized_mse(decoded, actions),
                            slope=np.where(variance > 1e-10,
                                           covariance / np.maximum(variance, 1e-10), np.nan))


@dataclass
class WaypointError:
    """How far waypoints summed from decoded actions are from the true ones: medians (m).

    Per waypoint (``WAYPOINTS``): the next gripper event's (where the effector will grasp,
    until it does, then where it will release), and the one after it. What ``--decoded-look``
    rows teach, scored before a policy trains on them: on every frame, and on the first ones
    (where the whole reach to the event is summed), each beside a guess that ignores the
    video (the true waypoints' mean over the same frames). A median hides the frames whose
    event is the wrong one (a grasp decoded 10 steps early): ``far_every_frame`` counts them,
    and ``changes_off`` the videos whose decoded gripper change is that far off in time.
    """

    every_frame: np.ndarray          # (WAYPOINTS,)
    first_frames: np.ndarray
    guess_every_frame: np.ndarray
    guess_first_frames: np.ndarray
    far_every_frame: np.ndarray      # (WAYPOINTS,) share of frames more than FAR_M off
    guess_far_every_frame: np.ndarray
    changes_off: np.ndarray          # (WAYPOINTS,) share of episodes: change k OFF_STEPS off

    def row(self) -> str:
        """One line, the waypoints side by side (next event / the one after)."""
        def cm(values: np.ndarray) -> str:
            return ' / '.join(f'{100 * value:.1f}' for value in values)

        def percent(values: np.ndarray) -> str:
            return ' / '.join(f'{100 * value:.0f}' for value in values)
        return (f'waypoints (next event / the one after) {cm(self.every_frame)} cm median on '
                f'every frame (a guess from no video: {cm(self.guess_every_frame)}), '
                f'{cm(self.first_frames)} cm on the first {FIRST_FRAMES} (the guess: '
                f'{cm(self.guess_first_frames)}), more than {100 * FAR_M:.0f} cm off on '
                f'{percent(self.far_every_frame)}% of frames (the guess: '
                f"{percent(self.guess_far_every_frame)}%); the grip's changes {OFF_STEPS} "
                f'steps off or more in {percent(self.changes_off)}% of videos')


def _changes_off(truth: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """(WAYPOINTS,) bool: the decoded gripper change k is OFF_STEPS or more from the true one.

    A change only one of them has is off; one neither has is not.
    """
    def first(actions: np.ndarray) -> np.ndarray:
        events = gripper_events(actions)[:WAYPOINTS].astype(np.float64)
        return np.r_[events, np.full(WAYPOINTS - len(events), np.nan)]
    true, found = first(truth), first(decoded)
    near = np.abs(found - true) < OFF_STEPS
    return ~near & ~(np.isnan(true) & np.isnan(found))


def decoded_waypoint_error(model: LatentActionModel, episodes: Sequence[Episode], decoder=None,
                           priors: Mapping[str, TaskPriors] | None = None) -> WaypointError:
    """How far the waypoints of ``episodes`` decoded in full are from their true ones.

    The truth is each episode's own effector path and gripper events (a human's hidden
    motion); the decoded waypoints are summed from the decoded translation, at the decoded
    grip's events (held to the task's ``priors`` as ``decoded_episode`` holds them), as
    ``PolicyWindows`` sums them for a decoded row.
    """
    truths, decoded, changes_off = [], [], []
    for episode in episodes:
        motion = true_motion(episode)
        if episode.effector_positions is None:
            raise ValueError(f'a {episode.embodiment} episode ({episode.task!r}) has no true '
                             'motion and effector path to score waypoints against')
        actions = decoded_episode(model, episode, [True] * motion.shape[1], decoder,
                                  priors).actions
        truths.append(waypoint_targets(motion, episode.effector_positions))
        decoded.append(waypoint_targets(actions))
        changes_off.append(_changes_off(motion, actions))
    first_truths = np.concatenate([truth[:FIRST_FRAMES] for truth in truths])
    first_decoded = np.concatenate([waypoints[:FIRST_FRAMES] for waypoints in decoded])
    truths, decoded = np.concatenate(truths), np.concatenate(decoded)

    def median_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:   # per waypoint
        return np.median(np.linalg.norm(a - b, axis=-1), axis=0)

    def far(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.linalg.norm(a - b, axis=-1) > FAR_M).mean(0)

    return WaypointError(
        every_frame=median_distance(decoded, truths),
        first_frames=median_distance(first_decoded, first_truths),
        guess_every_frame=median_distance(truths.mean(0), truths),
        guess_first_frames=median_distance(first_truths.mean(0), first_truths),
        far_every_frame=far(decoded, truths), guess_far_every_frame=far(truths.mean(0), truths),
        changes_off=np.mean(changes_off, 0))
