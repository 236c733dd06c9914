# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Teleoperation cores: end-effector jogging (keyboard, joystick, SpaceMouse) and leader arms.

Plain Python, driven by the teleop node and by tests. Every device ends up as
arm joint targets plus a gripper opening in [0, 1], the content of
``/lam/action``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lam_ros.control.kinematics import Workspace, robot_spec, rpy_matrix, solve_ik


class EndEffectorJog:
    """Turns ``[dx, dy, dz, droll, dpitch, dyaw]`` jogs into joint targets through IK.

    The commanded pose is integrated from the jogs, not re-read from the arm, so
    small IK errors do not accumulate into drift; it stays in the workspace box,
    and a jog IK cannot reach is dropped and the previous target kept.
    """

    def __init__(self, robot_model: str, joint_positions,
                 workspace: Workspace | None = None) -> None:
        self.spec = robot_spec(robot_model)
        self.workspace = workspace or self.spec.workspace   # the arm node's (it may shrink it)
        self.joints = np.asarray(joint_positions, dtype=np.float64).copy()
        if len(self.joints) != len(self.spec.joints):
            raise ValueError(f'{robot_model} has {len(self.spec.joints)} arm joints, '
                             f'got {len(self.joints)} positions')
        self.pose = self.spec.fk(self.joints)

    def jog(self, delta: np.ndarray) -> tuple[np.ndarray, bool]:
        """Apply a base-frame translation and rotation delta; return (joint targets, reached)."""
        delta = np.asarray(delta, dtype=np.float64)
        if delta.shape != (6,) or not np.all(np.isfinite(delta)):
            raise ValueError(f'jog must be 6 finite numbers [dx dy dz droll dpitch dyaw], '
                             f'got {delta!r}')
        pose = self.pose.copy()
        # inside the box (the arm node refuses a target past it, and jogging back
        # would first undo the overshoot), or no further out than the arm already is
        box, here = self.workspace, pose[:3, 3]
        pose[:3, 3] = np.clip(here + delta[:3], np.minimum(box.low, here),
                              np.maximum(box.high, here))
        pose[:3, :3] = rpy_matrix(*delta[3:]) @ pose[:3, :3]
        joints, reached = solve_ik(self.spec, pose, self.joints)
        if reached:
            self.pose, self.joints = pose, joints
        return self.joints.copy(), reached


@dataclass
class LeaderFollower:
    """ALOHA-style leader arm: the follower copies the leader's joints.

    Refuses to start while the two arms differ by more than
    ``max_start_error_rad`` in any joint (the follower would jump), then ramps
    from the follower's pose to the leader's over ``ramp_s`` seconds.
    """

    max_start_error_rad: float = 0.3
    ramp_s: float = 2.0
    _engaged_at: float | None = None
    _start: np.ndarray | None = None

    @property
    def engaged(self) -> bool:
        """True once the start guard has passed."""
        return self._engaged_at is not None

    def target(self, leader: np.ndarray, follower: np.ndarray, now_s: float
               ) -> tuple[np.ndarray | None, str]:
        """Joint targets for the follower (None: do not move) and a status line."""
        leader, follower = np.asarray(leader, float), np.asarray(follower, float)
        if leader.shape != follower.shape:
            raise ValueError(f'leader has {leader.shape} joints, follower {follower.shape}')
        if self._engaged_at is None:
            error = np.max(np.abs(leader - follower))
            if error > self.max_start_error_rad:
                return None, (f'leader and follower differ by {error:.2f} rad '
                              f'(> {self.max_start_error_rad}): move the leader to the follower')
            self._engaged_at, self._start = now_s, follower.copy()
        blend = min(1.0, (now_s - self._engaged_at) / self.ramp_s) if self.ramp_s > 0 else 1.0
        return self._start + blend * (leader - self._start), 'ramping' if blend < 1 else 'following'

    def disengage(self) -> None:
        """Back to the guarded state (e.g. after an e-stop)."""
        self._engaged_at, self._start = None, None


def gripper_opening(position_rad: float, closed_rad: float, open_rad: float) -> float:
    """A leader's gripper joint angle (rad, as xs_sdk reports it) as a 0 closed .. 1 open command.

    The arm node and the datasets read that command; clipped to [0, 1]. The two angles are
    the leader's own, measured with its handle shut and open (ALOHA 1's leaders: -0.68 and
    0.31 rad; ALOHA 2's: -1.65 and -0.8).
    """
    if closed_rad == open_rad:
        raise ValueError(f'gripper closed and open angles are both {open_rad} rad')
    return float(np.clip((position_rad - closed_rad) / (open_rad - closed_rad), 0.0, 1.0))
