# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The two action spaces of real WidowX stacks, applied to a :class:`WidowXSim`.

* ``ee_delta`` (BridgeData): ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``; the delta moves
  the *measured* end-effector pose (rotation as Rz(dyaw) Ry(dpitch) Rx(droll), world frame),
  the result is clipped to the robot's workspace box (the one the arm's safety filter
  enforces, ``RobotSpec.workspace``) and solved with Interbotix' IKinSpace.
* ``joint`` (ALOHA): absolute joint targets of the arm joints, then the gripper.

The gripper is 0 = closed .. 1 = open in both. NaN or wrongly shaped actions raise; values
outside the bounds are clipped with a warning, so a bad policy never crashes the sim.
"""
from __future__ import annotations

import logging
from typing import Literal
import warnings

import numpy as np

from lam_ros.control.kinematics import (
    EE_DELTA_HIGH,
    EE_DELTA_LOW,
    FINGER_CLOSED,
    FINGER_OPEN,
    ee_delta_ik,
)
from lam_ros.sim.core import WidowXSim

ActionMode = Literal['ee_delta', 'joint']
_log = logging.getLogger(__name__)


class ActionOutOfRange(UserWarning):
    """An action component was outside its bounds and has been clipped."""


def check_action(action, low: np.ndarray, high: np.ndarray, mode: str) -> np.ndarray:
    """Validate shape and finiteness (ValueError), then clip to [low, high] (with a warning)."""
    array = np.asarray(action, dtype=np.float64)
    if array.shape != low.shape:
        raise ValueError(f'{mode} action must have shape {low.shape}, got {array.shape}')
    if not np.all(np.isfinite(array)):
        raise ValueError(f'{mode} action contains NaN/inf: {array.tolist()}')
    clipped = np.clip(array, low, high)
    if np.any(clipped != array):
        bad = np.flatnonzero(clipped != array).tolist()
        warnings.warn(f'{mode} action components {bad} out of range, clipped: '
                      f'{array[bad].round(4).tolist()} -> {clipped[bad].round(4).tolist()}',
                      ActionOutOfRange, stacklevel=3)
    return clipped


def gripper_to_finger(opening: float) -> float:
    """Gripper command in [0, 1] -> left_finger position (m)."""
    return FINGER_CLOSED + float(opening) * (FINGER_OPEN - FINGER_CLOSED)


def joint_action_bounds(sim: WidowXSim) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the ``joint`` action: arm joint limits, then gripper [0, 1]."""
    low = [sim.joint_limits[j].lower for j in sim.arm_joint_names] + [0.0]
    high = [sim.joint_limits[j].upper for j in sim.arm_joint_names] + [1.0]
    return np.array(low), np.array(high)


def apply_joint_action(sim: WidowXSim, action) -> np.ndarray:
    """Set absolute joint targets; returns the action actually executed (after clipping)."""
    low, high = joint_action_bounds(sim)
    action = check_action(action, low, high, 'joint')
    sim.set_joint_targets(np.append(action[:-1], gripper_to_finger(action[-1])))
    return action


def ee_delta_joint_targets(sim: WidowXSim, action) -> tuple[np.ndarray, float]:
    """Arm joint targets and gripper opening that execute an ee-delta action through IK.

    Holds the current targets when IK does not converge. Used by ``apply_ee_delta_action``
    and by the sim node, which publishes the targets instead of applying them.
    """
    action = check_action(action, EE_DELTA_LOW, EE_DELTA_HIGH, 'ee_delta')
    q_guess = sim.joint_positions()[:len(sim.arm_joint_names)]
    q, converged = ee_delta_ik(sim.spec, sim.ee_pose(), q_guess, action)
    if not converged:
        _log.debug('IK did not converge for %s; holding the arm', action[:3].round(3))
        q = sim.joint_targets()[:-1]
    return q, float(action[-1])


def apply_ee_delta_action(sim: WidowXSim, action) -> np.ndarray:
    """Move the end effector by a delta through IK; returns the executed (clipped) action."""
    action = check_action(action, EE_DELTA_LOW, EE_DELTA_HIGH, 'ee_delta')
    q, gripper = ee_delta_joint_targets(sim, action)
    sim.set_joint_targets(np.append(q, gripper_to_finger(gripper)))
    return action


def apply_action(sim: WidowXSim, action, mode: ActionMode) -> np.ndarray:
    """Dispatch to the ``ee_delta`` or ``joint`` action space."""
    if mode == 'ee_delta':
        return apply_ee_delta_action(sim, action)
    if mode == 'joint':
        return apply_joint_action(sim, action)
    raise ValueError(f"action mode {mode!r}: expected 'ee_delta' or 'joint'")


def apply_hand_motion(sim: WidowXSim, motion) -> np.ndarray:
    """Move the human hand by ``[dx, dy, dz, 0, 0, dyaw, grip]``; returns the executed motion.

    The hand has no roll/pitch, so those components are zeroed in what is returned.
    """
    motion = check_action(motion, EE_DELTA_LOW, EE_DELTA_HIGH, 'hand')
    tcp, yaw, _ = sim.hand_pose()
    target = sim.spec.workspace.clip(tcp + motion[:3])
    sim.set_hand(target, yaw + motion[5], motion[6])
    motion[3:5] = 0.0
    return motion
