# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The in-memory episode every part of lam_models consumes.

Bags (robot or human recordings) and the simulator both end up as an
``Episode``; models, metrics and training never see a rosbag or a MuJoCo
object directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Embodiment = Literal['robot', 'human']
EMBODIMENTS: tuple[Embodiment, ...] = ('robot', 'human')
# ee_delta actions (the simulator's, BridgeData's) are [dx, dy, dz, droll, dpitch, dyaw,
# gripper], the gripper 0 (closed) .. 1 (open), open above the middle as the arm node reads
# it (GRIPPER_OPEN_ABOVE in lam_ros.control.kinematics, which lam_models does not import).
EE_DELTA = 'ee_delta'                 # what such an episode's action_space starts with
GRIPPER_OPEN_ABOVE = 0.5
WAYPOINTS = 2                         # look-first targets per frame: the next grasp, release
# Episode.metadata key: which action columns are real (a list of bools, one per column; all
# when absent). Human actions decoded from pseudo-actions carry only the axes that are
# measured to transfer from the hand to the gripper; the others train nothing.
ACTION_COLUMNS = 'action_columns'
# Episode.metadata key: where a video's effector grasps and releases, read off its frames
# (lam_models.data.look_targets): WAYPOINTS entries, each [x, y, z] m in the robot's base
# frame or None (not seen). An episode without waypoints of its own looks at these.
LOOK_TARGETS = 'look_targets'
# Episode.metadata key: True where the frames were filmed with the simulator's avatar for the
# effector (WidowXEnv(avatar=True)): another camera than a real arm's or hand's.
AVATAR = 'avatar'


def gripper_events(actions: np.ndarray) -> np.ndarray:
    """Steps whose gripper command (the last column) is on the other side of open/closed.

    The grasp and the release of a demo: where its waypoints and look targets point.
    """
    opened = actions[:, -1] > GRIPPER_OPEN_ABOVE
    return np.flatnonzero(opened[1:] != opened[:-1]) + 1


@dataclass
class Episode:
    """One demonstration, time-aligned on the camera frames.

    ``frames[t]`` is the camera image at ``timestamps[t]``. For robot
    episodes ``actions[t]`` is the command issued after seeing frame t; for
    human episodes ``actions`` is None (training code never sees the
    demonstrator's motion) and ``hidden_motion`` may hold the simulator's
    ground truth, only for probing metrics. ``effector_positions[t]`` is where the gripper's
    (or the hand's) fingertip centre is at frame t, in the robot's base frame: what the arm
    did, where summed ee-delta commands say what it was told (the arm lags a fast reach by
    up to a quarter). Simulated episodes have it for both embodiments, a human's as ground
    truth like ``hidden_motion``: training reads it only where an episode has actions.
    """

    frames: np.ndarray                      # (T, H, W, 3) uint8, RGB
    timestamps: np.ndarray                  # (T,) float64 seconds
    embodiment: Embodiment = 'robot'
    actions: np.ndarray | None = None       # (T, A) float32
    joint_positions: np.ndarray | None = None  # (T, J) float32
    hidden_motion: np.ndarray | None = None    # (T, A) float32, human only
    effector_positions: np.ndarray | None = None   # (T, 3) float32 m, base frame
    pseudo_actions: np.ndarray | None = None   # (T, Z) float32, from a latent model
    task: str = ''
    instruction: str = ''
    success: bool | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f'Episode.frames must be (T, H, W, 3) uint8, got {self.frames.shape} '
                f'{self.frames.dtype}')
        n = len(self.frames)
        for name in ('timestamps', 'actions', 'joint_positions', 'hidden_motion',
                     'effector_positions', 'pseudo_actions'):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f'Episode.{name} has {len(value)} rows, frames have {n}')

    def __len__(self) -> int:
        return len(self.frames)
