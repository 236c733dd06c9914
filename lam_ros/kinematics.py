# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Product-of-exponentials kinematics of the Interbotix arms, as Interbotix computes them.

M (home pose of ``ee_gripper_link``) and the space-frame screw axes are those
of ``interbotix_xs_modules``' ``mr_descriptions.py``; forward and inverse
kinematics use the ``modern_robotics`` library, like the Interbotix Python API.
"""
from __future__ import annotations

from dataclasses import dataclass

import modern_robotics as mr
import numpy as np


@dataclass(frozen=True)
class ArmDescription:
    """Screw-axis description of one arm model."""

    model: str
    joint_names: tuple[str, ...]
    M: np.ndarray          # (4, 4) home pose of ee_gripper_link in base_link
    Slist: np.ndarray      # (6, n) space-frame screw axes
    sleep_positions: tuple[float, ...]


_WX250_ARM = ('waist', 'shoulder', 'elbow', 'wrist_angle', 'wrist_rotate')
ARMS: dict[str, ArmDescription] = {
    'wx250s': ArmDescription(
        'wx250s',
        ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate'),
        np.array([[1.0, 0.0, 0.0, 0.458325], [0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.36065], [0.0, 0.0, 0.0, 1.0]]),
        np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
                  [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0],
                  [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
                  [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0]]).T,
        (0.0, -1.80, 1.55, 0.0, 0.8, 0.0)),
    'wx250': ArmDescription(
        'wx250', _WX250_ARM,
        np.array([[1.0, 0.0, 0.0, 0.458325], [0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.36065], [0.0, 0.0, 0.0, 1.0]]),
        np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
                  [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
                  [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0]]).T,
        (0.0, -1.80, 1.55, 0.8, 0.0)),
    'wx200': ArmDescription(
        'wx200', _WX250_ARM,
        np.array([[1.0, 0.0, 0.0, 0.408575], [0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.31065], [0.0, 0.0, 0.0, 1.0]]),
        np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                  [0.0, 1.0, 0.0, -0.31065, 0.0, 0.05],
                  [0.0, 1.0, 0.0, -0.31065, 0.0, 0.25],
                  [1.0, 0.0, 0.0, 0.0, 0.31065, 0.0]]).T,
        (0.0, -1.88, 1.5, 0.8, 0.0)),
}


def arm_description(model: str) -> ArmDescription:
    """The description of ``model``, or a ValueError naming the supported ones."""
    if model not in ARMS:
        raise ValueError(f'unknown robot_model {model!r} (supported: {sorted(ARMS)})')
    return ARMS[model]


def forward_kinematics(model: str, joint_positions) -> np.ndarray:
    """Pose (4x4) of ee_gripper_link in base_link for arm joint positions."""
    arm = arm_description(model)
    return mr.FKinSpace(arm.M, arm.Slist, np.asarray(joint_positions, dtype=np.float64))


def inverse_kinematics(model: str, target_pose: np.ndarray, initial_guess,
                       tolerance_rad: float = 1e-3, tolerance_m: float = 1e-4
                       ) -> tuple[np.ndarray, bool]:
    """Joint positions reaching ``target_pose`` from ``initial_guess`` (Newton on the PoE)."""
    arm = arm_description(model)
    solution, success = mr.IKinSpace(arm.Slist, arm.M, np.asarray(target_pose, dtype=np.float64),
                                     np.asarray(initial_guess, dtype=np.float64),
                                     tolerance_rad, tolerance_m)
    return np.asarray(solution, dtype=np.float64), bool(success)
